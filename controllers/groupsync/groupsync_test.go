package groupsync_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/directory"
	"github.com/directory-operator/directory-operator/controllers/groupsync"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/export"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{
		// A tiny resource-unit bucket, used only while a test turns the
		// emulator's throttling on.
		Sim: graphsim.Options{RUPer10s: 2},
		Setup: func(mgr ctrl.Manager, res *connection.Resolver) error {
			rec := mgr.GetEventRecorder("directory-operator")
			if err := (&directory.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Dialer: connection.Port[directory.Graph](res), Clients: res.Registry, Recorder: rec}).SetupWithManager(mgr); err != nil {
				return err
			}
			return (&groupsync.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Connector: connection.Port[groupsync.Graph](res), Recorder: rec}).SetupWithManager(mgr)
		},
	}, &env))
}

// --- tests -----------------------------------------------------------------

// The acceptance case: a 2,000-member group with managers is mirrored
// exactly; then 10 members leave and 5 change title or manager, and the next
// sync is a delta sync of at most 3 Graph requests whose CSV shows exactly
// those changes; the documented kubectl command prints the same CSV.
func TestLargeGroupFullThenDelta(t *testing.T) {
	gen := env.Sim.Generate(graphsim.GenerateOptions{Users: 2600, ManagersEvery: 8, GroupMembers: 2000, Seed: 7})
	ns := env.Namespace(t)
	env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	gs := createGroupSync(t, ns, gsOptions{group: v1alpha1.GroupSelector{ID: gen.AllStaffGroupID}})

	first := waitSynced(t, gs, nil)
	if first.Mode != v1alpha1.SyncFull || first.Added != 2000 {
		t.Fatalf("first sync: %+v", first)
	}
	if first.ManagerStrategy != v1alpha1.ManagersTenantSweep {
		t.Errorf("2,000 of a few thousand users should sweep the tenant, chose %s", first.ManagerStrategy)
	}
	if float64(first.ResourceUnits) > 1.2*float64(first.EstimatedResourceUnits) {
		t.Errorf("full sync cost %d RU, the cost model says %d", first.ResourceUnits, first.EstimatedResourceUnits)
	}
	t.Logf("full sync: %d requests, %d RU (model %d)", first.GraphRequests, first.ResourceUnits, first.EstimatedResourceUnits)
	before := readCSV(t, gs)
	assertMatches(t, before, truth(t, gen.AllStaffGroupID, false))
	if gs.Status.MemberCount != 2000 || gs.Status.ManagersResolved < 1900 || gs.Status.DisplayName != "All Staff" {
		t.Errorf("status: members %d, managers %d, name %q", gs.Status.MemberCount, gs.Status.ManagersResolved, gs.Status.DisplayName)
	}

	// The documented command, run as a user would, prints the same file.
	printed := testenv.Shell(t, env.Config, gs.Status.Export.Command)
	assertMatches(t, parseCSV(t, printed), truth(t, gen.AllStaffGroupID, false))

	// 10 leave; 3 change title; 2 get a new manager (one a member, one not).
	g, _ := env.Sim.GetGroup(gen.AllStaffGroupID)
	members := g.Members
	left := members[100:110]
	for _, id := range left {
		env.Sim.RemoveMember(gen.AllStaffGroupID, id)
	}
	retitled := members[200:203]
	for _, id := range retitled {
		env.Sim.UpdateUser(id, func(u *graphsim.User) { u.JobTitle = "Principal " + u.JobTitle })
	}
	outsider := gen.UserIDs[2500] // not in the group: its UPN is not in the CSV yet
	newManagers := map[string]string{members[300]: members[5], members[301]: outsider}
	for id, mgr := range newManagers {
		env.Sim.UpdateUser(id, func(u *graphsim.User) { u.ManagerID = mgr })
	}

	env.Sim.ResetCounters()
	syncNow(t, gs)
	second := waitSynced(t, gs, first)
	requests := env.Sim.Counters().Requests
	t.Logf("delta sync: %d requests (emulator), %d RU; %v", requests, second.ResourceUnits, env.Sim.Counters().ByEndpoint)
	if second.Mode != v1alpha1.SyncDelta || second.Removed != 10 || second.Updated != 5 || second.Added != 0 {
		t.Errorf("delta sync: %+v", second)
	}
	if requests > 3 || second.GraphRequests > 3 {
		t.Errorf("delta sync took %d requests (emulator) / %d (status), want ≤ 3; by endpoint %v",
			requests, second.GraphRequests, env.Sim.Counters().ByEndpoint)
	}
	after := readCSV(t, gs)
	assertMatches(t, after, truth(t, gen.AllStaffGroupID, false))

	assertOnlyChanged(t, before, after, left, slices.Concat(left, retitled), newManagers)
	if gs.Status.RemovedCount != 10 || gs.Status.MemberCount != 1990 {
		t.Errorf("status counts: members %d removed %d", gs.Status.MemberCount, gs.Status.RemovedCount)
	}

	// Rows are sorted by UPN.
	recs, _ := csv.NewReader(bytes.NewReader(printed)).ReadAll()
	if !sort.SliceIsSorted(recs[1:], func(i, j int) bool {
		return strings.ToLower(recs[1+i][1]) < strings.ToLower(recs[1+j][1])
	}) {
		t.Error("users.csv is not sorted by userPrincipalName")
	}
}

