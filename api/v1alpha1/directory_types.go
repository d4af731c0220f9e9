package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CloudName selects a national cloud's token authority and Graph endpoint.
// +kubebuilder:validation:Enum=AzurePublic;AzureUSGovernment;AzureChina;Custom
type CloudName string

const (
	CloudAzurePublic       CloudName = "AzurePublic"
	CloudAzureUSGovernment CloudName = "AzureUSGovernment"
	CloudAzureChina        CloudName = "AzureChina"
	CloudCustom            CloudName = "Custom"
)

// TenantSize sizes the per-app resource-unit budget as Graph does: S (< 50
// users) 3,500 RU, M (50-500) 5,000 RU, L (> 500) 8,000 RU per 10 seconds.
// +kubebuilder:validation:Enum=S;M;L
type TenantSize string

const (
	TenantSizeS TenantSize = "S"
	TenantSizeM TenantSize = "M"
	TenantSizeL TenantSize = "L"
)

// DirectorySpec describes how to reach one Entra tenant through Microsoft Graph.
type DirectorySpec struct {
	// TenantID is the Entra tenant (directory) ID or a verified domain.
	// +kubebuilder:validation:MinLength=1
	// +required
	TenantID string `json:"tenantID"`
	// ClientID is the application (client) ID of the app registration.
	// +kubebuilder:validation:MinLength=1
	// +required
	ClientID string `json:"clientID"`
	// Credential the operator authenticates with; exactly one kind.
	// +required
	Credential DirectoryCredential `json:"credential"`
	// Cloud selects the national cloud, or Custom endpoints.
	// +kubebuilder:default={name: AzurePublic}
	// +optional
	Cloud CloudSpec `json:"cloud,omitempty"`
	// Throttle sizes the request budget the operator keeps to, shared by every
	// resource referencing this Directory.
	// +optional
	Throttle ThrottleSpec `json:"throttle,omitempty"`
	// Safety rails applied by every controller before any Graph write.
	// +optional
	Safety SafetySpec `json:"safety,omitempty"`
	// Interval between health checks of the connection (default 5m).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="interval must be at least 1s"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Exports of directory-wide data into ConfigMaps.
	// +optional
	Exports DirectoryExports `json:"exports,omitempty"`
}

// DirectoryCredential holds exactly one way to authenticate.
// +kubebuilder:validation:XValidation:rule="(has(self.clientSecret) ? 1 : 0) + (has(self.clientCertificate) ? 1 : 0) + (has(self.workloadIdentity) ? 1 : 0) == 1",message="credential must set exactly one of clientSecret, clientCertificate or workloadIdentity"
type DirectoryCredential struct {
	// ClientSecret is a key of a Secret holding the app's client secret.
	// +optional
	ClientSecret *SecretKeySelector `json:"clientSecret,omitempty"`
	// ClientCertificate is a Secret holding a PEM certificate and private key.
	// +optional
	ClientCertificate *ClientCertificateCredential `json:"clientCertificate,omitempty"`
	// WorkloadIdentity uses a federated service-account token, as Azure
	// Workload Identity injects it into the manager pod.
	// +optional
	WorkloadIdentity *WorkloadIdentityCredential `json:"workloadIdentity,omitempty"`
}

// ClientCertificateCredential names a Secret with a PEM certificate and key.
type ClientCertificateCredential struct {
	// SecretName of a Secret in the Directory's namespace.
	// +kubebuilder:validation:MinLength=1
	// +required
	SecretName string `json:"secretName"`
	// CertificateKey is the key holding the PEM certificate (default tls.crt).
	// +kubebuilder:default=tls.crt
	// +optional
	CertificateKey string `json:"certificateKey,omitempty"`
	// PrivateKeyKey is the key holding the PEM private key (default tls.key).
	// +kubebuilder:default=tls.key
	// +optional
	PrivateKeyKey string `json:"privateKeyKey,omitempty"`
}

// WorkloadIdentityCredential reads a federated token from a file.
type WorkloadIdentityCredential struct {
	// TokenFile is the projected service-account token path
	// (default: the path Azure Workload Identity's webhook injects).
	// +kubebuilder:default=/var/run/secrets/azure/tokens/azure-identity-token
	// +optional
	TokenFile string `json:"tokenFile,omitempty"`
}

// CloudSpec selects endpoints.
// +kubebuilder:validation:XValidation:rule="self.name != 'Custom' || (has(self.authorityHost) && has(self.graphEndpoint))",message="cloud Custom requires authorityHost and graphEndpoint"
// +kubebuilder:validation:XValidation:rule="self.name == 'Custom' || (!has(self.authorityHost) && !has(self.graphEndpoint))",message="authorityHost and graphEndpoint may only be set with cloud Custom"
type CloudSpec struct {
	// Name of the cloud.
	// +kubebuilder:default=AzurePublic
	// +optional
	Name CloudName `json:"name,omitempty"`
	// AuthorityHost is the token authority, e.g. https://login.example.net/ (Custom only).
	// +kubebuilder:validation:Pattern=`^https://`
	// +optional
	AuthorityHost string `json:"authorityHost,omitempty"`
	// GraphEndpoint is the Graph base URL without /v1.0, e.g. https://graph.example.net (Custom only).
	// +kubebuilder:validation:Pattern=`^https?://`
	// +optional
	GraphEndpoint string `json:"graphEndpoint,omitempty"`
	// CABundle is a Secret key holding extra PEM CA certificates to trust.
	// +optional
	CABundle *SecretKeySelector `json:"caBundle,omitempty"`
}

