package userdisablebatch_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// A batch of 100 users mixing enabled, already disabled, missing and
// protected accounts ends with exactly the rows and counts a user expects,
// in two $batch requests per 20 users at most.
func TestMixedBatch(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("mixed", 95, func(i int, u *graphsim.User) {
		u.AccountEnabled = i < 70 || i >= 85
	})
	// 0–69 enabled, 70–84 disabled, 85–94 enabled but protected, 95–99 missing.
	protected := []string{users[85].UserPrincipalName, strings.ToUpper(users[86].UserPrincipalName), users[87].ID, users[88].ID, users[89].UserPrincipalName,
		users[90].UserPrincipalName, users[91].UserPrincipalName, users[92].UserPrincipalName, users[93].UserPrincipalName, users[94].UserPrincipalName}
	readyDirectory(t, ns, testenv.DirectoryOptions{Safety: v1alpha1.SafetySpec{ProtectedUsers: protected}})

	spec := v1alpha1.UserDisableBatchSpec{Reason: "incident INC-42"}
	for i := range 100 {
		switch {
		case i >= 95:
			spec.Users = append(spec.Users, "missing"+string(rune('a'+i-95))+"@contoso.com")
		case i%10 == 3:
			spec.Users = append(spec.Users, users[i].ID) // object IDs work as well as UPNs
		default:
			spec.Users = append(spec.Users, users[i].UserPrincipalName)
		}
	}
	env.Sim.ResetCounters()
	b := newBatch(ns, "mixed", spec)
	create(t, b)
	waitFinished(t, b, 60*time.Second, 200*time.Millisecond)
	sim := batchCounters()

	if b.Status.Phase != v1alpha1.BatchCompleted {
		t.Fatalf("phase = %s, want Completed; conditions %+v", b.Status.Phase, b.Status.Conditions)
	}
	want := v1alpha1.BatchCounts{Total: 100, Disabled: 70, AlreadyDisabled: 15, NotFound: 5, Protected: 10}
	if counts(b) != want {
		t.Errorf("counts = %+v, want %+v", counts(b), want)
	}
	if len(b.Status.Users) != 100 {
		t.Fatalf("rows = %d, want 100", len(b.Status.Users))
	}
	checkMixedRows(t, b, spec.Users, users, sim)

	// 5 reads + 4 writes of 20 (70 users) — the bound is 2·ceil(100/20),
	// plus one per item answered 429 and sent again.
	limit := int64(2*5) + sim.Throttled
	if sim.Requests > limit {
		t.Errorf("Graph HTTP requests = %d (%v), want ≤ %d", sim.Requests, sim.ByEndpoint, limit)
	}
	if b.Status.GraphRequests != sim.Requests {
		t.Errorf("status.graphRequests = %d, emulator counted %d", b.Status.GraphRequests, sim.Requests)
	}
	t.Logf("Graph requests: %d (%d batch items, %d throttled)", sim.Requests, sim.BatchItems, sim.Throttled)

	ready := condition(b, v1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != v1alpha1.ReasonCompleted || ready.ObservedGeneration != b.Generation {
		t.Errorf("Ready = %+v, want True/Completed for generation %d", ready, b.Generation)
	}
	if condition(b, v1alpha1.ConditionReconciling) != nil {
		t.Errorf("Reconciling condition left on a finished batch")
	}
	if b.Status.StartedAt == nil || b.Status.CompletedAt == nil || b.Status.CompletedAt.Before(b.Status.StartedAt) {
		t.Errorf("startedAt/completedAt = %v/%v", b.Status.StartedAt, b.Status.CompletedAt)
	}
	wantEvent := "Completed: Disabled 70 of 100 users: 15 already disabled, 5 not found, 10 protected, 0 failed (reason: incident INC-42)"
	testenv.Eventually(t, 10*time.Second, "completion event", func() bool {
		return len(eventsContaining(t, ns, wantEvent)) == 1
	})
	env.AssertNoSecrets(t, ns, b.Status.Conditions[0].Message, testenv.ClientSecret)
}

// checkMixedRows checks TestMixedBatch's rows: spec order, each user's id
// and title, and each outcome with the writes it took.
func checkMixedRows(t *testing.T, b *v1alpha1.UserDisableBatch, specUsers []string, users []graphsim.User, sim graphsim.Counters) {
	t.Helper()
	for i, row := range b.Status.Users {
		if row.User != specUsers[i] {
			t.Errorf("row %d user = %q, want %q (spec order)", i, row.User, specUsers[i])
		}
		if i >= 95 {
			if row.Outcome != v1alpha1.OutcomeNotFound || row.ID != "" {
				t.Errorf("row %d = %+v, want NotFound without id", i, row)
			}
			continue
		}
		u := users[i]
		if row.ID != u.ID || row.JobTitle != u.JobTitle {
			t.Errorf("row %d id/jobTitle = %q/%q, want %q and %q (every run answers the batch query)", i, row.ID, row.JobTitle, u.ID, u.JobTitle)
		}
		live, _ := env.Sim.GetUser(u.ID)
		writes := sim.UserWrites[u.ID]
		switch {
		case i < 70:
			if row.Outcome != v1alpha1.OutcomeDisabled || live.AccountEnabled || writes != 1 {
				t.Errorf("row %d = %+v, live enabled %v, writes %d; want Disabled by exactly one write", i, row, live.AccountEnabled, writes)
			}
		case i < 85:
			if row.Outcome != v1alpha1.OutcomeAlreadyDisabled || writes != 0 {
				t.Errorf("row %d = %+v, writes %d; want AlreadyDisabled, no write", i, row, writes)
			}
		default:
			if row.Outcome != v1alpha1.OutcomeProtected || row.AccountEnabled == nil || !*row.AccountEnabled ||
				!strings.Contains(row.Message, "protectedUsers") || !live.AccountEnabled || writes != 0 {
				t.Errorf("row %d = %+v, live enabled %v, writes %d; want Protected, still enabled, no write", i, row, live.AccountEnabled, writes)
			}
		}
	}
}

// A dry run reads jobTitle and accountEnabled as they are live, and writes
// nothing.
func TestDryRun(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("dry", 28, func(i int, u *graphsim.User) { u.AccountEnabled = i%4 != 0 })
	readyDirectory(t, ns, testenv.DirectoryOptions{Safety: v1alpha1.SafetySpec{ProtectedUsers: []string{users[1].UserPrincipalName}}})
	// Changed in the portal after the fixture: the batch must report this.
	env.Sim.UpdateUser(users[2].ID, func(u *graphsim.User) { u.JobTitle = "Chief Audit Executive"; u.AccountEnabled = false })
	users[2].JobTitle, users[2].AccountEnabled = "Chief Audit Executive", false

	spec := v1alpha1.UserDisableBatchSpec{DryRun: true}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	spec.Users = append(spec.Users, "nobody1@contoso.com", "nobody2@contoso.com")
	env.Sim.ResetCounters()
	b := newBatch(ns, "dry", spec)
	create(t, b)
	waitFinished(t, b, 60*time.Second, 200*time.Millisecond)
	sim := batchCounters()

	if b.Status.Phase != v1alpha1.BatchCompleted {
		t.Fatalf("phase = %s, want Completed", b.Status.Phase)
	}
	if sim.Writes != 0 || len(sim.UserWrites) != 0 {
		t.Errorf("dry run wrote: %d writes, per user %v", sim.Writes, sim.UserWrites)
	}
	// The protected user is counted as such: the dry run says what a real run would do.
	if want := (v1alpha1.BatchCounts{Total: 30, Queried: 27, Protected: 1, NotFound: 2}); counts(b) != want {
		t.Errorf("counts = %+v, want %+v", counts(b), want)
	}
	for i, u := range users {
		row := b.Status.Users[i]
		want := v1alpha1.OutcomeQueried
		if i == 1 {
			want = v1alpha1.OutcomeProtected
		}
		if row.Outcome != want || row.ID != u.ID || row.JobTitle != u.JobTitle ||
			row.AccountEnabled == nil || *row.AccountEnabled != u.AccountEnabled || row.AccountEnabledBefore != nil {
			t.Errorf("row %d = %+v, want %s with live jobTitle %q and accountEnabled %v", i, row, want, u.JobTitle, u.AccountEnabled)
		}
		if live, _ := env.Sim.GetUser(u.ID); live.AccountEnabled != u.AccountEnabled {
			t.Errorf("user %d changed by a dry run", i)
		}
	}
	if msg := b.Status.Users[1].Message; !strings.Contains(msg, "protected") {
		t.Errorf("protected user's row message = %q, want it to say it is protected", msg)
	}
	if sim.Requests > 2 {
		t.Errorf("Graph HTTP requests = %d, want ≤ 2 (30 users, 20 per $batch)", sim.Requests)
	}
	if ready := condition(b, v1alpha1.ConditionReady); ready == nil || !strings.Contains(ready.Message, "dry run") {
		t.Errorf("Ready = %+v, want a dry-run summary", ready)
	}
}

// The spec cannot change after creation; the API server says why.
func TestSpecImmutable(t *testing.T) {
	ns := env.Namespace(t)
	b := newBatch(ns, "frozen", v1alpha1.UserDisableBatchSpec{DryRun: true, Users: []string{"someone@contoso.com"}})
	b.Labels = map[string]string{ownerLabel: "nobody"} // no Directory needed: nothing runs it
	create(t, b)
	b.Spec.Users = append(b.Spec.Users, "someone.else@contoso.com")
	err := env.Client.Update(context.Background(), b)
	if err == nil || !strings.Contains(err.Error(), "spec is immutable: create a new UserDisableBatch instead of editing this one") {
		t.Fatalf("editing the spec: err = %v, want the immutability message", err)
	}

	both := newBatch(ns, "both", v1alpha1.UserDisableBatchSpec{Users: []string{"a@contoso.com"},
		Group: &v1alpha1.BatchGroupSelector{GroupSelector: v1alpha1.GroupSelector{ID: "g"}}})
	if err := env.Client.Create(context.Background(), both); err == nil || !strings.Contains(err.Error(), "set exactly one of users, group, filter or inactiveFor") {
		t.Errorf("users and group together: err = %v", err)
	}
}

// A batch listing a user twice (UPNs compare case-insensitively) fails
// before any Graph call.
func TestDuplicateUsersFail(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	env.Sim.ResetCounters()
	b := newBatch(ns, "dupes", v1alpha1.UserDisableBatchSpec{Users: []string{"Twice@contoso.com", "other@contoso.com", "twice@CONTOSO.com"}})
	create(t, b)
	waitFinished(t, b, 30*time.Second, 100*time.Millisecond)
	if b.Status.Phase != v1alpha1.BatchFailed {
		t.Fatalf("phase = %s, want Failed", b.Status.Phase)
	}
	stalled := condition(b, v1alpha1.ConditionStalled)
	if stalled == nil || stalled.Reason != v1alpha1.ReasonInvalidSpec || !strings.Contains(stalled.Message, "users[2]") {
		t.Errorf("Stalled = %+v, want InvalidSpec naming users[2]", stalled)
	}
	if c := batchCounters(); c.Requests != 0 {
		t.Errorf("Graph requests = %d, want 0", c.Requests)
	}
}

// A group batch freezes the member list when it starts: users added to the
// group while it runs (it is paced at 20 writes/s here) are not disabled.
func TestGroupBatchFreezesMembers(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("grp", 61, nil)
	g := env.Sim.PutGroup(graphsim.Group{DisplayName: "Offboarding " + ns, SecurityEnabled: true})
	for _, u := range users[:60] {
		env.Sim.AddMember(g.ID, u.ID)
	}
	late := users[60]
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	startManager(t, "group", slowResolver(t, ns))

	b := newBatch(ns, "group", v1alpha1.UserDisableBatchSpec{
		Group: &v1alpha1.BatchGroupSelector{GroupSelector: v1alpha1.GroupSelector{DisplayName: g.DisplayName}},
	})
	b.Labels = map[string]string{ownerLabel: "group"}
	create(t, b)
	waitFor(t, b, 30*time.Second, 50*time.Millisecond, "members resolved", func() bool { return b.Status.GroupID != "" })
	if b.Status.Phase != v1alpha1.BatchRunning {
		t.Fatalf("phase = %s when the members were resolved, want Running (the test needs a batch in progress)", b.Status.Phase)
	}
	env.Sim.AddMember(g.ID, late.ID)
	waitFinished(t, b, 30*time.Second, 100*time.Millisecond)

	if b.Status.Phase != v1alpha1.BatchCompleted || b.Status.GroupID != g.ID {
		t.Fatalf("phase %s groupId %q, want Completed and %q", b.Status.Phase, b.Status.GroupID, g.ID)
	}
	if want := (v1alpha1.BatchCounts{Total: 60, Disabled: 60}); counts(b) != want {
		t.Errorf("counts = %+v, want %+v", counts(b), want)
	}
	for _, row := range b.Status.Users {
		if row.ID == late.ID {
			t.Errorf("member added after the start is in the batch: %+v", row)
		}
	}
	if live, _ := env.Sim.GetUser(late.ID); !live.AccountEnabled {
		t.Errorf("member added after the start was disabled")
	}

	missing := newBatch(ns, "no-group", v1alpha1.UserDisableBatchSpec{
		Group: &v1alpha1.BatchGroupSelector{GroupSelector: v1alpha1.GroupSelector{DisplayName: "No Such Group " + ns}},
	})
	create(t, missing)
	waitFinished(t, missing, 30*time.Second, 100*time.Millisecond)
	if st := condition(missing, v1alpha1.ConditionStalled); missing.Status.Phase != v1alpha1.BatchFailed || st == nil || st.Reason != v1alpha1.ReasonGroupNotFound {
		t.Errorf("missing group: phase %s, Stalled %+v; want Failed/GroupNotFound", missing.Status.Phase, st)
	}
	testenv.Eventually(t, 10*time.Second, "failure event", func() bool {
		return len(eventsContaining(t, ns, "GroupNotFound: no group is named")) == 1
	})
}

// revokeSessions signs every disabled user out, once.
func TestRevokeSessions(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("revoke", 5, func(i int, u *graphsim.User) { u.AccountEnabled = i != 4 })
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	spec := v1alpha1.UserDisableBatchSpec{RevokeSessions: true}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	env.Sim.ResetCounters()
	b := newBatch(ns, "revoke", spec)
	create(t, b)
	waitFinished(t, b, 30*time.Second, 100*time.Millisecond)
	if b.Status.Phase != v1alpha1.BatchCompleted {
		t.Fatalf("phase = %s, want Completed", b.Status.Phase)
	}
	sim := batchCounters()
	revokes := int64(0)
	for ep, n := range sim.ByEndpoint {
		if strings.Contains(ep, "revokeSignInSessions") {
			revokes += n
		}
	}
	if revokes != 4 {
		t.Errorf("revokeSignInSessions calls = %d, want 4 (%v)", revokes, sim.ByEndpoint)
	}
	for i, row := range b.Status.Users[:4] {
		if row.Outcome != v1alpha1.OutcomeDisabled || row.SessionsRevoked == nil || !*row.SessionsRevoked {
			t.Errorf("row %d = %+v, want Disabled with sessions revoked", i, row)
		}
	}
	if row := b.Status.Users[4]; row.Outcome != v1alpha1.OutcomeAlreadyDisabled || row.SessionsRevoked != nil {
		t.Errorf("already disabled row = %+v, want no revocation", row)
	}
}

// 5,000 users with Graph's throttling on at the L tenant's quota (time
// compressed 10×): the batch completes, paced by the shared budget, with
// every user PATCHed exactly once and the object well under 1 MiB.
func TestLargeBatchThrottled(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 users")
	}
	const n = 5000
	ns := env.Namespace(t)
	users := putUsers("large.batch.user", n, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	spec := v1alpha1.UserDisableBatchSpec{Reason: "tenant-wide incident response"}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	dir := &v1alpha1.Directory{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "tenant"}, dir); err != nil {
		t.Fatal(err)
	}
	gc, err := connection.Port[*graph.Client](env.Resolver).Dial(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	// Sample the shared budget's pace while the batch runs: below 1, the
	// client holds itself under the quota.
	minPace, sampling := 1.0, make(chan struct{})
	go func() {
		defer close(sampling)
		deadline := time.Now().Add(150 * time.Second)
		for b := gc.Budget(); ; time.Sleep(100 * time.Millisecond) {
			minPace = min(minPace, b.Stats().Pace)
			if gc.Usage().Writes >= n || time.Now().After(deadline) {
				return
			}
		}
	}()
	env.Sim.ResetCounters()
	start := time.Now()
	b := newBatch(ns, "large", spec)
	create(t, b)
	waitFinished(t, b, 150*time.Second, time.Second)
	elapsed := time.Since(start)
	sim := batchCounters()
	<-sampling

	if b.Status.Phase != v1alpha1.BatchCompleted || counts(b).Disabled != n {
		t.Fatalf("phase %s counts %+v, want Completed with %d disabled", b.Status.Phase, counts(b), n)
	}
	twice := 0
	for _, u := range users {
		if sim.UserWrites[u.ID] != 1 {
			twice++
		}
	}
	if twice > 0 {
		t.Errorf("%d users were not PATCHed exactly once", twice)
	}
	size := objectSize(t, b)
	if size >= 1<<20 {
		t.Errorf("object size %d bytes, want < 1 MiB", size)
	}
	// What the quota allows: the write bucket starts full (3,000) and then
	// refills at 3,000 per 150 s / timeScale.
	quotaRate := 3000.0 / 150 * timeScale
	minSeconds := (n - 3000) / quotaRate
	run := b.Status.CompletedAt.Sub(b.Status.StartedAt.Time).Seconds()
	share := float64(sim.Throttled) / float64(max(sim.Writes, 1))
	t.Logf("5,000 users: object %d bytes (%.0f%% of 1 MiB); run %.1fs (status timestamps, 1 s resolution), test %.1fs; "+
		"quota allows it in %.1fs at the earliest; Graph requests %d, writes %d, 429 answers %d (%.2f%% of writes)",
		size, 100*float64(size)/(1<<20), run, elapsed.Seconds(), minSeconds, sim.Requests, sim.Writes, sim.Throttled, 100*share)
	t.Logf("shared budget: lowest pace during the run %.2f (1 = the full quota), last x-ms-throttle-limit-percentage %.2f",
		minPace, gc.Budget().Stats().LimitPercentage)
	if share > 0.01 {
		t.Errorf("%.2f%% of writes answered 429, want ≤ 1%%", 100*share)
	}
}

// A large batch starts disabling after its first wave of reads instead of
// after reading every row: until the first write, Graph's write bucket is
// full and its refill is lost. Reads keep running ahead of the writes.
func TestWritesStartBeforeEveryRowIsRead(t *testing.T) {
	const n = 2000
	ns := env.Namespace(t)
	users := putUsers("early", n, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	spec := v1alpha1.UserDisableBatchSpec{}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	env.Sim.ResetCounters()
	b := newBatch(ns, "early", spec)
	create(t, b)
	var readsAtFirstWrite int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := batchCounters()
		if c.Writes > 0 {
			readsAtFirstWrite = c.ByEndpoint["GET /users/{id}"]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no write within 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	waitFinished(t, b, 60*time.Second, 200*time.Millisecond)
	sim := batchCounters()
	if b.Status.Phase != v1alpha1.BatchCompleted || counts(b).Disabled != n {
		t.Fatalf("phase %s counts %+v, want Completed with %d disabled", b.Status.Phase, counts(b), n)
	}
	t.Logf("%d of %d users read when the first write reached Graph; %d requests in all", readsAtFirstWrite, n, sim.Requests)
	if readsAtFirstWrite >= n/2 {
		t.Errorf("%d of %d users were read before the first write, want writes to start after the first wave of reads", readsAtFirstWrite, n)
	}
	for i, u := range users {
		if w := sim.UserWrites[u.ID]; w != 1 {
			t.Errorf("user %d PATCHed %d times, want 1", i, w)
		}
	}
	// One read and one write per 20 users, plus a partly filled write
	// $batch now and then while reads are still being recorded.
	if limit := int64(2*n/20) + 10 + sim.Throttled; sim.Requests > limit {
		t.Errorf("Graph HTTP requests = %d, want ≤ %d", sim.Requests, limit)
	}
}