// assertOnlyChanged checks that exactly the rows of leavers, retitled users
// and users with a new manager differ between two exports, and that leavers
// keep their attributes and get a removedAt.
func assertOnlyChanged(t *testing.T, before, after map[string][]string, left, changedIDs []string, newManagers map[string]string) {
	t.Helper()
	// Exactly those rows differ.
	changed := map[string]bool{}
	for id, r := range after {
		if !slices.Equal(r, before[id]) {
			changed[id] = true
		}
	}
	want := map[string]bool{}
	for _, id := range changedIDs {
		want[id] = true
	}
	for id := range newManagers {
		want[id] = true
	}
	if len(changed) != len(want) || len(after) != len(before) {
		t.Errorf("%d rows changed (of %d, was %d), want exactly %d", len(changed), len(after), len(before), len(want))
	}
	for id := range want {
		if !changed[id] {
			t.Errorf("row %s did not change", id)
		}
	}
	for _, id := range left {
		r := after[id]
		if r[9] != groupsync.StateRemoved {
			t.Errorf("leaver %s has state %q", id, r[9])
		}
		if ts, err := time.Parse(time.RFC3339, r[10]); err != nil || time.Since(ts) > time.Minute {
			t.Errorf("leaver %s removedAt %q", id, r[10])
		}
		if !slices.Equal(r[:9], before[id][:9]) {
			t.Errorf("leaver %s attributes changed: %q", id, r)
		}
	}
}

// Leavers stay with removedAt until retention ends, then the row goes.
func TestLeaversDroppedAfterRetention(t *testing.T) {
	ids := putUsers(t, "ret", 5)
	grp := env.Sim.PutGroup(graphsim.Group{DisplayName: "Retention", SecurityEnabled: true, Members: ids})
	ns := env.Namespace(t)
	env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	gs := createGroupSync(t, ns, gsOptions{group: v1alpha1.GroupSelector{ID: grp.ID}, retention: 3 * time.Second})
	first := waitSynced(t, gs, nil)

	env.Sim.RemoveMember(grp.ID, ids[0])
	syncNow(t, gs)
	second := waitSynced(t, gs, first)
	rows := readCSV(t, gs)
	if second.Removed != 1 || rows[ids[0]] == nil || rows[ids[0]][9] != groupsync.StateRemoved || rows[ids[0]][10] == "" {
		t.Fatalf("leaver not kept as removed: %+v %q", second, rows[ids[0]])
	}

	time.Sleep(4 * time.Second)
	syncNow(t, gs)
	waitSynced(t, gs, second)
	rows = readCSV(t, gs)
	if _, ok := rows[ids[0]]; ok || len(rows) != 4 || gs.Status.RemovedCount != 0 {
		t.Fatalf("leaver still there after retention: %d rows, removed %d", len(rows), gs.Status.RemovedCount)
	}
}

// transitive: true mirrors members of nested groups; a user joining a
// nested group shows up on the next sync.
func TestTransitiveNestedGroups(t *testing.T) {
	ids := putUsers(t, "nest", 7)
	inner := env.Sim.PutGroup(graphsim.Group{DisplayName: "Nest inner", SecurityEnabled: true, Members: ids[4:6]})
	middle := env.Sim.PutGroup(graphsim.Group{DisplayName: "Nest middle", SecurityEnabled: true, Members: []string{ids[2], ids[3], inner.ID}})
	top := env.Sim.PutGroup(graphsim.Group{DisplayName: "Nest top", SecurityEnabled: true, Members: []string{ids[0], ids[1], middle.ID}})
	ns := env.Namespace(t)
	env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	gs := createGroupSync(t, ns, gsOptions{group: v1alpha1.GroupSelector{ID: top.ID}, transitive: true})
	first := waitSynced(t, gs, nil)
	if first.Added != 6 {
		t.Fatalf("first sync: %+v", first)
	}
	assertMatches(t, readCSV(t, gs), truth(t, top.ID, true))

	env.Sim.AddMember(inner.ID, ids[6])
	env.Sim.RemoveMember(middle.ID, ids[2])
	syncNow(t, gs)
	second := waitSynced(t, gs, first)
	if second.Mode != v1alpha1.SyncDelta || second.Added != 1 || second.Removed != 1 {
		t.Errorf("second sync: %+v", second)
	}
	assertMatches(t, readCSV(t, gs), truth(t, top.ID, true))
}

