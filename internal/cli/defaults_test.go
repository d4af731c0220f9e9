package cli

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/plan"
)

// TestDefaultsMatchAPIServer keeps the plan's copy of the CRD defaults equal
// to what the API server fills in: minimal objects created in envtest come
// back with the same specs plan.Objects.Default gives the manifests.
func TestDefaultsMatchAPIServer(t *testing.T) {
	ctx := context.Background()
	ns := "plan-defaults"
	namespace(t, ns, v1alpha1.SafetySpec{})
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
	ref := v1alpha1.DirectoryReference{Name: "tenant"}
	minimal := &plan.Objects{
		Directories: []v1alpha1.Directory{
			{ObjectMeta: meta("cert"), Spec: v1alpha1.DirectorySpec{TenantID: "t", ClientID: "c",
				Credential: v1alpha1.DirectoryCredential{ClientCertificate: &v1alpha1.ClientCertificateCredential{SecretName: "s"}}}},
			{ObjectMeta: meta("wi"), Spec: v1alpha1.DirectorySpec{TenantID: "t", ClientID: "c",
				Credential: v1alpha1.DirectoryCredential{WorkloadIdentity: &v1alpha1.WorkloadIdentityCredential{}}}},
		},
		Users: []v1alpha1.DirectoryUser{{ObjectMeta: meta("u"), Spec: v1alpha1.DirectoryUserSpec{DirectoryRef: ref, UserPrincipalName: "u@contoso.com",
			Password: &v1alpha1.PasswordSpec{SecretRef: v1alpha1.SecretKeySelector{Name: "p", Key: "k"}}}}},
		GroupSyncs: []v1alpha1.GroupSync{{ObjectMeta: meta("g"), Spec: v1alpha1.GroupSyncSpec{DirectoryRef: ref, Group: v1alpha1.GroupSelector{ID: "g"}}}},
		Batches:    []v1alpha1.UserDisableBatch{{ObjectMeta: meta("b"), Spec: v1alpha1.UserDisableBatchSpec{DirectoryRef: ref, Users: []string{"x"}}}},
	}
	var objs []client.Object
	for i := range minimal.Directories {
		objs = append(objs, minimal.Directories[i].DeepCopy())
	}
	objs = append(objs, minimal.Users[0].DeepCopy(), minimal.GroupSyncs[0].DeepCopy(), minimal.Batches[0].DeepCopy())
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("creating %s: %v", o.GetName(), err)
		}
	}
	minimal.Default()
	for i, o := range objs {
		var got, want any
		switch x := o.(type) {
		case *v1alpha1.Directory:
			got, want = x.Spec, minimal.Directories[i].Spec
		case *v1alpha1.DirectoryUser:
			got, want = x.Spec, minimal.Users[0].Spec
		case *v1alpha1.GroupSync:
			got, want = x.Spec, minimal.GroupSyncs[0].Spec
		case *v1alpha1.UserDisableBatch:
			got, want = x.Spec, minimal.Batches[0].Spec
		}
		if !equality.Semantic.DeepEqual(got, want) {
			t.Errorf("%T %s: API server defaults\n%+v\nplan defaults\n%+v", o, o.GetName(), got, want)
		}
	}
}
