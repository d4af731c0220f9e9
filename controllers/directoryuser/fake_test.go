package directoryuser

import (
	"context"
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
// calls its func field, and a call to a method the test did not set fails
// the test (the step sent something the test says it must not). Calls are
// recorded in order.
type fakeGraph struct {
	graphfake.Recorder
	GetUserFunc    func(ctx context.Context, idOrUPN string) (graph.User, error)
	CreateUserFunc func(ctx context.Context, u graph.NewUser) (graph.User, error)
	UpdateUserFunc func(ctx context.Context, id string, u graph.UserUpdate) error
	DeleteUserFunc func(ctx context.Context, id string) error
	SetManagerFunc func(ctx context.Context, userID, managerID string) error
	UsersDeltaFunc func(ctx context.Context, q graph.UsersDeltaQuery, fn func(graph.UserChange) error) (string, error)
}

var _ Graph = (*fakeGraph)(nil)

func (f *fakeGraph) GetUser(ctx context.Context, idOrUPN string) (graph.User, error) {
	f.Record("GetUser %s", idOrUPN)
	if f.GetUserFunc == nil {
		return graph.User{}, f.Unset("GetUser")
	}
	return f.GetUserFunc(ctx, idOrUPN)
}

func (f *fakeGraph) CreateUser(ctx context.Context, u graph.NewUser) (graph.User, error) {
	f.Record("CreateUser %s", u.UserPrincipalName)
	if f.CreateUserFunc == nil {
		return graph.User{}, f.Unset("CreateUser")
	}
	return f.CreateUserFunc(ctx, u)
}

func (f *fakeGraph) UpdateUser(ctx context.Context, id string, u graph.UserUpdate) error {
	f.Record("UpdateUser %s", id)
	if f.UpdateUserFunc == nil {
		return f.Unset("UpdateUser")
	}
	return f.UpdateUserFunc(ctx, id, u)
}

func (f *fakeGraph) DeleteUser(ctx context.Context, id string) error {
	f.Record("DeleteUser %s", id)
	if f.DeleteUserFunc == nil {
		return f.Unset("DeleteUser")
	}
	return f.DeleteUserFunc(ctx, id)
}

func (f *fakeGraph) SetManager(ctx context.Context, userID, managerID string) error {
	f.Record("SetManager %s %s", userID, managerID)
	if f.SetManagerFunc == nil {
		return f.Unset("SetManager")
	}
	return f.SetManagerFunc(ctx, userID, managerID)
}

func (f *fakeGraph) UsersDelta(ctx context.Context, q graph.UsersDeltaQuery, fn func(graph.UserChange) error) (string, error) {
	f.Record("UsersDelta")
	if f.UsersDeltaFunc == nil {
		return "", f.Unset("UsersDelta")
	}
	return f.UsersDeltaFunc(ctx, q, fn)
}

func notFound() error {
	return &graph.Error{Kind: graph.NotFound, StatusCode: 404, Code: "Request_ResourceNotFound", Message: "not found"}
}

// fakeDeletions is a deletion allowance that allows or holds every deletion.
type fakeDeletions struct {
	allow bool
	wait  time.Duration
	n     int
}

func (d *fakeDeletions) Allow(context.Context, *v1alpha1.Directory) (bool, time.Duration, error) {
	d.n++
	return d.allow, d.wait, nil
}

// unit is a Reconciler wired to a fake Graph port and a fake Kubernetes
// client, with a fake clock: a reconcile in microseconds, no envtest.
type unit struct {
	r     *Reconciler
	kube  client.Client
	g     *fakeGraph
	dir   *v1alpha1.Directory
	clock *clocktesting.FakePassiveClock
}

var unitNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newUnit(t *testing.T, objs ...client.Object) *unit {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.DirectoryUser{}, &v1alpha1.Directory{}, &v1alpha1.UserDisableBatch{})
	for name, fn := range indexes {
		b = b.WithIndex(&v1alpha1.DirectoryUser{}, name, fn)
	}
	b = b.WithIndex(&v1alpha1.UserDisableBatch{}, disabledIDIndex, indexDisabledIDs)
	u := &unit{
		kube:  b.Build(),
		g:     &fakeGraph{Recorder: graphfake.Recorder{T: t}},
		clock: clocktesting.NewFakePassiveClock(unitNow),
		dir: &v1alpha1.Directory{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tenant"},
			Spec: v1alpha1.DirectorySpec{Safety: v1alpha1.SafetySpec{AllowedDomains: []string{"contoso.com"}, ProtectedUsers: []string{"admin@contoso.com"}}}},
	}
	u.r = &Reconciler{
		Client: u.kube, APIReader: u.kube, Clock: u.clock,
		Connector: connection.ConnectorFunc[Graph](func(_ context.Context, ns string, ref v1alpha1.DirectoryReference) (*connection.Connection[Graph], error) {
			if ns != u.dir.Namespace || ref.Name != u.dir.Name || ref.IsCluster() {
				t.Errorf("connected to %s %s/%s", ref.Kind, ns, ref.Name)
			}
			return &connection.Connection[Graph]{Directory: u.dir, Graph: u.g, Safety: connection.NewSafety(u.dir.Spec.Safety)}, nil
		}),
	}
	return u
}

// directoryUser is a DirectoryUser of Directory "tenant" in namespace "ns".
func directoryUser(name, upn string, mutate ...func(*v1alpha1.DirectoryUser)) *v1alpha1.DirectoryUser {
	du := &v1alpha1.DirectoryUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Spec:       v1alpha1.DirectoryUserSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, UserPrincipalName: upn, DisplayName: "Adele Vance"},
	}
	for _, m := range mutate {
		m(du)
	}
	return du
}

// reconcile runs one reconcile of du and returns the stored object after it.
func (u *unit) reconcile(t *testing.T, du *v1alpha1.DirectoryUser) (ctrl.Result, error, *v1alpha1.DirectoryUser) {
	t.Helper()
	res, err := u.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(du)})
	got := &v1alpha1.DirectoryUser{}
	if gerr := u.kube.Get(context.Background(), client.ObjectKeyFromObject(du), got); gerr != nil {
		t.Fatalf("reading back %s: %v", du.Name, gerr)
	}
	return res, err, got
}

func reqFor(o client.Object) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKeyFromObject(o)}
}
