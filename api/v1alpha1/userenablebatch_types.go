package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Outcomes of a UserEnableBatch's rows (besides NotFound, Protected,
// Managed, Failed and Queried, which mean what they mean for a
// UserDisableBatch).
const (
	// OutcomeEnabled is a user this batch enabled.
	OutcomeEnabled UserOutcome = "Enabled"
	// OutcomeAlreadyEnabled is a user found enabled already.
	OutcomeAlreadyEnabled UserOutcome = "AlreadyEnabled"
	// OutcomeSkipped is a user the source batch found disabled already
	// (AlreadyDisabled): an undo leaves it disabled and never reads it.
	OutcomeSkipped UserOutcome = "Skipped"
)

// Reasons of a UserEnableBatch waiting for or missing its source batch.
const (
	ReasonSourceNotComplete = "SourceNotComplete"
	ReasonSourceNotFound    = "SourceNotFound"
)

// AnnotationBatch on an audit export names the batch that wrote it
// (Kind/name): an undo reads only a UserDisableBatch's export, and a batch
// never overwrites another batch's export.
const AnnotationBatch = "entra.directory-operator.io/batch"

// UserEnableBatchSpec names the accounts to enable again: the users a
// UserDisableBatch disabled (fromBatch), or a list. The spec is immutable.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new UserEnableBatch instead of editing this one"
// +kubebuilder:validation:XValidation:rule="has(self.users) != has(self.fromBatch)",message="set exactly one of users or fromBatch"
type UserEnableBatchSpec struct {
	// DirectoryRef names the Directory in this namespace (the source
	// batch's Directory when fromBatch is set).
	// +required
	DirectoryRef DirectoryReference `json:"directoryRef"`
	// FromBatch names a finished UserDisableBatch in this namespace: the
	// users its rows record as Disabled are enabled again; its
	// AlreadyDisabled rows are never enabled (they get the outcome
	// Skipped). The batch's status is read, or, once the batch is deleted,
	// its audit export (ConfigMap <fromBatch>-audit).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	FromBatch string `json:"fromBatch,omitempty"`
	// Users are UPNs or object IDs, unique (compared case-insensitively).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5000
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +listType=atomic
	// +optional
	Users []string `json:"users,omitempty"`
	// DryRun only reads the users (jobTitle, accountEnabled); no writes.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
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
	// Notify mails a summary once the batch ends (see UserDisableBatch).
	// +optional
	Notify *BatchNotify `json:"notify,omitempty"`
}

// UserEnableBatch enables many accounts in one apply, typically undoing a
// UserDisableBatch. It runs on the same engine as UserDisableBatch (rows,
// dry run, checkpoints, audit export, safety rails, pacing), and its
// status has the same shape.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ueb,categories=entra
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="From",type=string,JSONPath=`.spec.fromBatch`
// +kubebuilder:printcolumn:name="Total",type=integer,JSONPath=`.status.counts.total`
// +kubebuilder:printcolumn:name="Enabled",type=integer,JSONPath=`.status.counts.enabled`
// +kubebuilder:printcolumn:name="Skipped",type=integer,JSONPath=`.status.counts.skipped`
// +kubebuilder:printcolumn:name="NotFound",type=integer,JSONPath=`.status.counts.notFound`
// +kubebuilder:printcolumn:name="Protected",type=integer,JSONPath=`.status.counts.protected`
// +kubebuilder:printcolumn:name="Managed",type=integer,JSONPath=`.status.counts.managed`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.counts.failed`
// +kubebuilder:printcolumn:name="DryRun",type=boolean,JSONPath=`.spec.dryRun`,priority=1
// +kubebuilder:printcolumn:name="Export",type=string,JSONPath=`.status.export.configMaps[0]`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type UserEnableBatch struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   UserEnableBatchSpec    `json:"spec,omitempty"`
	Status UserDisableBatchStatus `json:"status,omitempty"`
}

// UserEnableBatchList is a list of UserEnableBatch.
// +kubebuilder:object:root=true
type UserEnableBatchList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UserEnableBatch `json:"items"`
}

func init() {
	SchemeBuilder.Register(&UserEnableBatch{}, &UserEnableBatchList{})
}
