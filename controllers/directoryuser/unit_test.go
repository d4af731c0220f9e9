package directoryuser

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/userspec"
)

// Unit tests of the steps against the fake port (fake_test.go): no
// envtest, no emulator. The envtest + emulator tests are the integration
// layer.

func readyReason(du *v1alpha1.DirectoryUser) string {
	if c := meta.FindStatusCondition(du.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

func TestUnitCreateRecordsPendingThenID(t *testing.T) {
	du := directoryUser("adele", "adele@contoso.com")
	u := newUnit(t, du)
	u.g.GetUserFunc = func(context.Context, string) (graph.User, error) { return graph.User{}, notFound() }
	u.g.CreateUserFunc = func(ctx context.Context, nu graph.NewUser) (graph.User, error) {
		// The pending record is in the API server before the POST.
		stored := &v1alpha1.DirectoryUser{}
		if err := u.kube.Get(ctx, client.ObjectKeyFromObject(du), stored); err != nil || stored.Status.CreatePending == nil {
			t.Errorf("POST sent before the pending record was stored: %v %+v", err, stored.Status.CreatePending)
		}
		if nu.Password == "" || nu.MailNickname != "adele" || !nu.AccountEnabled || !nu.ForceChangeNextSignIn {
			t.Errorf("POST body: %+v", nu)
		}
		return graph.User{ID: "id-adele", CreatedDateTime: ptr(unitNow)}, nil
	}
	_, err, got := u.reconcile(t, du)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.ID != "id-adele" || got.Status.CreatePending != nil || got.Status.UserPrincipalName != "adele@contoso.com" || readyReason(got) != v1alpha1.ReasonSucceeded {
		t.Fatalf("status after create: %+v", got.Status)
	}
	if !controllerutil.ContainsFinalizer(got, Finalizer) {
		t.Error("no finalizer")
	}
	sec := &corev1.Secret{}
	if err := u.kube.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: InitialPasswordSecretName(du)}, sec); err != nil || len(sec.Data[PasswordKey]) == 0 {
		t.Errorf("password Secret: %v", err)
	}
	if want := []string{"GetUser adele@contoso.com", "CreateUser adele@contoso.com"}; !slices.Equal(u.g.Calls(), want) {
		t.Errorf("calls %v, want %v", u.g.Calls(), want)
	}
}

// Deleting an Orphan or ObserveOnly resource does nothing in Graph: no
// finalizer, so no API write for it.
func TestUnitOrphanAndObserveOnlyCarryNoFinalizer(t *testing.T) {
	for name, mutate := range map[string]func(*v1alpha1.DirectoryUser){
		"orphan":      func(du *v1alpha1.DirectoryUser) { du.Spec.DeletionPolicy = v1alpha1.DeletionOrphan },
		"observeOnly": func(du *v1alpha1.DirectoryUser) { du.Spec.ManagementPolicy = v1alpha1.ManagementObserveOnly },
	} {
		t.Run(name, func(t *testing.T) {
			du := directoryUser("ada", "ada@contoso.com", mutate)
			u := newUnit(t, du)
			u.g.GetUserFunc = func(context.Context, string) (graph.User, error) {
				return graph.User{ID: "id-ada", UserPrincipalName: "ada@contoso.com", AccountEnabled: ptr(true)}, nil
			}
			_, _, got := u.reconcile(t, du)
			if controllerutil.ContainsFinalizer(got, Finalizer) {
				t.Errorf("finalizer on a %s DirectoryUser", name)
			}
		})
	}
}

