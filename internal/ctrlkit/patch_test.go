package ctrlkit

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// countingClient serves gs (read back into it) from a fake API server and
// counts the status patches it receives.
func countingClient(t *testing.T, gs *v1alpha1.GroupSync) (client.Client, *int) {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = v1alpha1.AddToScheme(scheme)
	patches := new(int)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(gs).WithStatusSubresource(gs).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			*patches++
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		}}).Build()
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(gs), gs); err != nil {
		t.Fatal(err)
	}
	return c, patches
}

// PatchStatus writes only a changed status, and only the status.
func TestPatchStatusSkipsUnchangedStatus(t *testing.T) {
	gs := &v1alpha1.GroupSync{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g"}}
	c, patches := countingClient(t, gs)
	ctx := context.Background()
	before := gs.DeepCopy()
	gs.Labels = map[string]string{"not": "status"}
	if err := PatchStatus(ctx, c, gs, before); err != nil || *patches != 0 {
		t.Fatalf("unchanged status: err %v, %d patches", err, *patches)
	}
	gs.Status.MemberCount = 3
	if err := PatchStatus(ctx, c, gs, before); err != nil || *patches != 1 {
		t.Fatalf("changed status: err %v, %d patches", err, *patches)
	}
	got := &v1alpha1.GroupSync{}
	_ = c.Get(ctx, client.ObjectKeyFromObject(gs), got)
	if got.Status.MemberCount != 3 || got.Labels["not"] != "" {
		t.Errorf("stored %+v, labels %v", got.Status, got.Labels)
	}
}

// A reconcile that read a cached copy older than this process's last
// status write must not take "nothing changed" against that copy for
// "nothing to write": the server's newer status would stay (a failure
// condition outliving the recovery). It asks the server instead, which
// refuses the stale copy; a current copy then skips as before.
func TestPatchStatusDoesNotSkipAgainstACopyOlderThanItsOwnWrite(t *testing.T) {
	gs := &v1alpha1.GroupSync{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g", UID: "uid-stale-copy"}}
	c, patches := countingClient(t, gs)
	ctx := context.Background()
	stale := gs.DeepCopy() // what a lagging cache still holds

	// Reconcile 1 writes a failure.
	before := gs.DeepCopy()
	gs.Status.MemberCount = 7
	if err := PatchStatus(ctx, c, gs, before); err != nil {
		t.Fatal(err)
	}

	// Reconcile 2 reads the stale copy and computes the same status it
	// shows: without the write log this was a silent skip.
	again := stale.DeepCopy()
	if err := PatchStatus(ctx, c, again, stale); !apierrors.IsConflict(err) {
		t.Fatalf("status equal to a stale copy: err %v, want a conflict (patches %d)", err, *patches)
	}

	// Reconcile 3 reads the current object: equal status, no write.
	cur := &v1alpha1.GroupSync{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(gs), cur); err != nil {
		t.Fatal(err)
	}
	n := *patches
	if err := PatchStatus(ctx, c, cur.DeepCopy(), cur); err != nil || *patches != n {
		t.Fatalf("current copy, unchanged status: err %v, %d patches", err, *patches-n)
	}
}