// A group that does not exist stalls with GroupNotFound; two groups with
// the same name stall naming both ids.
func TestGroupNotFoundAndAmbiguous(t *testing.T) {
	ns := env.Namespace(t)
	env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	gs := createGroupSync(t, ns, gsOptions{group: v1alpha1.GroupSelector{DisplayName: "No Such Group"}})
	testenv.Eventually(t, 30*time.Second, "Stalled GroupNotFound", func() bool {
		env.Get(t, gs)
		c := meta.FindStatusCondition(gs.Status.Conditions, v1alpha1.ConditionStalled)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == v1alpha1.ReasonGroupNotFound
	})
	if _, _, msg := readyReason(gs); !strings.Contains(msg, `no group named "No Such Group"`) {
		t.Errorf("message: %s", msg)
	}

	a := env.Sim.PutGroup(graphsim.Group{DisplayName: "Twins", SecurityEnabled: true})
	b := env.Sim.PutGroup(graphsim.Group{DisplayName: "Twins", SecurityEnabled: true})
	env.Get(t, gs)
	gs.Spec.Group.DisplayName = "Twins"
	if err := env.Client.Update(context.Background(), gs); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "Stalled for two groups", func() bool {
		env.Get(t, gs)
		_, reason, msg := readyReason(gs)
		return reason == v1alpha1.ReasonInvalidSpec && strings.Contains(msg, a.ID) && strings.Contains(msg, b.ID)
	})
}

// A reconcile with no cause to sync (here an unrelated annotation; in
// production a Directory turning Ready again or a manager restart) costs no
// Graph request: the last sync is recent and describes the spec. A sync
// request still runs at once.
func TestNoSyncBeforeItIsDue(t *testing.T) {
	ids := putUsers(t, "due", 2)
	grp := env.Sim.PutGroup(graphsim.Group{DisplayName: "Due", SecurityEnabled: true, Members: ids})
	ns := env.Namespace(t)
	env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	gs := createGroupSync(t, ns, gsOptions{group: v1alpha1.GroupSelector{ID: grp.ID}})
	first := waitSynced(t, gs, nil)

	env.Sim.ResetCounters()
	patch := client.MergeFrom(gs.DeepCopy())
	gs.Annotations = map[string]string{"example.com/owner": "identity-team"}
	if err := env.Client.Patch(context.Background(), gs, patch); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	env.Get(t, gs)
	if n := env.Sim.Counters().Requests; n != 0 || *gs.Status.LastSync != *first {
		t.Fatalf("unrelated change: %d Graph requests, last sync %+v (was %+v); want none and unchanged", n, gs.Status.LastSync, first)
	}

	syncNow(t, gs)
	second := waitSynced(t, gs, first)
	if second.Mode != v1alpha1.SyncDelta || env.Sim.Counters().Requests == 0 {
		t.Fatalf("requested sync: %+v", second)
	}
	if gs.Status.LastHandledSyncRequest != gs.Annotations[v1alpha1.AnnotationSyncRequested] {
		t.Errorf("lastHandledSyncRequest = %q, annotation %q", gs.Status.LastHandledSyncRequest, gs.Annotations[v1alpha1.AnnotationSyncRequested])
	}
}

