package userdisablebatch

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graph/graphfake"
)

// fakeGraph is this controller's Graph port for unit tests: each method
// calls its func field; a method the test did not set fails the test. The
// batch calls run in parallel chunks, so it is safe for concurrent use.
type fakeGraph struct {
	graphfake.Recorder
	GetUsersFunc                 func(ctx context.Context, keys []string, selectProps ...string) ([]graph.UserResult, error)
	UpdateUsersFunc              func(ctx context.Context, updates []graph.UserUpdateItem) ([]graph.ItemResult, error)
	RevokeSignInSessionsManyFunc func(ctx context.Context, ids []string) ([]graph.ItemResult, error)
	FindGroupsFunc               func(ctx context.Context, displayName string) ([]graph.Group, error)
	ListGroupMembersFunc         func(ctx context.Context, groupID string, transitive bool, selectProps ...string) ([]graph.User, error)
	budget                       *graph.Budget
	budgetOnce                   sync.Once
}

var _ Graph = (*fakeGraph)(nil)

func (f *fakeGraph) GetUsers(ctx context.Context, keys []string, selectProps ...string) ([]graph.UserResult, error) {
	f.Record("GetUsers %v", keys)
	if f.GetUsersFunc == nil {
		return nil, f.Unset("GetUsers")
	}
	return f.GetUsersFunc(ctx, keys, selectProps...)
}

func (f *fakeGraph) UpdateUsers(ctx context.Context, updates []graph.UserUpdateItem) ([]graph.ItemResult, error) {
	ids := make([]string, len(updates))
	for i, u := range updates {
		ids[i] = u.ID
	}
	f.Record("UpdateUsers %v", ids)
	if f.UpdateUsersFunc == nil {
		return nil, f.Unset("UpdateUsers")
	}
	return f.UpdateUsersFunc(ctx, updates)
}

func (f *fakeGraph) RevokeSignInSessionsMany(ctx context.Context, ids []string) ([]graph.ItemResult, error) {
	f.Record("RevokeSignInSessionsMany %v", ids)
	if f.RevokeSignInSessionsManyFunc == nil {
		return nil, f.Unset("RevokeSignInSessionsMany")
	}
	return f.RevokeSignInSessionsManyFunc(ctx, ids)
}

func (f *fakeGraph) FindGroups(ctx context.Context, displayName string) ([]graph.Group, error) {
	f.Record("FindGroups %s", displayName)
	if f.FindGroupsFunc == nil {
		return nil, f.Unset("FindGroups")
	}
	return f.FindGroupsFunc(ctx, displayName)
}

func (f *fakeGraph) ListGroupMembers(ctx context.Context, groupID string, transitive bool, selectProps ...string) ([]graph.User, error) {
	f.Record("ListGroupMembers %s", groupID)
	if f.ListGroupMembersFunc == nil {
		return nil, f.Unset("ListGroupMembers")
	}
	return f.ListGroupMembersFunc(ctx, groupID, transitive, selectProps...)
}

// Budget is a real budget at a large tenant's quota: pacing stays inline.
func (f *fakeGraph) Budget() *graph.Budget {
	f.budgetOnce.Do(func() { f.budget = graph.NewBudget(graph.BudgetForTenantSize("L")) })
	return f.budget
}

// unit is a Reconciler wired to the fake port and a fake Kubernetes client.
type unit struct {
	r    *Reconciler
	kube client.Client
	g    *fakeGraph
	dir  *v1alpha1.Directory
}

var unitNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newUnit(t *testing.T, objs ...client.Object) *unit {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	dir := &v1alpha1.Directory{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tenant", UID: "uid-tenant"},
		Spec: v1alpha1.DirectorySpec{Safety: v1alpha1.SafetySpec{ProtectedUsers: []string{"admin@contoso.com"}}}}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(append(objs, dir)...).
		WithStatusSubresource(&v1alpha1.UserDisableBatch{}, &v1alpha1.DirectoryUser{}).Build()
	u := &unit{kube: kube, g: &fakeGraph{Recorder: graphfake.Recorder{T: t}}, dir: dir}
	u.r = &Reconciler{Client: kube, APIReader: kube, Clock: clocktesting.NewFakePassiveClock(unitNow),
		Connector: connection.ConnectorFunc[Graph](func(context.Context, string, v1alpha1.DirectoryReference) (*connection.Connection[Graph], error) {
			return &connection.Connection[Graph]{Directory: u.dir, Graph: u.g, Safety: connection.NewSafety(u.dir.Spec.Safety)}, nil
		})}
	return u
}

func batch(name string, users ...string) *v1alpha1.UserDisableBatch {
	return &v1alpha1.UserDisableBatch{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Spec:       v1alpha1.UserDisableBatchSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, Users: users},
	}
}

func (u *unit) reconcile(t *testing.T, b *v1alpha1.UserDisableBatch) (ctrl.Result, *v1alpha1.UserDisableBatch) {
	t.Helper()
	res, err := u.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(b)})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res, u.stored(t, b)
}

func (u *unit) stored(t *testing.T, b *v1alpha1.UserDisableBatch) *v1alpha1.UserDisableBatch {
	t.Helper()
	got := &v1alpha1.UserDisableBatch{}
	if err := u.kube.Get(context.Background(), client.ObjectKeyFromObject(b), got); err != nil {
		t.Fatalf("reading back: %v", err)
	}
	return got
}

// directory of users by UPN, answering GetUsers like Graph's $batch.
type users map[string]graph.User

func (us users) get(_ context.Context, keys []string, _ ...string) ([]graph.UserResult, error) {
	out := make([]graph.UserResult, len(keys))
	for i, k := range keys {
		out[i].Key = k
		u, ok := us[k]
		if !ok {
			for _, v := range us {
				if v.ID == k {
					u, ok = v, true
				}
			}
		}
		if !ok {
			out[i].Err = &graph.Error{Kind: graph.NotFound, StatusCode: 404, Code: "Request_ResourceNotFound"}
			continue
		}
		out[i].User = u
	}
	return out, nil
}
