package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BatchPhase is where a UserDisableBatch stands.
// +kubebuilder:validation:Enum=Pending;Running;Completed;CompletedWithErrors;Failed
type BatchPhase string

const (
	BatchPending             BatchPhase = "Pending"
	BatchRunning             BatchPhase = "Running"
	BatchCompleted           BatchPhase = "Completed"
	BatchCompletedWithErrors BatchPhase = "CompletedWithErrors"
	BatchFailed              BatchPhase = "Failed"
)

// UserOutcome is what happened to one user of a batch.
// +kubebuilder:validation:Enum=Pending;Disabled;AlreadyDisabled;NotFound;Protected;Managed;Failed;Queried;Enabled;AlreadyEnabled;Skipped
type UserOutcome string

const (
	OutcomePending         UserOutcome = "Pending"
	OutcomeDisabled        UserOutcome = "Disabled"
	OutcomeAlreadyDisabled UserOutcome = "AlreadyDisabled"
	OutcomeNotFound        UserOutcome = "NotFound"
	OutcomeProtected       UserOutcome = "Protected"
	OutcomeFailed          UserOutcome = "Failed"
	OutcomeQueried         UserOutcome = "Queried"
	// OutcomeManaged is a user a Full-policy DirectoryUser of the same
	// Directory manages: not written, since the DirectoryUser would revert
	// it (unless spec.disableManaged holds it disabled).
	OutcomeManaged UserOutcome = "Managed"
)

// HoldAnnotation on a DirectoryUser names the UserDisableBatch that disabled
// its account with spec.disableManaged: while it is set, the DirectoryUser
// keeps accountEnabled false whatever its spec says. Removing it releases
// the hold (the DirectoryUser then applies its spec again).
const HoldAnnotation = "entra.directory-operator.io/held-disabled-by"

// ConditionHeld on a DirectoryUser says a batch holds its account disabled.
const (
	ConditionHeld = "Held"
	ReasonHeld    = "HeldByBatch"
)

// Condition and event reasons of a finished batch.
const (
	ReasonCompleted           = "Completed"
	ReasonCompletedWithErrors = "CompletedWithErrors"
)

// BatchFinalizer keeps a batch until its writes stopped and its audit
// export is written.
const BatchFinalizer = "entra.directory-operator.io/batch-audit"

// DefaultExportRetention is how long an audit export is kept by default.
const DefaultExportRetention = 90 * 24 * time.Hour

// MaxBatchUsers bounds a batch (spec list or resolved group) so that its
// status stays well under etcd's object size limit.
const MaxBatchUsers = 5000

// BatchNotify mails a summary when the batch ends.
type BatchNotify struct {
	// From is the mailbox (UPN or object ID) the notice is sent from, with
	// Graph's sendMail (application permission Mail.Send).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	From string `json:"from"`
	// To are the recipients' addresses.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MinLength=3
	// +kubebuilder:validation:items:MaxLength=320
	// +listType=atomic
	To []string `json:"to"`
}

// NoticeState is where a batch's mail stands.
// +kubebuilder:validation:Enum=Sending;Sent;Failed
type NoticeState string

const (
	// NoticeSending is recorded before the send: a manager finding it
	// does not send again (the mail may already be out).
	NoticeSending NoticeState = "Sending"
	NoticeSent    NoticeState = "Sent"
	NoticeFailed  NoticeState = "Failed"
)

// BatchNotice records the batch's mail (spec.notify).
type BatchNotice struct {
	State NoticeState `json:"state"`
	// At is when the state was recorded.
	At metav1.Time `json:"at"`
	// Message says what was sent or why not.
	// +optional
	Message string `json:"message,omitempty"`
}

// ConditionNotified says whether the batch's notice (spec.notify) was
// mailed; a notice that could not be sent never fails the batch.
const (
	ConditionNotified     = "Notified"
	ReasonNoticeSent      = "Sent"
	ReasonNoticeFailed    = "SendFailed"
	ReasonMailboxNotFound = "MailboxNotFound"
	ReasonSendInterrupted = "SendInterrupted"
)

// BatchGroupSelector takes the batch's users from a group's members.
type BatchGroupSelector struct {
	GroupSelector `json:",inline"`
	// Transitive includes members of nested groups.
	// +optional
	Transitive bool `json:"transitive,omitempty"`
}

