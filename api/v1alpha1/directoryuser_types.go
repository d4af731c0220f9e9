package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ManagementPolicy says whether the operator may write to Graph.
// +kubebuilder:validation:Enum=Full;ObserveOnly
type ManagementPolicy string

const (
	// ManagementFull creates, updates and deletes the user.
	ManagementFull ManagementPolicy = "Full"
	// ManagementObserveOnly only reads the user and reports drift.
	ManagementObserveOnly ManagementPolicy = "ObserveOnly"
)

// DeletionPolicy says what happens in Graph when the resource is deleted.
// +kubebuilder:validation:Enum=Delete;Disable;Orphan
type DeletionPolicy string

const (
	DeletionDelete  DeletionPolicy = "Delete"
	DeletionDisable DeletionPolicy = "Disable"
	DeletionOrphan  DeletionPolicy = "Orphan"
)

// ReasonUserNotFound says an ObserveOnly DirectoryUser has no user to
// observe: the operator never creates one in that mode.
const ReasonUserNotFound = "UserNotFound"

// ManagerReference points at a user's manager: another DirectoryUser in the
// namespace, or a UPN in the tenant.
// +kubebuilder:validation:XValidation:rule="has(self.userRef) != has(self.userPrincipalName)",message="manager must set exactly one of userRef or userPrincipalName"
type ManagerReference struct {
	// UserRef names a DirectoryUser in the same namespace.
	// +optional
	UserRef *LocalObjectReference `json:"userRef,omitempty"`
	// UserPrincipalName of a user in the tenant.
	// +optional
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +required
	Name string `json:"name"`
}

// PasswordSpec sets the initial password from a Secret.
type PasswordSpec struct {
	// SecretRef is the Secret key holding the password.
	// +required
	SecretRef SecretKeySelector `json:"secretRef"`
	// ForceChangeNextSignIn makes the user pick a new password (default true).
	// +kubebuilder:default=true
	// +optional
	ForceChangeNextSignIn *bool `json:"forceChangeNextSignIn,omitempty"`
}

