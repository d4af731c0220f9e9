package directory

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Unit tests of the health check against the fake port: no envtest.

func checkOnce(t *testing.T, g *fakeGraph, mutate ...func(*v1alpha1.Directory)) (*v1alpha1.Directory, *fakeClients) {
	t.Helper()
	dir := &v1alpha1.Directory{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tenant", Generation: 1},
		Spec: v1alpha1.DirectorySpec{TenantID: "t1", ClientID: "app1"}}
	for _, m := range mutate {
		m(dir)
	}
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(dir).WithStatusSubresource(&v1alpha1.Directory{}).Build()
	clients := &fakeClients{}
	r := &Reconciler{Client: kube, Clients: clients, Clock: clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		Dialer: connection.DialerFunc[Graph](func(context.Context, *v1alpha1.Directory) (Graph, error) { return g, nil })}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(dir)}); err != nil {
		t.Fatal(err)
	}
	got := &v1alpha1.Directory{}
	if err := kube.Get(context.Background(), client.ObjectKeyFromObject(dir), got); err != nil {
		t.Fatal(err)
	}
	return got, clients
}

func healthy(t *testing.T) *fakeGraph {
	return &fakeGraph{t: t,
		GrantedPermissionsFunc: func(context.Context) ([]string, error) { return []string{"User.ReadWrite.All"}, nil },
		OrganizationFunc: func(context.Context) (graph.Organization, error) {
			return graph.Organization{ID: "t1", DisplayName: "Contoso", VerifiedDomains: []string{"contoso.com", "b.com"}}, nil
		},
	}
}

func condition(dir *v1alpha1.Directory, typ string) *metav1.Condition {
	return meta.FindStatusCondition(dir.Status.Conditions, typ)
}

func TestUnitHealthyDirectoryIsReady(t *testing.T) {
	dir, clients := checkOnce(t, healthy(t))
	ready := condition(dir, v1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || !connection.Usable(dir) {
		t.Fatalf("Ready %+v", ready)
	}
	if o := dir.Status.Organization; o == nil || o.DisplayName != "Contoso" || !slices.Equal(o.VerifiedDomains, []string{"b.com", "contoso.com"}) {
		t.Errorf("organization %+v", dir.Status.Organization)
	}
	if dir.Status.Throttling == nil || dir.Status.LastCheckTime == nil || len(clients.forgot) != 0 {
		t.Errorf("throttling %+v, last check %v, forgot %v", dir.Status.Throttling, dir.Status.LastCheckTime, clients.forgot)
	}
}

// Missing consent or permission stalls with the admin consent URL, and
// drops the cached client (and its token) so the next check sees new roles.
func TestUnitPermissionsStallAndForgetClient(t *testing.T) {
	for _, tc := range []struct {
		granted []string
		reason  string
	}{
		{nil, v1alpha1.ReasonConsentRequired},
		{[]string{"Group.Read.All"}, v1alpha1.ReasonPermissionMissing},
	} {
		g := healthy(t)
		g.GrantedPermissionsFunc = func(context.Context) ([]string, error) { return tc.granted, nil }
		g.OrganizationFunc = nil // never reached
		dir, clients := checkOnce(t, g)
		ready := condition(dir, v1alpha1.ConditionReady)
		if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != tc.reason || !slices.Equal(clients.forgot, []string{"ns/tenant"}) {
			t.Errorf("granted %v: Ready %+v, forgot %v", tc.granted, ready, clients.forgot)
		}
	}
}

// A refused credential stalls (InvalidCredentials); Graph's 401 keeps its
// code in the message.
func TestUnitRefusedCredential(t *testing.T) {
	g := healthy(t)
	g.GrantedPermissionsFunc = func(context.Context) ([]string, error) {
		return nil, &graph.Error{Kind: graph.Unauthorized, Op: "token", Code: "AADSTS7000215", Message: "Invalid client secret provided."}
	}
	dir, clients := checkOnce(t, g)
	ready := condition(dir, v1alpha1.ConditionReady)
	if ready == nil || ready.Reason != v1alpha1.ReasonInvalidCredentials || len(clients.forgot) != 1 {
		t.Fatalf("Ready %+v, forgot %v", ready, clients.forgot)
	}
}

// A groups export the app may not read reports on its own condition and
// leaves the Directory usable for its users and batches.
func TestUnitGroupsExportFailureKeepsDirectoryUsable(t *testing.T) {
	g := healthy(t)
	g.ListGroupsFunc = func(context.Context) ([]graph.Group, error) {
		return nil, &graph.Error{Kind: graph.Forbidden, StatusCode: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges"}
	}
	dir, clients := checkOnce(t, g, func(d *v1alpha1.Directory) { d.Spec.Exports.Groups = true })
	if !connection.Usable(dir) || len(clients.forgot) != 0 {
		t.Fatalf("Directory not usable after a failed export: %+v", dir.Status.Conditions)
	}
	exp := condition(dir, v1alpha1.ConditionGroupsExported)
	if exp == nil || exp.Status != metav1.ConditionFalse || exp.Reason != v1alpha1.ReasonPermissionMissing {
		t.Errorf("GroupsExported %+v", exp)
	}
}

// A shard's Directory says which part of the limits it may spend; a
// process spending the whole quota says nothing more than before.
func TestUnitThrottleStatusShowsTheShardsShare(t *testing.T) {
	whole := budgetStatus(graph.BudgetReport{Stats: graph.BudgetStats{Share: 1}}, 10, 150)
	if whole.SharePercent != nil {
		t.Errorf("a single process reports sharePercent %d", *whole.SharePercent)
	}
	half := budgetStatus(graph.BudgetReport{Stats: graph.BudgetStats{Share: 0.5}}, 10, 150)
	if half.SharePercent == nil || *half.SharePercent != 50 {
		t.Errorf("one of two shards reports sharePercent %v, want 50", half.SharePercent)
	}
}