// UserDisableBatchSpec lists the accounts to disable (or only query).
// The spec is immutable: create a new batch to change it.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new UserDisableBatch instead of editing this one"
// +kubebuilder:validation:XValidation:rule="(has(self.users) ? 1 : 0) + (has(self.group) ? 1 : 0) + (has(self.filter) ? 1 : 0) + (has(self.inactiveFor) ? 1 : 0) == 1",message="set exactly one of users, group, filter or inactiveFor"
type UserDisableBatchSpec struct {
	// DirectoryRef names the Directory in this namespace.
	// +required
	DirectoryRef DirectoryReference `json:"directoryRef"`
	// Users are UPNs or object IDs, unique (compared case-insensitively; a
	// batch listing a user twice fails before any write).
	// The list is atomic rather than a set: a set records every entry again
	// in metadata.managedFields, which at 5,000 users costs ~170 KiB of the
	// object's 1 MiB.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5000
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +listType=atomic
	// +optional
	Users []string `json:"users,omitempty"`
	// Group whose user members are resolved once at start and frozen into status.
	// +optional
	Group *BatchGroupSelector `json:"group,omitempty"`
	// Filter selects the users with a Microsoft Graph $filter on /users,
	// resolved once at start and frozen into status, e.g.
	// "department eq 'Sales'" or "employeeLeaveDateTime le
	// 2026-12-01T00:00:00Z" (that property needs
	// User-LifeCycleInfo.Read.All). It is sent as an advanced query
	// (ConsistencyLevel: eventual, $count=true), so every operator Graph
	// supports on users works. A filter Graph rejects stalls the batch
	// (InvalidSpec, with Graph's error) before any write.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Filter string `json:"filter,omitempty"`
	// InactiveFor selects the users who have not signed in for this long
	// (e.g. 2160h for 90 days): whose signInActivity's last successful
	// sign-in (or last sign-in, when none succeeded) is older, and those who
	// never signed in whose account is older. Resolved once at start and
	// frozen into status. Needs AuditLog.Read.All (and a Microsoft Entra ID
	// P1/P2 tenant).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('24h')",message="inactiveFor must be at least 24h (e.g. 2160h for 90 days)"
	// +optional
	InactiveFor *metav1.Duration `json:"inactiveFor,omitempty"`
	// DryRun only queries jobTitle and accountEnabled; no writes.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// DisableManaged disables users that a Full-policy DirectoryUser of the
	// same Directory manages, too: each such DirectoryUser is annotated
	// (entra.directory-operator.io/held-disabled-by) before the write, and
	// holds the account disabled until the annotation is removed. Without
	// it, such users get the outcome Managed and are not written.
	// +optional
	DisableManaged bool `json:"disableManaged,omitempty"`
	// RevokeSessions revokes sign-in sessions of every disabled user.
	// +optional
	RevokeSessions bool `json:"revokeSessions,omitempty"`
	// ExportRetention is how long the audit export (ConfigMap
	// <name>-audit) is kept after the batch finished, also after the batch
	// itself is deleted. Default 90 days (2160h).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="exportRetention must be at least 1h"
	// +optional
	ExportRetention *metav1.Duration `json:"exportRetention,omitempty"`
	// Reason is recorded in events.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Reason string `json:"reason,omitempty"`
	// Notify mails a summary once the batch ends: counts in the subject, a
	// table of the rows needing attention, the audit CSV attached (or, when
	// larger than Graph's 3 MB, the command that reads the export). Exactly
	// one mail per batch; a failed send never fails the batch (condition
	// Notified says why).
	// +optional
	Notify *BatchNotify `json:"notify,omitempty"`
}

// BatchCounts sums the outcomes.
type BatchCounts struct {
	// Total is the number of users in the batch.
	Total int32 `json:"total"`
	// Disabled counts users this batch disabled.
	Disabled int32 `json:"disabled"`
	// AlreadyDisabled counts users that were disabled already.
	AlreadyDisabled int32 `json:"alreadyDisabled"`
	// NotFound counts users Graph does not know.
	NotFound int32 `json:"notFound"`
	// Protected counts users skipped because the Directory protects them.
	Protected int32 `json:"protected"`
	// Managed counts users a DirectoryUser manages (not written).
	// +optional
	Managed int32 `json:"managed"`
	// Failed counts users that could not be disabled (see their rows).
	Failed int32 `json:"failed"`
	// Queried counts users read by a dryRun batch.
	Queried int32 `json:"queried"`
	// Enabled counts users a UserEnableBatch enabled.
	// +optional
	Enabled int32 `json:"enabled"`
	// AlreadyEnabled counts users a UserEnableBatch found enabled already.
	// +optional
	AlreadyEnabled int32 `json:"alreadyEnabled"`
	// Skipped counts rows a UserEnableBatch leaves alone because its
	// source batch found them disabled already.
	// +optional
	Skipped int32 `json:"skipped"`
}

