package plan

import (
	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// The API server fills the CRDs' defaults (+kubebuilder:default) on
// apply; a manifest leaves them out. The plan applies the same defaults to
// the manifests, so an omitted default neither shows as a change against
// the cluster nor hides one against Graph (accountEnabled: true).
// TestDefaultsMatchAPIServer keeps this list equal to the CRDs'.

func defaultRef(r *v1alpha1.DirectoryReference) {
	if r.Kind == "" {
		r.Kind = v1alpha1.KindDirectory
	}
}

func defaultUser(du *v1alpha1.DirectoryUser) {
	s := &du.Spec
	defaultRef(&s.DirectoryRef)
	if s.AccountEnabled == nil {
		s.AccountEnabled = ptr(true)
	}
	if s.ManagementPolicy == "" {
		s.ManagementPolicy = v1alpha1.ManagementFull
	}
	if s.DeletionPolicy == "" {
		s.DeletionPolicy = v1alpha1.DeletionDelete
	}
	if s.Password != nil && s.Password.ForceChangeNextSignIn == nil {
		s.Password.ForceChangeNextSignIn = ptr(true)
	}
}

func defaultDirectory(d *v1alpha1.Directory) {
	s := &d.Spec
	if s.Cloud.Name == "" {
		s.Cloud.Name = v1alpha1.CloudAzurePublic
	}
	if s.Throttle.TenantSize == "" {
		s.Throttle.TenantSize = v1alpha1.TenantSizeL
	}
	if c := s.Credential.ClientCertificate; c != nil {
		if c.CertificateKey == "" {
			c.CertificateKey = "tls.crt"
		}
		if c.PrivateKeyKey == "" {
			c.PrivateKeyKey = "tls.key"
		}
	}
	if w := s.Credential.WorkloadIdentity; w != nil && w.TokenFile == "" {
		w.TokenFile = "/var/run/secrets/azure/tokens/azure-identity-token"
	}
}

func defaultGroupSync(g *v1alpha1.GroupSync) {
	defaultRef(&g.Spec.DirectoryRef)
	if g.Spec.IncludeManagers == nil {
		g.Spec.IncludeManagers = ptr(true)
	}
}

// Default applies the CRDs' defaults to every object (the manifests).
func (o *Objects) Default() {
	for i := range o.Directories {
		defaultDirectory(&o.Directories[i])
	}
	for i := range o.Users {
		defaultUser(&o.Users[i])
	}
	for i := range o.GroupSyncs {
		defaultGroupSync(&o.GroupSyncs[i])
	}
	for i := range o.Batches {
		defaultRef(&o.Batches[i].Spec.DirectoryRef)
	}
}

func ptr[T any](v T) *T { return &v }