// A group found by display name and then renamed keeps syncing by id.
func TestRenamedGroupStillSynced(t *testing.T) {
	ids := putUsers(t, "ren", 3)
	grp := env.Sim.PutGroup(graphsim.Group{DisplayName: "Before Rename", SecurityEnabled: true, Members: ids[:2]})
	ns := env.Namespace(t)
	env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	gs := createGroupSync(t, ns, gsOptions{group: v1alpha1.GroupSelector{DisplayName: "Before Rename"}})
	first := waitSynced(t, gs, nil)

	env.Sim.UpdateGroup(grp.ID, func(g *graphsim.Group) {
		g.DisplayName = "After Rename"
		g.Members = ids
	})
	syncNow(t, gs)
	second := waitSynced(t, gs, first)
	if second.Added != 1 || gs.Status.DisplayName != "After Rename" || gs.Status.GroupID != grp.ID {
		t.Fatalf("after rename: %+v, status %q %s", second, gs.Status.DisplayName, gs.Status.GroupID)
	}
	assertMatches(t, readCSV(t, gs), truth(t, grp.ID, false))

	// An expired delta link costs one full sync, which still finds the
	// renamed group by its id.
	// The TTL is long enough for the full sync's own page tokens even on a
	// loaded machine (a 1 s TTL expired them mid-sync in CI, and every
	// retry met the same fate); the clock jump expires the old link only.
	env.Sim.SetDeltaTokenTTL(time.Minute)
	t.Cleanup(func() { env.Sim.SetDeltaTokenTTL(0) })
	env.Sim.Advance(2 * time.Minute)
	syncNow(t, gs)
	third := waitSynced(t, gs, second)
	if third.Mode != v1alpha1.SyncFull || gs.Status.DisplayName != "After Rename" {
		t.Fatalf("after expiry: %+v, %q", third, gs.Status.DisplayName)
	}
	assertMatches(t, readCSV(t, gs), truth(t, grp.ID, false))
}

// A Directory with exports.groups writes groups.csv, and its command
// prints it.
func TestGroupsCSV(t *testing.T) {
	env.Sim.PutGroup(graphsim.Group{DisplayName: "Mail, \"quoted\"", Mail: "m@contoso.com", MailEnabled: true, GroupTypes: []string{"Unified", "DynamicMembership"}})
	ns := env.Namespace(t)
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{Exports: v1alpha1.DirectoryExports{Groups: true}})
	testenv.Eventually(t, 30*time.Second, "groups export", func() bool {
		env.Get(t, dir)
		return dir.Status.GroupsExport != ""
	})
	var cm corev1.ConfigMap
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "tenant-groups"}, &cm); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(testenv.Shell(t, env.Config, dir.Status.GroupsExport))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], export.GroupsHeader) {
		t.Fatalf("header %v", recs[0])
	}
	got := map[string][]string{}
	for _, r := range recs[1:] {
		got[r[0]] = r
	}
	groups := env.Sim.Groups()
	if len(got) != len(groups) {
		t.Errorf("%d rows, %d groups", len(got), len(groups))
	}
	for _, g := range groups {
		want := []string{g.ID, g.DisplayName, g.Mail, strconv.FormatBool(g.SecurityEnabled), strconv.FormatBool(g.MailEnabled), strings.Join(g.GroupTypes, ";")}
		if !slices.Equal(got[g.ID], want) {
			t.Errorf("group %s:\n got  %q\n want %q", g.ID, got[g.ID], want)
		}
	}
}

// importUsers creates an ObserveOnly DirectoryUser per member, owned by the
// GroupSync; a leaver's is labelled removed (not deleted) until retention
// ends; turning the import off removes them.
func TestImportUsers(t *testing.T) {
	ids := putUsers(t, "imp", 3)
	grp := env.Sim.PutGroup(graphsim.Group{DisplayName: "Import", SecurityEnabled: true, Members: ids})
	ns := env.Namespace(t)
	env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	gs := createGroupSync(t, ns, gsOptions{group: v1alpha1.GroupSelector{ID: grp.ID}, importUser: true, retention: 3 * time.Second})
	first := waitSynced(t, gs, nil)

	imported := func() map[string]v1alpha1.DirectoryUser {
		var list v1alpha1.DirectoryUserList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{groupsync.LabelGroupSync: gs.Name}); err != nil {
			t.Fatal(err)
		}
		out := map[string]v1alpha1.DirectoryUser{}
		for _, du := range list.Items {
			out[du.Spec.UserPrincipalName] = du
		}
		return out
	}
	testenv.Eventually(t, 10*time.Second, "3 imported users", func() bool { return len(imported()) == 3 })
	for upn, du := range imported() {
		if du.Spec.ManagementPolicy != v1alpha1.ManagementObserveOnly || du.Spec.DeletionPolicy != v1alpha1.DeletionOrphan ||
			du.Labels[groupsync.LabelMemberState] != groupsync.StateActive || len(du.OwnerReferences) != 1 || du.OwnerReferences[0].UID != gs.UID {
			t.Errorf("imported %s: %+v %v %v", upn, du.Spec, du.Labels, du.OwnerReferences)
		}
	}

	leaver, _ := env.Sim.GetUser(ids[1])
	env.Sim.RemoveMember(grp.ID, ids[1])
	syncNow(t, gs)
	second := waitSynced(t, gs, first)
	testenv.Eventually(t, 10*time.Second, "leaver labelled removed", func() bool {
		du, ok := imported()[leaver.UserPrincipalName]
		return ok && du.Labels[groupsync.LabelMemberState] == groupsync.StateRemoved && du.Annotations[groupsync.AnnotationRemovedAt] != ""
	})

	time.Sleep(4 * time.Second)
	syncNow(t, gs)
	waitSynced(t, gs, second)
	testenv.Eventually(t, 10*time.Second, "leaver's DirectoryUser deleted after retention", func() bool {
		_, ok := imported()[leaver.UserPrincipalName]
		return !ok && len(imported()) == 2
	})
	if _, ok := env.Sim.GetUser(ids[1]); !ok {
		t.Error("deleting the imported DirectoryUser deleted the Entra user")
	}

	env.Get(t, gs)
	gs.Spec.ImportUsers = false
	if err := env.Client.Update(context.Background(), gs); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "import removed", func() bool { return len(imported()) == 0 })
}