// A restart after a POST whose answer was lost never POSTs again while
// the user may still become readable.
func TestUnitPendingCreateNeverPostsTwice(t *testing.T) {
	du := directoryUser("adele", "adele@contoso.com", func(du *v1alpha1.DirectoryUser) {
		du.Finalizers = []string{Finalizer}
		at := metav1.NewTime(unitNow.Add(-10 * time.Second))
		du.Status.CreatePending = &v1alpha1.CreatePending{UserPrincipalName: "adele@contoso.com", FirstAttempt: at, LastAttempt: &at}
	})
	u := newUnit(t, du)
	u.g.GetUserFunc = func(context.Context, string) (graph.User, error) { return graph.User{}, notFound() }
	_, err, got := u.reconcile(t, du)
	if err != nil || readyReason(got) != v1alpha1.ReasonReplicationLag || got.Status.CreatePending == nil {
		t.Fatalf("err %v, pending %+v", err, got.Status.CreatePending)
	}

	// The user appears, created after the first attempt: bound, no POST.
	created := unitNow.Add(-5 * time.Second)
	u.g.GetUserFunc = func(context.Context, string) (graph.User, error) {
		return graph.User{ID: "id-adele", UserPrincipalName: "adele@contoso.com", DisplayName: "Adele Vance", CreatedDateTime: &created}, nil
	}
	_, err, got = u.reconcile(t, got)
	if err != nil || got.Status.ID != "id-adele" || got.Status.CreatePending != nil || got.Status.Adopted {
		t.Fatalf("err %v, status %+v", err, got.Status)
	}
}

func TestUnitAdoptOnlyWhenAsked(t *testing.T) {
	old := unitNow.Add(-365 * 24 * time.Hour)
	existing := graph.User{ID: "id-old", UserPrincipalName: "adele@contoso.com", DisplayName: "Adele Vance", CreatedDateTime: &old, AccountEnabled: ptr(true)}
	du := directoryUser("adele", "adele@contoso.com")
	u := newUnit(t, du)
	u.g.GetUserFunc = func(context.Context, string) (graph.User, error) { return existing, nil }
	_, err, got := u.reconcile(t, du)
	if err != nil || readyReason(got) != v1alpha1.ReasonUserExists || got.Status.ID != "" {
		t.Fatalf("without spec.adopt: err %v, id %q", err, got.Status.ID)
	}

	got.Spec.Adopt = true
	if err := u.kube.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	_, err, got = u.reconcile(t, got)
	if err != nil || got.Status.ID != "id-old" || !got.Status.Adopted {
		t.Fatalf("with spec.adopt: err %v, status %+v", err, got.Status)
	}
	if slices.ContainsFunc(u.g.Calls(), func(c string) bool { return strings.HasPrefix(c, "CreateUser") }) {
		t.Errorf("adopting POSTed: %v", u.g.Calls())
	}
}

func TestUnitDiffTouchesOnlySpecFields(t *testing.T) {
	spec := v1alpha1.DirectoryUserSpec{UserPrincipalName: "adele@contoso.com", DisplayName: "Adele", JobTitle: ptr(""), AccountEnabled: ptr(false)}
	live := graph.User{UserPrincipalName: "adele@contoso.com", DisplayName: "Adele V", JobTitle: "Engineer", Department: "Sales", AccountEnabled: ptr(true)}
	upd, fields := userspec.Diff(spec, live)
	if want := []string{"displayName", "jobTitle", "accountEnabled"}; !slices.Equal(fields, want) {
		t.Fatalf("fields %v, want %v", fields, want)
	}
	// jobTitle: "" clears it; department is not in the spec and stays.
	if *upd.DisplayName != "Adele" || upd.JobTitle == nil || *upd.JobTitle != "" || upd.Department != nil || *upd.AccountEnabled {
		t.Errorf("update %+v", upd)
	}
	if _, fields := userspec.Diff(spec, graph.User{UserPrincipalName: "adele@contoso.com", DisplayName: "Adele", AccountEnabled: ptr(false)}); len(fields) != 0 {
		t.Errorf("matching user: fields %v", fields)
	}
}

func boundUser(name, upn string, mutate ...func(*v1alpha1.DirectoryUser)) *v1alpha1.DirectoryUser {
	return directoryUser(name, upn, append([]func(*v1alpha1.DirectoryUser){func(du *v1alpha1.DirectoryUser) {
		du.Finalizers = []string{Finalizer}
		du.Status.ID = "id-" + name
		du.Status.CreatedDateTime = &metav1.Time{Time: unitNow.Add(-24 * time.Hour)}
	}}, mutate...)...)
}