// BatchUserResult is one row per user, in spec order. To keep a 5,000-row
// status well under the object size limit, values implied by the outcome are
// left out: a Disabled row was enabled before and is disabled now, an
// AlreadyDisabled row was and is disabled.
type BatchUserResult struct {
	// User as given in spec (or resolved from the group).
	User string `json:"user"`
	// ID is the object ID.
	// +optional
	ID string `json:"id,omitempty"`
	// JobTitle is the live job title, read with the same GET as the state
	// (so every run answers the batch query of jobTitle and enabled state).
	// Titles over 32 characters are cut (ending in …) so that 5,000 rows
	// stay within the API server's object size limit.
	// +optional
	JobTitle string `json:"jobTitle,omitempty"`
	// AccountEnabledBefore is the state read before any write (omitted when
	// implied by the outcome). On a Pending row it records that the user was
	// read and is due to be written (disabled, or enabled by a
	// UserEnableBatch).
	// +optional
	AccountEnabledBefore *bool `json:"accountEnabledBefore,omitempty"`
	// AccountEnabled is the state now (omitted when implied by the outcome).
	// +optional
	AccountEnabled *bool `json:"accountEnabled,omitempty"`
	// SessionsRevoked is set on Disabled rows when spec.revokeSessions asked
	// for it: true once the sign-in sessions were revoked.
	// +optional
	SessionsRevoked *bool `json:"sessionsRevoked,omitempty"`
	// SelectedBy is the value that selected the user (filter and
	// inactiveFor batches): the filter's properties, or the last sign-in.
	// +optional
	SelectedBy string `json:"selectedBy,omitempty"`
	// Outcome for this user.
	Outcome UserOutcome `json:"outcome"`
	// Message explains a failure (Graph error code and message).
	// +optional
	Message string `json:"message,omitempty"`
}

// UserDisableBatchStatus reports progress; it is the checkpoint a restarted manager resumes from.
type UserDisableBatchStatus struct {
	CommonStatus `json:",inline"`
	// +optional
	Phase BatchPhase `json:"phase,omitempty"`
	// Counts sums the rows' outcomes (all fields present once set, so the
	// printer columns read 0, not blank).
	// +optional
	Counts *BatchCounts `json:"counts,omitempty"`
	// Users has one row per user in spec order. While a batch of listed
	// users runs, the users it has not read yet have no row yet
	// (counts.total includes them).
	// +optional
	Users []BatchUserResult `json:"users,omitempty"`
	// GroupID the batch's users were resolved from.
	// +optional
	GroupID string `json:"groupId,omitempty"`
	// InactiveBefore is the sign-in cutoff an inactiveFor batch resolved
	// its users with (start time minus inactiveFor).
	// +optional
	InactiveBefore *metav1.Time `json:"inactiveBefore,omitempty"`
	// StartedAt is when the batch began.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// CompletedAt is when the batch reached a final phase.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// GraphRequests counts HTTP requests sent to Graph for this batch.
	// +optional
	GraphRequests int64 `json:"graphRequests,omitempty"`
	// Export is the audit CSV (one line per user), written when the batch
	// finishes or is deleted; it outlives the batch until exportRetention.
	// +optional
	Export *ExportStatus `json:"export,omitempty"`
	// Notice records the mail of spec.notify.
	// +optional
	Notice *BatchNotice `json:"notice,omitempty"`
}

// UserDisableBatch disables (or queries) many accounts in one apply.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=udb,categories=entra
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Total",type=integer,JSONPath=`.status.counts.total`
// +kubebuilder:printcolumn:name="Disabled",type=integer,JSONPath=`.status.counts.disabled`
// +kubebuilder:printcolumn:name="NotFound",type=integer,JSONPath=`.status.counts.notFound`
// +kubebuilder:printcolumn:name="Protected",type=integer,JSONPath=`.status.counts.protected`
// +kubebuilder:printcolumn:name="Managed",type=integer,JSONPath=`.status.counts.managed`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.counts.failed`
// +kubebuilder:printcolumn:name="DryRun",type=boolean,JSONPath=`.spec.dryRun`,priority=1
// +kubebuilder:printcolumn:name="Export",type=string,JSONPath=`.status.export.configMaps[0]`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type UserDisableBatch struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   UserDisableBatchSpec   `json:"spec,omitempty"`
	Status UserDisableBatchStatus `json:"status,omitempty"`
}

// UserDisableBatchList is a list of UserDisableBatch.
// +kubebuilder:object:root=true
type UserDisableBatchList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UserDisableBatch `json:"items"`
}

func init() {
	SchemeBuilder.Register(&UserDisableBatch{}, &UserDisableBatchList{})
}
