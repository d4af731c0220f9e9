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
// +kubebuilder:validation:XValidation:rule="has(self.users) != has(self.group)",message="set exactly one of users or group"
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