func TestUnitUpdateRevertsAndSetsManager(t *testing.T) {
	du := boundUser("adele", "adele@contoso.com", func(du *v1alpha1.DirectoryUser) {
		du.Spec.JobTitle = ptr("Engineer")
		du.Spec.Manager = &v1alpha1.ManagerReference{UserPrincipalName: "boss@contoso.com"}
	})
	u := newUnit(t, du)
	u.g.GetUserFunc = func(_ context.Context, key string) (graph.User, error) {
		switch key {
		case "id-adele":
			return graph.User{ID: "id-adele", UserPrincipalName: "adele@contoso.com", DisplayName: "Adele Vance", JobTitle: "Intern"}, nil
		case "boss@contoso.com":
			return graph.User{ID: "id-boss", UserPrincipalName: "boss@contoso.com"}, nil
		}
		return graph.User{}, notFound()
	}
	var sent graph.UserUpdate
	u.g.UpdateUserFunc = func(_ context.Context, id string, upd graph.UserUpdate) error { sent = upd; return nil }
	u.g.SetManagerFunc = func(_ context.Context, id, mgr string) error {
		if id != "id-adele" || mgr != "id-boss" {
			t.Errorf("SetManager(%s, %s)", id, mgr)
		}
		return nil
	}
	_, err, got := u.reconcile(t, du)
	if err != nil {
		t.Fatal(err)
	}
	if sent.JobTitle == nil || *sent.JobTitle != "Engineer" || sent.DisplayName != nil || sent.AccountEnabled != nil {
		t.Errorf("PATCH %+v, want only jobTitle", sent)
	}
	if got.Status.JobTitle != "Engineer" || got.Status.ManagerUserPrincipalName != "boss@contoso.com" {
		t.Errorf("status %+v", got.Status)
	}
}

func TestUnitManagerNotThereYetWaits(t *testing.T) {
	du := boundUser("adele", "adele@contoso.com", func(du *v1alpha1.DirectoryUser) {
		du.Spec.Manager = &v1alpha1.ManagerReference{UserPrincipalName: "boss@contoso.com"}
	})
	u := newUnit(t, du)
	u.g.GetUserFunc = func(_ context.Context, key string) (graph.User, error) {
		if key == "id-adele" {
			return graph.User{ID: "id-adele", UserPrincipalName: "adele@contoso.com", DisplayName: "Adele Vance"}, nil
		}
		return graph.User{}, notFound()
	}
	res, err, got := u.reconcile(t, du)
	if err != nil || readyReason(got) != v1alpha1.ReasonWaitingForManager || res.RequeueAfter <= 0 || got.Status.ID != "id-adele" {
		t.Fatalf("err %v, result %+v", err, res)
	}
}

// ObserveOnly reports drift and writes nothing.
func TestUnitObserveOnlyReportsDrift(t *testing.T) {
	du := directoryUser("adele", "adele@contoso.com", func(du *v1alpha1.DirectoryUser) {
		du.Spec.ManagementPolicy = v1alpha1.ManagementObserveOnly
		du.Spec.JobTitle = ptr("Engineer")
	})
	u := newUnit(t, du)
	u.g.GetUserFunc = func(context.Context, string) (graph.User, error) {
		return graph.User{ID: "id-x", UserPrincipalName: "adele@contoso.com", DisplayName: "Adele Vance", JobTitle: "Intern"}, nil
	}
	_, err, got := u.reconcile(t, du)
	if err != nil || !slices.Equal(got.Status.Drift, []string{"jobTitle"}) || got.Status.ID != "" {
		t.Fatalf("err %v, status %+v", err, got.Status)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionSynced); c == nil || c.Reason != v1alpha1.ReasonDrifted {
		t.Errorf("Synced %+v", c)
	}
}