// DirectoryUserSpec is the desired state of one Entra user. Only fields that
// are set are managed; unset fields are left as another tool set them.
// +kubebuilder:validation:XValidation:rule="!has(self.usageLocation) || self.usageLocation.matches('^[A-Z]{2}$')",message="usageLocation must be a two-letter ISO 3166 country code such as US"
type DirectoryUserSpec struct {
	// DirectoryRef names the Directory in this namespace.
	// +required
	DirectoryRef DirectoryReference `json:"directoryRef"`
	// UserPrincipalName is the sign-in name. Changing it renames the user.
	// Graph allows A-Z a-z 0-9 ' . - _ ! # ^ ~ before the @ (at most 64 of
	// them) and a domain of the tenant after it.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9'._!#^~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`
	// +kubebuilder:validation:MaxLength=113
	// +required
	UserPrincipalName string `json:"userPrincipalName"`
	// DisplayName (defaults to the UPN's local part on create).
	// +kubebuilder:validation:MaxLength=256
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// GivenName is the user's first name.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	GivenName string `json:"givenName,omitempty"`
	// Surname is the user's last name.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Surname string `json:"surname,omitempty"`
	// MailNickname (defaults to the UPN's local part on create).
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+\-/=?^_{|}~.]+$`
	// +kubebuilder:validation:MaxLength=64
	// +optional
	MailNickname string `json:"mailNickname,omitempty"`
	// JobTitle is the user's job title; an empty string clears it in Graph.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	JobTitle *string `json:"jobTitle,omitempty"`
	// Department the user works in; an empty string clears it in Graph.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Department *string `json:"department,omitempty"`
	// OfficeLocation is the user's office; an empty string clears it in Graph.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	OfficeLocation *string `json:"officeLocation,omitempty"`
	// UsageLocation is a two-letter country code (needed for licences).
	// +optional
	UsageLocation string `json:"usageLocation,omitempty"`
	// EmployeeID is the organization's identifier for the user; an empty string clears it in Graph.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	EmployeeID *string `json:"employeeId,omitempty"`
	// AccountEnabled (default true).
	// +kubebuilder:default=true
	// +optional
	AccountEnabled *bool `json:"accountEnabled,omitempty"`
	// Manager of the user.
	// +optional
	Manager *ManagerReference `json:"manager,omitempty"`
	// Password for a user the operator creates. Without it a strong password
	// is generated into the owned Secret <name>-initial-password. Never used
	// on an adopted user.
	// +optional
	Password *PasswordSpec `json:"password,omitempty"`
	// ManagementPolicy: Full (default) or ObserveOnly.
	// +kubebuilder:default=Full
	// +optional
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`
	// DeletionPolicy: Delete (default), Disable or Orphan.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// Adopt takes over an existing user with the same UPN instead of failing.
	// +optional
	Adopt bool `json:"adopt,omitempty"`
	// Interval between drift checks (default 10m, jittered).
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="interval must be a positive duration such as 10m"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// DirectoryUserStatus is what Graph holds for the user.
type DirectoryUserStatus struct {
	CommonStatus `json:",inline"`
	// ID is the user's object ID, recorded as soon as Graph returned it.
	// +optional
	ID string `json:"id,omitempty"`
	// UserPrincipalName is the sign-in name Graph holds.
	// +optional
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	// DisplayName Graph holds.
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// JobTitle Graph holds.
	// +optional
	JobTitle string `json:"jobTitle,omitempty"`
	// Department Graph holds.
	// +optional
	Department string `json:"department,omitempty"`
	// AccountEnabled is whether the user can sign in, as Graph holds it.
	// +optional
	AccountEnabled *bool `json:"accountEnabled,omitempty"`
	// ManagerUserPrincipalName is the UPN of the user's manager in Graph.
	// +optional
	ManagerUserPrincipalName string `json:"managerUserPrincipalName,omitempty"`
	// CreatedDateTime is when the user was created in Entra ID.
	// +optional
	CreatedDateTime *metav1.Time `json:"createdDateTime,omitempty"`
	// LastSyncTime of the last successful read of the user.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// Drift lists managed fields whose live value differs from spec (ObserveOnly shows, Full reverts).
	// +optional
	Drift []string `json:"drift,omitempty"`
	// Adopted is true when the user existed before the operator managed it.
	// +optional
	Adopted bool `json:"adopted,omitempty"`
	// CreatePending records a POST /users whose result is not bound to this
	// resource yet. It is written before the POST, so a create whose answer
	// was lost (a timeout, a 5xx Graph applied anyway, a manager restart) is
	// resolved by looking the UPN up, never by a second POST.
	// +optional
	CreatePending *CreatePending `json:"createPending,omitempty"`
	// HeldBy is the UserDisableBatch holding the account disabled (see the
	// held-disabled-by annotation).
	// +optional
	HeldBy string `json:"heldBy,omitempty"`
	// ReleasedHolds are batches whose hold was released: their Disabled
	// rows never hold this user again (the last 10).
	// +optional
	ReleasedHolds []string `json:"releasedHolds,omitempty"`
}

// CreatePending is the record of a create that may have reached Graph.
type CreatePending struct {
	// UserPrincipalName sent in the POST.
	UserPrincipalName string `json:"userPrincipalName"`
	// FirstAttempt is when the first POST was about to be sent. A user with
	// this UPN created after it (allowing for clock skew) is this resource's
	// own; one created before existed already.
	FirstAttempt metav1.Time `json:"firstAttempt"`
	// LastAttempt is when the last POST whose outcome is unknown was sent;
	// unset once that POST is known not to have applied. While it is recent
	// a missing user is taken for replication lag.
	// +optional
	LastAttempt *metav1.Time `json:"lastAttempt,omitempty"`
}

// DirectoryUser is one Entra user kept in Git.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=du,categories=entra
// +kubebuilder:printcolumn:name="UPN",type=string,JSONPath=`.spec.userPrincipalName`
// +kubebuilder:printcolumn:name="Enabled",type=boolean,JSONPath=`.status.accountEnabled`
// +kubebuilder:printcolumn:name="Job Title",type=string,JSONPath=`.status.jobTitle`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Object ID",type=string,JSONPath=`.status.id`,priority=1
// +kubebuilder:printcolumn:name="Directory",type=string,JSONPath=`.spec.directoryRef.name`,priority=1
type DirectoryUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DirectoryUserSpec   `json:"spec,omitempty"`
	Status DirectoryUserStatus `json:"status,omitempty"`
}

// DirectoryUserList is a list of DirectoryUser.
// +kubebuilder:object:root=true
type DirectoryUserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DirectoryUser `json:"items"`
}

func init() {
	SchemeBuilder.Register(&DirectoryUser{}, &DirectoryUserList{})
}
