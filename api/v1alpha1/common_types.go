package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types shared by every kind. They follow kstatus: Ready is the
// summary, Reconciling says work is in progress, Stalled says the operator
// cannot make progress without a change from the user.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	// ConditionSynced says the live Graph object matches the spec.
	ConditionSynced = "Synced"
)

// Condition reasons a user can act on. Events use the same reasons.
const (
	ReasonSucceeded          = "Succeeded"
	ReasonProgressing        = "Progressing"
	ReasonInvalidCredentials = "InvalidCredentials"
	ReasonConsentRequired    = "ConsentRequired"
	ReasonPermissionMissing  = "PermissionMissing"
	ReasonUnreachable        = "Unreachable"
	ReasonThrottled          = "Throttled"
	ReasonSecretNotFound     = "SecretNotFound"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonDirectoryNotFound  = "DirectoryNotFound"
	ReasonDirectoryNotReady  = "DirectoryNotReady"
	ReasonUserExists         = "UserExists"
	ReasonDomainNotAllowed   = "DomainNotAllowed"
	ReasonProtectedUser      = "ProtectedUser"
	ReasonGraphError         = "GraphError"
	ReasonWaitingForManager  = "WaitingForManager"
	ReasonReplicationLag     = "ReplicationLag"
	ReasonDeletionHeld       = "DeletionRateLimited"
	ReasonDrifted            = "Drifted"
	ReasonObserving          = "Observing"
	ReasonGroupNotFound      = "GroupNotFound"
	// ReasonConflict: another object holds what this one asks for (two
	// DirectoryUsers claiming one UPN, a Graph 409).
	ReasonConflict = "Conflict"
)

// DirectoryReference names a Directory in the same namespace, or a
// ClusterDirectory that allows this namespace.
type DirectoryReference struct {
	// Kind is Directory (default: in the resource's namespace) or
	// ClusterDirectory (cluster-scoped; its allowedNamespaces must admit
	// the resource's namespace).
	// +kubebuilder:validation:Enum=Directory;ClusterDirectory
	// +kubebuilder:default=Directory
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the Directory or ClusterDirectory.
	// +kubebuilder:validation:MinLength=1
	// +required
	Name string `json:"name"`
}

// Kinds a DirectoryReference may name.
const (
	KindDirectory        = "Directory"
	KindClusterDirectory = "ClusterDirectory"
)

// IsCluster says whether the reference names a ClusterDirectory.
func (r DirectoryReference) IsCluster() bool { return r.Kind == KindClusterDirectory }

// SecretKeySelector selects one key of a Secret in the resource's namespace.
type SecretKeySelector struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +required
	Name string `json:"name"`
	// Key within the Secret.
	// +kubebuilder:validation:MinLength=1
	// +required
	Key string `json:"key"`
}

// GroupSelector identifies an Entra group by object ID or display name.
// +kubebuilder:validation:XValidation:rule="has(self.id) != has(self.displayName)",message="group must set exactly one of id or displayName"
type GroupSelector struct {
	// ID is the group's object ID.
	// +optional
	ID string `json:"id,omitempty"`
	// DisplayName is resolved once to an object ID; more than one match is an error.
	// +optional
	DisplayName string `json:"displayName,omitempty"`
}

// CommonStatus is embedded in every status: kstatus conditions and the
// generation they describe.
type CommonStatus struct {
	// ObservedGeneration is the generation the conditions describe; -1 before the first reconcile.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled (and kind-specific ones).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GetConditions returns the conditions, for the shared condition helpers.
func (s *CommonStatus) GetConditions() *[]metav1.Condition { return &s.Conditions }