// ThrottleSpec sizes the budget. Explicit figures win over the tenant size.
// Directories of the same app+tenant share one budget, and all Directories
// of the same app one app-wide budget: where their settings differ, the
// lowest figure of each kind applies to all of them.
type ThrottleSpec struct {
	// TenantSize picks Graph's published per-app budget (default L).
	// +kubebuilder:default=L
	// +optional
	TenantSize TenantSize `json:"tenantSize,omitempty"`
	// ResourceUnitsPer10s overrides the resource-unit budget.
	// +kubebuilder:validation:Minimum=1
	// +optional
	ResourceUnitsPer10s *int32 `json:"resourceUnitsPer10s,omitempty"`
	// WritesPer150s overrides the write budget (Graph: 3,000).
	// +kubebuilder:validation:Minimum=1
	// +optional
	WritesPer150s *int32 `json:"writesPer150s,omitempty"`
	// AppResourceUnitsPer20s overrides the app-wide resource-unit budget,
	// shared by every tenant this app (client ID) serves (Graph: 150,000).
	// +kubebuilder:validation:Minimum=1
	// +optional
	AppResourceUnitsPer20s *int32 `json:"appResourceUnitsPer20s,omitempty"`
	// AppWritesPer5m overrides the app-wide write budget, shared by every
	// tenant this app serves (Graph: 35,000 per 5 minutes).
	// +kubebuilder:validation:Minimum=1
	// +optional
	AppWritesPer5m *int32 `json:"appWritesPer5m,omitempty"`
}

// SafetySpec lists what the operator must never touch.
type SafetySpec struct {
	// AllowedDomains restricts the UPN domains the operator may create or
	// rename users into. Empty allows every verified domain.
	// +optional
	AllowedDomains []string `json:"allowedDomains,omitempty"`
	// ProtectedUsers (UPNs or object IDs) are never disabled or deleted.
	// +optional
	ProtectedUsers []string `json:"protectedUsers,omitempty"`
	// MaxDeletionsPerHour caps user deletions through this Directory (default 100).
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxDeletionsPerHour *int32 `json:"maxDeletionsPerHour,omitempty"`
}

// DirectoryExports turns on directory-wide CSV exports.
type DirectoryExports struct {
	// Groups writes ConfigMap <directory>-groups with groups.csv.
	// +optional
	Groups bool `json:"groups,omitempty"`
}

// OrganizationStatus is what GET /organization answered.
type OrganizationStatus struct {
	// ID is the tenant's ID.
	ID string `json:"id,omitempty"`
	// DisplayName is the organization's name in Entra ID.
	DisplayName string `json:"displayName,omitempty"`
	// VerifiedDomains are the tenant's verified domain names.
	VerifiedDomains []string `json:"verifiedDomains,omitempty"`
}

// ThrottlingStatus sums Graph traffic through this Directory over the last window.
type ThrottlingStatus struct {
	// WindowSeconds is the length of the window the figures cover.
	WindowSeconds int64 `json:"windowSeconds"`
	// Requests sent to Graph (batch items count one each).
	Requests int64 `json:"requests"`
	// ResourceUnits Graph charged (x-ms-resource-unit).
	ResourceUnits int64 `json:"resourceUnits"`
	// Writes sent.
	Writes int64 `json:"writes"`
	// Throttled answers (429).
	Throttled int64 `json:"throttled"`
}

// DirectoryStatus is the observed state of the connection.
type DirectoryStatus struct {
	CommonStatus `json:",inline"`
	// Organization the credentials lead to.
	// +optional
	Organization *OrganizationStatus `json:"organization,omitempty"`
	// LastCheckTime of the last health check.
	// +optional
	LastCheckTime *metav1.Time `json:"lastCheckTime,omitempty"`
	// Throttling figures for the last window.
	// +optional
	Throttling *ThrottlingStatus `json:"throttling,omitempty"`
	// Throttle shows the client-side budgets this Directory's requests go
	// through, as combined with the other Directories sharing them.
	// +optional
	Throttle *ThrottleStatus `json:"throttle,omitempty"`
	// GroupsExport names the ConfigMap holding groups.csv, when exports are on.
	// +optional
	GroupsExport string `json:"groupsExport,omitempty"`
	// DeletionWindow counts the user deletions of the last hour in
	// minute buckets, against safety.maxDeletionsPerHour. It is written
	// before each deletion, so a restarted manager goes on counting.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=61
	DeletionWindow []DeletionBucket `json:"deletionWindow,omitempty"`
}

// DeletionBucket counts the deletions that started within one minute.
type DeletionBucket struct {
	// Start is the beginning of the minute the bucket counts.
	Start metav1.MicroTime `json:"start"`
	// Count is the number of deletions started in that minute.
	Count int32 `json:"count"`
}

// Directory is one Entra tenant connection that other resources reference.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dir,categories=entra
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantID`
// +kubebuilder:printcolumn:name="Organization",type=string,JSONPath=`.status.organization.displayName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Directory struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DirectorySpec   `json:"spec,omitempty"`
	Status DirectoryStatus `json:"status,omitempty"`
}

// DirectoryList is a list of Directory.
// +kubebuilder:object:root=true
type DirectoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Directory `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Directory{}, &DirectoryList{})
}

// Deletion protection: a Directory keeps this finalizer while resources
// still reference it, so their own deletion policies (delete or disable the
// user in Entra) run while the connection still works.
const (
	// DirectoryFinalizer holds a Directory until no resource references it.
	DirectoryFinalizer = "entra.directory-operator.io/directory"
	// ConditionDeletionBlocked is True while a deleted Directory waits for
	// its dependents; the message counts them by kind.
	ConditionDeletionBlocked = "DeletionBlocked"
	// ReasonDependentsExist: resources still reference the Directory.
	ReasonDependentsExist = "DependentsExist"
)