// A user the drift watcher covers, unchanged since its last read, costs no
// Graph call at all (the fake fails on any).
func TestUnitDriftWatcherSkipsUnchangedUser(t *testing.T) {
	lastRead := metav1.NewTime(unitNow.Add(-time.Minute))
	du := boundUser("adele", "adele@contoso.com", func(du *v1alpha1.DirectoryUser) {
		du.Status.UserPrincipalName = "adele@contoso.com"
		du.Status.LastSyncTime = &lastRead
		du.Status.ObservedGeneration = du.Generation
		ctrlkit.SetCondition(&du.Status.CommonStatus, du.Generation, v1alpha1.ConditionReady, true, v1alpha1.ReasonSucceeded, "ok")
	})
	u := newUnit(t, du)
	u.r.drift = newDriftWatcher(u.kube, u.r.Connector, time.Minute, u.r.now)
	u.r.drift.dirs["ns/tenant"] = &directoryWatch{since: unitNow.Add(-time.Hour), lastPoll: unitNow.Add(-10 * time.Second), dirty: map[string]time.Time{}}
	if _, err, _ := u.reconcile(t, du); err != nil {
		t.Fatal(err)
	}
	if calls := u.g.Calls(); len(calls) != 0 {
		t.Fatalf("covered user read Graph: %v", calls)
	}

	// Named by a poll since: read again.
	u.r.drift.dirs["ns/tenant"].dirty["id-adele"] = unitNow.Add(-time.Second)
	u.g.GetUserFunc = func(context.Context, string) (graph.User, error) {
		return graph.User{ID: "id-adele", UserPrincipalName: "adele@contoso.com", DisplayName: "Adele Vance"}, nil
	}
	if _, err, _ := u.reconcile(t, du); err != nil {
		t.Fatal(err)
	}
	if calls := u.g.Calls(); !slices.Equal(calls, []string{"GetUser id-adele"}) {
		t.Fatalf("calls %v", calls)
	}
}

func TestUnitDeletionPolicies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		policy    v1alpha1.DeletionPolicy
		upn       string
		allow     bool
		wantCalls []string
		wantGone  bool
	}{
		{name: "delete", policy: v1alpha1.DeletionDelete, upn: "adele@contoso.com", allow: true, wantCalls: []string{"DeleteUser id-adele"}, wantGone: true},
		{name: "delete-held", policy: v1alpha1.DeletionDelete, upn: "adele@contoso.com", allow: false},
		{name: "disable", policy: v1alpha1.DeletionDisable, upn: "adele@contoso.com", wantCalls: []string{"UpdateUser id-adele"}, wantGone: true},
		{name: "orphan", policy: v1alpha1.DeletionOrphan, upn: "adele@contoso.com", wantGone: true},
		{name: "protected", policy: v1alpha1.DeletionDelete, upn: "admin@contoso.com", allow: true, wantGone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			du := boundUser("adele", tc.upn, func(du *v1alpha1.DirectoryUser) {
				du.Spec.DeletionPolicy = tc.policy
				du.DeletionTimestamp = &metav1.Time{Time: unitNow}
			})
			u := newUnit(t, du)
			deletions := &fakeDeletions{allow: tc.allow, wait: 10 * time.Minute}
			u.r.Deletions = deletions
			u.g.DeleteUserFunc = func(context.Context, string) error { return nil }
			u.g.UpdateUserFunc = func(_ context.Context, _ string, upd graph.UserUpdate) error {
				if upd.AccountEnabled == nil || *upd.AccountEnabled || upd.DisplayName != nil {
					t.Errorf("disable PATCH %+v", upd)
				}
				return nil
			}
			res, err := u.r.Reconcile(context.Background(), reqFor(du))
			if calls := u.g.Calls(); !slices.Equal(calls, tc.wantCalls) {
				t.Errorf("calls %v, want %v", calls, tc.wantCalls)
			}
			gone := u.kube.Get(context.Background(), client.ObjectKeyFromObject(du), &v1alpha1.DirectoryUser{}) != nil
			if gone != tc.wantGone {
				t.Errorf("finalizer released: %v, want %v (err %v)", gone, tc.wantGone, err)
			}
			if !tc.wantGone {
				got := &v1alpha1.DirectoryUser{}
				_ = u.kube.Get(context.Background(), client.ObjectKeyFromObject(du), got)
				if readyReason(got) != v1alpha1.ReasonDeletionHeld || res.RequeueAfter < 9*time.Minute || deletions.n != 1 {
					t.Errorf("held deletion: %s, requeue %v, allowance asked %d times", readyReason(got), res.RequeueAfter, deletions.n)
				}
			}
		})
	}
}

// noConfigMapCache reads like the manager's cache, which holds only export
// ConfigMaps: the saved drift watch is never in it.
type noConfigMapCache struct{ client.Client }

