package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterDirectorySpec is a Directory's spec for a connection shared by
// several namespaces: its Secrets live in CredentialNamespace, and only the
// namespaces AllowedNamespaces admits may reference it.
// +kubebuilder:validation:XValidation:rule="!has(self.exports) || !has(self.exports.groups) || !self.exports.groups",message="exports.groups is not supported on a ClusterDirectory (it has no namespace to write the ConfigMap to); use a Directory"
type ClusterDirectorySpec struct {
	DirectorySpec `json:",inline"`
	// CredentialNamespace holds the Secrets the credential and cloud.caBundle
	// name (typically the platform team's namespace). They must carry the
	// entra.directory-operator.io/credential=true label, as for a Directory.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +required
	CredentialNamespace string `json:"credentialNamespace"`
	// AllowedNamespaces admits the namespaces whose resources may use this
	// connection: those listed in names, and those whose labels match
	// selector. Empty admits none.
	// +required
	AllowedNamespaces AllowedNamespaces `json:"allowedNamespaces"`
}

// AllowedNamespaces admits namespaces by name and/or by label.
type AllowedNamespaces struct {
	// Names of admitted namespaces.
	// +optional
	// +listType=set
	Names []string `json:"names,omitempty"`
	// Selector admits the namespaces whose labels match it.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// ReasonNamespaceNotAllowed: a resource references a ClusterDirectory whose
// allowedNamespaces does not admit the resource's namespace.
const ReasonNamespaceNotAllowed = "NamespaceNotAllowed"

// ClusterDirectory is one Entra tenant connection, owned by a platform
// namespace and usable from the namespaces it allows, like external-secrets'
// ClusterSecretStore.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cdir,categories=entra
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantID`
// +kubebuilder:printcolumn:name="Organization",type=string,JSONPath=`.status.organization.displayName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterDirectory struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterDirectorySpec `json:"spec,omitempty"`
	Status DirectoryStatus      `json:"status,omitempty"`
}

// ClusterDirectoryList is a list of ClusterDirectory.
// +kubebuilder:object:root=true
type ClusterDirectoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterDirectory `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ClusterDirectory{}, &ClusterDirectoryList{})
}
