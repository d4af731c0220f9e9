package ctrlkit

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// PatchStatus writes only a changed status, and only the status.
func TestPatchStatusSkipsUnchangedStatus(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = v1alpha1.AddToScheme(scheme)
	gs := &v1alpha1.GroupSync{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g"}}
	patches := 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(gs).WithStatusSubresource(gs).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			patches++
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		}}).Build()
	ctx := context.Background()
	if err := c.Get(ctx, client.ObjectKeyFromObject(gs), gs); err != nil {
		t.Fatal(err)
	}
	before := gs.DeepCopy()
	gs.Labels = map[string]string{"not": "status"}
	if err := PatchStatus(ctx, c, gs, before); err != nil || patches != 0 {
		t.Fatalf("unchanged status: err %v, %d patches", err, patches)
	}
	gs.Status.MemberCount = 3
	if err := PatchStatus(ctx, c, gs, before); err != nil || patches != 1 {
		t.Fatalf("changed status: err %v, %d patches", err, patches)
	}
	got := &v1alpha1.GroupSync{}
	_ = c.Get(ctx, client.ObjectKeyFromObject(gs), got)
	if got.Status.MemberCount != 3 || got.Labels["not"] != "" {
		t.Errorf("stored %+v, labels %v", got.Status, got.Labels)
	}
}