func (c noConfigMapCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.ConfigMap); ok {
		return apierrors.NewNotFound(corev1.Resource("configmaps"), key.Name)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// Every save of the drift watch lands, not only the first: the ConfigMap
// is read live, not through a cache that cannot see it.
func TestUnitDriftWatchSavesAfterTheFirst(t *testing.T) {
	u := newUnit(t)
	w := newDriftWatcher(u.kube, nil, 0, u.clock.Now)
	w.live, w.writer = u.kube, noConfigMapCache{u.kube}
	for i, link := range []string{"link-1", "link-2"} {
		if err := w.saveState(context.Background(), u.dir, persistedWatch{Link: link, Since: unitNow, LastPoll: unitNow}); err != nil {
			t.Fatalf("save %d: %v", i+1, err)
		}
	}
	cm := &corev1.ConfigMap{}
	if err := u.kube.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "tenant-users-delta"}, cm); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data[driftStateKey], "link-2") {
		t.Errorf("saved watch %s, want the second save", cm.Data[driftStateKey])
	}
}

// A delta entry for a user no DirectoryUser is bound to is never marked
// for a read nobody would make (the saved watch would list it forever);
// it is held, classified again once a resource records the ID, and
// forgotten after unboundTTL. An echo of a bound user is not marked either;
// a real change is.
func TestUnitDeltaEntriesOfUnboundUsersAreHeldNotMarked(t *testing.T) {
	lastRead := metav1.NewTime(unitNow.Add(-time.Minute))
	ready := func(du *v1alpha1.DirectoryUser) {
		du.Status.UserPrincipalName = du.Spec.UserPrincipalName
		du.Status.DisplayName = "Adele Vance"
		du.Status.LastSyncTime = &lastRead
		du.Status.ObservedGeneration = du.Generation
		ctrlkit.SetCondition(&du.Status.CommonStatus, du.Generation, v1alpha1.ConditionReady, true, v1alpha1.ReasonSucceeded, "ok")
	}
	adele := boundUser("adele", "adele@contoso.com", ready)
	u := newUnit(t, adele)
	w := newDriftWatcher(u.kube, nil, time.Minute, u.clock.Now)
	dir := types.NamespacedName{Namespace: "ns", Name: "tenant"}
	st := w.watch(dir)
	ctx := context.Background()
	entry := func(id, name string) graph.UserChange {
		return graph.UserChange{User: graph.User{ID: id, DisplayName: name}, Props: map[string]bool{"id": true, "displayName": true}}
	}
	if v := w.classify(ctx, dir, entry("id-adele", "Adele Vance")); v != echoed {
		t.Errorf("an entry repeating adele's status: verdict %v, want echoed", v)
	}
	if v := w.classify(ctx, dir, entry("id-adele", "Renamed In Portal")); v != readAgain {
		t.Errorf("a real change of adele: verdict %v, want readAgain", v)
	}
	// Nobody is bound to id-megan yet: held, not marked.
	if got := w.rebind(ctx, dir, st, []graph.UserChange{entry("id-megan", "Megan")}, unitNow); len(got) != 0 || len(st.dirty) != 0 || len(st.unbound) != 1 {
		t.Fatalf("unbound entry: reread %v, dirty %v, held %d", got, st.dirty, len(st.unbound))
	}
	// Megan's DirectoryUser records the ID (a creation in flight); her
	// status shows another name than the entry: at the next poll she is
	// read.
	megan := boundUser("megan", "megan@contoso.com", ready)
	if err := u.kube.Create(ctx, megan); err != nil {
		t.Fatal(err)
	}
	if got := w.rebind(ctx, dir, st, nil, unitNow.Add(time.Second)); !slices.Equal(got, []string{"id-megan"}) || len(st.unbound) != 0 {
		t.Fatalf("bound since: reread %v, held %d; want id-megan read", got, len(st.unbound))
	}
	// An entry nobody is ever bound to, and a mark for such a user (a saved
	// watch from before), are gone after unboundTTL.
	st.dirty["id-gone"] = unitNow
	w.rebind(ctx, dir, st, []graph.UserChange{entry("id-nobody", "Nobody")}, unitNow)
	w.rebind(ctx, dir, st, nil, unitNow.Add(unboundTTL))
	if _, ok := st.dirty["id-gone"]; ok || len(st.unbound) != 0 {
		t.Errorf("after unboundTTL: dirty %v, held %d; want both forgotten", st.dirty, len(st.unbound))
	}
}
