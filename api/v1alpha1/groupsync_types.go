package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GroupSyncSpec mirrors one group's members (and their managers).
type GroupSyncSpec struct {
	// DirectoryRef names the Directory in this namespace.
	// +required
	DirectoryRef DirectoryReference `json:"directoryRef"`
	// Group to mirror; once resolved it is tracked by id, so a rename does not break it.
	// +required
	Group GroupSelector `json:"group"`
	// Transitive includes members of nested groups.
	// +optional
	Transitive bool `json:"transitive,omitempty"`
	// IncludeManagers resolves each member's manager (default true).
	// +kubebuilder:default=true
	// +optional
	IncludeManagers *bool `json:"includeManagers,omitempty"`
	// Interval between syncs (default 15m). At least 1m: every sync reads Graph.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="interval must be at least 1m"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Retention keeps members who left, marked removed, this long (default 720h).
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="retention must be a positive duration such as 720h"
	// +optional
	Retention *metav1.Duration `json:"retention,omitempty"`
	// Export is the ConfigMap holding users.csv (default <name>-members).
	// Shards add "-1", "-2"…, so it is at most 240 characters.
	// +kubebuilder:validation:MaxLength=240
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	Export string `json:"export,omitempty"`
	// ImportUsers creates an ObserveOnly DirectoryUser per member.
	// +optional
	ImportUsers bool `json:"importUsers,omitempty"`
}

// SyncMode says how a sync read the group.
// +kubebuilder:validation:Enum=full;delta
type SyncMode string

const (
	SyncFull  SyncMode = "full"
	SyncDelta SyncMode = "delta"
)

// ManagerStrategy says how a full sync resolved managers.
// +kubebuilder:validation:Enum=none;perMember;tenantSweep
type ManagerStrategy string

const (
	// ManagersNone: managers were not asked for (includeManagers: false).
	ManagersNone ManagerStrategy = "none"
	// ManagersPerMember: one manager GET per member, 20 per $batch.
	ManagersPerMember ManagerStrategy = "perMember"
	// ManagersTenantSweep: one users/delta enumeration of the whole tenant
	// with the manager expanded.
	ManagersTenantSweep ManagerStrategy = "tenantSweep"
)

// AnnotationSyncRequested, set or changed to any value (e.g. a timestamp),
// makes the GroupSync sync now instead of at its next interval.
const AnnotationSyncRequested = "entra.directory-operator.io/sync-requested-at"

// LastSync describes the last completed sync.
type LastSync struct {
	// Time the sync completed.
	Time metav1.Time `json:"time"`
	// Mode is whether the sync was full or a delta.
	Mode SyncMode `json:"mode"`
	// Added, Removed and Updated count members that joined, left, or
	// changed attributes or manager.
	Added int32 `json:"added"`
	// Removed counts members that left the group.
	Removed int32 `json:"removed"`
	// Updated counts members whose attributes or manager changed.
	Updated int32 `json:"updated"`
	// GraphRequests and ResourceUnits are what the sync cost ($batch
	// envelopes count as one request).
	GraphRequests int64 `json:"graphRequests"`
	// ResourceUnits Graph charged for the sync.
	ResourceUnits int64 `json:"resourceUnits"`
	// ManagerStrategy is how a full sync resolved managers.
	// +optional
	ManagerStrategy ManagerStrategy `json:"managerStrategy,omitempty"`
	// EstimatedResourceUnits is the cost model's price of the chosen full
	// sync plan, for comparison with ResourceUnits.
	// +optional
	EstimatedResourceUnits int64 `json:"estimatedResourceUnits,omitempty"`
}

// SyncCursor is where the next delta sync resumes, and the spec it was
// built for: a change of group, transitive or includeManagers forces a
// full sync. Members themselves live in the export, never in status.
type SyncCursor struct {
	// Group is the spec.group the groupId was resolved from
	// ("id:<id>" or "displayName:<name>").
	Group string `json:"group"`
	// Transitive is the spec.transitive the cursor was built for.
	// +optional
	Transitive bool `json:"transitive,omitempty"`
	// IncludeManagers is the spec.includeManagers the cursor was built for.
	// +optional
	IncludeManagers bool `json:"includeManagers,omitempty"`
	// GroupDeltaLink resumes groups/delta for the group's members.
	// +optional
	GroupDeltaLink string `json:"groupDeltaLink,omitempty"`
	// UsersDeltaLink resumes users/delta for attribute and manager changes.
	// +optional
	UsersDeltaLink string `json:"usersDeltaLink,omitempty"`
}

// GroupSyncStatus reports the mirror.
type GroupSyncStatus struct {
	CommonStatus `json:",inline"`
	// GroupID is the group's object ID.
	// +optional
	GroupID string `json:"groupId,omitempty"`
	// DisplayName is the group's name in Graph.
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// MemberCount is the number of current members in the export.
	// +optional
	MemberCount int32 `json:"memberCount,omitempty"`
	// RemovedCount is the number of former members kept as removed until retention ends.
	// +optional
	RemovedCount int32 `json:"removedCount,omitempty"`
	// ManagersResolved is the number of members whose manager was resolved.
	// +optional
	ManagersResolved int32 `json:"managersResolved,omitempty"`
	// +optional
	LastSync *LastSync `json:"lastSync,omitempty"`
	// LastHandledSyncRequest is the value of the sync-requested-at
	// annotation the last completed sync answered.
	// +optional
	LastHandledSyncRequest string `json:"lastHandledSyncRequest,omitempty"`
	// Export is the ConfigMap the CSV is in, and how it is stored.
	// +optional
	Export *ExportStatus `json:"export,omitempty"`
	// Cursor resumes the next sync incrementally.
	// +optional
	Cursor *SyncCursor `json:"cursor,omitempty"`
}

// ExportStatus says where the CSV is and how to read it.
type ExportStatus struct {
	// ConfigMap names (more than one when sharded).
	ConfigMaps []string `json:"configMaps"`
	// Encoding: plain (data) or gzip (binaryData).
	Encoding string `json:"encoding"`
	// Command prints the CSV.
	Command string `json:"command"`
}

// GroupSync mirrors an Entra group's members into a CSV export.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gs,categories=entra
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.status.displayName`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.memberCount`
// +kubebuilder:printcolumn:name="Removed",type=integer,JSONPath=`.status.removedCount`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSync.time`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GroupSync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GroupSyncSpec   `json:"spec,omitempty"`
	Status GroupSyncStatus `json:"status,omitempty"`
}

// GroupSyncList is a list of GroupSync.
// +kubebuilder:object:root=true
type GroupSyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GroupSync `json:"items"`
}

func init() {
	SchemeBuilder.Register(&GroupSync{}, &GroupSyncList{})
}