// A 429 from Graph makes the sync wait (Ready=False, Throttled,
// Reconciling) and retry after Retry-After, without a Warning event.
func TestThrottledSyncWaitsThenCompletes(t *testing.T) {
	ids := putUsers(t, "thr", 3)
	grp := env.Sim.PutGroup(graphsim.Group{DisplayName: "Throttled", SecurityEnabled: true, Members: ids})
	ns := env.Namespace(t)
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	testenv.Eventually(t, 30*time.Second, "Directory ready", func() bool {
		env.Get(t, dir)
		return meta.IsStatusConditionTrue(dir.Status.Conditions, v1alpha1.ConditionReady)
	})
	env.Sim.SetThrottling(true)
	t.Cleanup(func() { env.Sim.SetThrottling(false) })
	gs := createGroupSync(t, ns, gsOptions{group: v1alpha1.GroupSelector{ID: grp.ID}})
	testenv.Eventually(t, 30*time.Second, "Throttled", func() bool {
		env.Get(t, gs)
		status, reason, _ := readyReason(gs)
		return status == metav1.ConditionFalse && reason == v1alpha1.ReasonThrottled &&
			meta.IsStatusConditionTrue(gs.Status.Conditions, v1alpha1.ConditionReconciling)
	})
	env.Sim.SetThrottling(false)
	waitSynced(t, gs, nil)
	assertMatches(t, readCSV(t, gs), truth(t, grp.ID, false))
	for _, e := range env.Events(t, ns) {
		if strings.HasPrefix(e, v1alpha1.ReasonThrottled) {
			t.Errorf("throttling produced an event: %s", e)
		}
	}
}

// A small group in a large tenant resolves managers per member ($batch)
// instead of sweeping the tenant, and later syncs use the delta links taken
// with $deltatoken=latest.
func TestSmallGroupInLargeTenantPerMember(t *testing.T) {
	gen := env.Sim.Generate(graphsim.GenerateOptions{Users: 6000, ManagersEvery: 5, Seed: 11})
	members := gen.UserIDs[5990:5992]
	grp := env.Sim.PutGroup(graphsim.Group{DisplayName: "Small", SecurityEnabled: true, Members: members})
	ns := env.Namespace(t)
	env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	gs := createGroupSync(t, ns, gsOptions{group: v1alpha1.GroupSelector{ID: grp.ID}})
	first := waitSynced(t, gs, nil)
	if first.ManagerStrategy != v1alpha1.ManagersPerMember || first.ResourceUnits > first.EstimatedResourceUnits {
		t.Errorf("first sync: %+v", first)
	}
	assertMatches(t, readCSV(t, gs), truth(t, grp.ID, false))
	if gs.Status.ManagersResolved != 2 {
		t.Errorf("managersResolved %d", gs.Status.ManagersResolved)
	}

	env.Sim.UpdateUser(members[0], func(u *graphsim.User) { u.ManagerID = gen.UserIDs[0] })
	env.Sim.AddMember(grp.ID, gen.UserIDs[100])
	syncNow(t, gs)
	second := waitSynced(t, gs, first)
	if second.Mode != v1alpha1.SyncDelta || second.Added != 1 || second.Updated != 1 {
		t.Errorf("second sync: %+v", second)
	}
	assertMatches(t, readCSV(t, gs), truth(t, grp.ID, false))
}
