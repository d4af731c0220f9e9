package userdisablebatch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// A manager stopped in the middle of a batch, and a new one started, finish
// it without PATCHing anyone twice. Manager A paces at the real-time quota
// (its budget drained first), so it is stopped after a few chunks.
func TestRestartMidRun(t *testing.T) {
	const n = 200
	ns := env.Namespace(t)
	users := putUsers("restart", n, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	stopA := startManager(t, "restart", slowResolver(t, ns))

	spec := v1alpha1.UserDisableBatchSpec{}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	env.Sim.ResetCounters()
	b := newBatch(ns, "restart", spec)
	b.Labels = map[string]string{ownerLabel: "restart"}
	create(t, b)
	waitFor(t, b, 30*time.Second, 50*time.Millisecond, "some chunks disabled", func() bool { return counts(b).Disabled >= 40 })
	stopA()
	env.Get(t, b)
	t.Logf("manager A stopped with %d of %d disabled", counts(b).Disabled, n)

	startManager(t, "restart", &connection.Resolver{Kube: env.Client, Registry: graph.NewRegistry(), TimeScale: timeScale})
	waitFinished(t, b, 60*time.Second, 200*time.Millisecond)
	sim := batchCounters()
	if b.Status.Phase != v1alpha1.BatchCompleted || counts(b).Disabled != n {
		t.Fatalf("phase %s counts %+v, want Completed with %d disabled", b.Status.Phase, counts(b), n)
	}
	for i, u := range users {
		if w := sim.UserWrites[u.ID]; w != 1 {
			t.Errorf("user %d PATCHed %d times, want 1", i, w)
		}
	}
}

// A manager that crashed after Graph applied some PATCHes but before it
// recorded them: the next one re-reads those users and does not PATCH them
// again, nor the ones recorded Disabled.
func TestResumeAfterCrash(t *testing.T) {
	const n = 60
	ns := env.Namespace(t)
	// 0–19: PATCH applied, not recorded. 20–39: recorded Disabled. 40–59: read, not yet sent.
	users := putUsers("crash", n, func(i int, u *graphsim.User) { u.AccountEnabled = i >= 40 })
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	spec := v1alpha1.UserDisableBatchSpec{}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	b := newBatch(ns, "crash", spec)
	b.Labels = map[string]string{ownerLabel: "crash"}
	create(t, b)

	// The status the crashed manager left behind.
	b.Status.GraphRequests = 5
	var rows []v1alpha1.BatchUserResult
	for i, u := range users {
		row := v1alpha1.BatchUserResult{User: u.UserPrincipalName, ID: u.ID, JobTitle: u.JobTitle, Outcome: v1alpha1.OutcomePending}
		if i >= 20 && i < 40 {
			row.Outcome = v1alpha1.OutcomeDisabled
		} else {
			row.AccountEnabledBefore = boolp(true)
		}
		rows = append(rows, row)
	}
	writeStoppedStatus(t, b, rows)

	env.Sim.ResetCounters()
	startManager(t, "crash", &connection.Resolver{Kube: env.Client, Registry: graph.NewRegistry(), TimeScale: timeScale})
	waitFinished(t, b, 60*time.Second, 100*time.Millisecond)
	sim := batchCounters()
	if b.Status.Phase != v1alpha1.BatchCompleted || counts(b).Disabled != n {
		t.Fatalf("phase %s counts %+v, want Completed with %d disabled", b.Status.Phase, counts(b), n)
	}
	for i, u := range users {
		want := int64(0)
		if i >= 40 {
			want = 1
		}
		if w := sim.UserWrites[u.ID]; w != want {
			t.Errorf("user %d PATCHed %d times, want %d", i, w, want)
		}
		if i < 20 && !strings.Contains(b.Status.Users[i].Message, "found disabled") {
			t.Errorf("row %d message = %q, want it to say the user was found disabled", i, b.Status.Users[i].Message)
		}
	}
	// 40 rows re-read (2 requests) + 20 written (1 request), on top of the 5 already counted.
	if b.Status.GraphRequests != 5+3 || sim.Requests != 3 {
		t.Errorf("graphRequests = %d (emulator %d), want 8 (3 new)", b.Status.GraphRequests, sim.Requests)
	}
}

// A checkpoint stores no rows for listed users not read yet. A manager that
// resumes such a batch takes them from the spec, and leaves the stored rows
// alone.
func TestResumeWithRowsNotReadYet(t *testing.T) {
	const n = 50
	ns := env.Namespace(t)
	users := putUsers("prefix", n, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	spec := v1alpha1.UserDisableBatchSpec{}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	b := newBatch(ns, "prefix", spec)
	b.Labels = map[string]string{ownerLabel: "prefix"}
	create(t, b)
	// Rows 0–9 recorded Disabled, 10–19 read and due; 20–49 not reached.
	var rows []v1alpha1.BatchUserResult
	for i, u := range users[:20] {
		row := v1alpha1.BatchUserResult{User: u.UserPrincipalName, ID: u.ID, Outcome: v1alpha1.OutcomeDisabled}
		if i >= 10 {
			row.Outcome, row.AccountEnabledBefore = v1alpha1.OutcomePending, boolp(true)
		}
		rows = append(rows, row)
	}
	writeStoppedStatus(t, b, rows)
	env.Sim.ResetCounters()
	startManager(t, "prefix", &connection.Resolver{Kube: env.Client, Registry: graph.NewRegistry(), TimeScale: timeScale})
	waitFinished(t, b, 60*time.Second, 100*time.Millisecond)
	sim := batchCounters()
	if b.Status.Phase != v1alpha1.BatchCompleted || len(b.Status.Users) != n || counts(b).Total != n {
		t.Fatalf("phase %s, %d rows, counts %+v; want Completed with %d rows", b.Status.Phase, len(b.Status.Users), counts(b), n)
	}
	for i, u := range users {
		want := int64(1)
		if i < 10 {
			want = 0 // recorded Disabled: never sent again
		}
		if w := sim.UserWrites[u.ID]; w != want {
			t.Errorf("user %d PATCHed %d times, want %d", i, w, want)
		}
		if row := b.Status.Users[i]; row.User != u.UserPrincipalName || row.Outcome != v1alpha1.OutcomeDisabled {
			t.Errorf("row %d = %+v, want %s Disabled", i, row, u.UserPrincipalName)
		}
	}
}

// Items answered 429 inside a $batch are sent again after their Retry-After
// through a requeue, and still reach Graph exactly once. The Directory
// claims ten times the emulator's write quota, so the operator's budget lets
// through more than Graph accepts (as when another tool spends the same
// app's quota). It comes after the other Graph tests: the budget it
// misconfigures is shared by the app and tenant until the next Directory is
// connected.
func TestThrottledItemsRetried(t *testing.T) {
	const n = 3400
	ns := env.Namespace(t)
	users := putUsers("throttled", n, nil)
	tenfold := int32(30000)
	// An app of its own: Directories sharing an app and tenant keep to the
	// most conservative budget among them, so next to the other tests'
	// Directories the tenfold claim would not apply.
	const clientID, secret = "dddddddd-0000-4000-8000-00000000710d", "tenfold-app-secret"
	env.Sim.AddApp(clientID, secret, testenv.AllPermissions...)
	readyDirectory(t, ns, testenv.DirectoryOptions{ClientID: clientID, ClientSecret: secret, Throttle: v1alpha1.ThrottleSpec{WritesPer150s: &tenfold}})
	spec := v1alpha1.UserDisableBatchSpec{}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	drainWriteQuota(t, ns)
	env.Sim.ResetCounters()
	b := newBatch(ns, "throttled", spec)
	create(t, b)
	waitFinished(t, b, 90*time.Second, 500*time.Millisecond)
	sim := batchCounters()
	if b.Status.Phase != v1alpha1.BatchCompleted || counts(b).Disabled != n {
		t.Fatalf("phase %s counts %+v, want Completed with %d disabled", b.Status.Phase, counts(b), n)
	}
	if sim.Throttled == 0 {
		t.Fatalf("no 429 answers: the test did not exercise throttled items")
	}
	for i, u := range users {
		if w := sim.UserWrites[u.ID]; w != 1 {
			t.Errorf("user %d PATCHed %d times, want 1", i, w)
		}
	}
	// Each item answered 429 costs at most one more item in some request.
	if limit := int64(2*n/20) + sim.Throttled; sim.Requests > limit {
		t.Errorf("Graph HTTP requests = %d, want ≤ %d", sim.Requests, limit)
	}
	t.Logf("%d items answered 429 and retried; %d Graph requests", sim.Throttled, sim.Requests)
}

// The sample in config/samples is a valid batch.
func TestSampleIsValid(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "samples", "entra_v1alpha1_userdisablebatch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b := &v1alpha1.UserDisableBatch{}
	if err := yaml.UnmarshalStrict(raw, b); err != nil {
		t.Fatalf("decoding the sample: %v", err)
	}
	b.Namespace = env.Namespace(t)
	b.Labels = map[string]string{ownerLabel: "nobody"}
	if err := env.Client.Create(context.Background(), b); err != nil {
		t.Fatalf("the API server refused the sample: %v", err)
	}
	if !b.Spec.DryRun || b.Spec.DirectoryRef.Name != "tenant" {
		t.Errorf("sample spec = %+v, want a dry run against Directory tenant", b.Spec)
	}
}

// drainWriteQuota spends most of the emulator's write bucket (another tool
// of the same app), so that the batch after it meets 429s whatever the
// tests before it left in the bucket.
func drainWriteQuota(t *testing.T, ns string) {
	t.Helper()
	res := &connection.Resolver{Kube: env.Client, Registry: graph.NewRegistry(), TimeScale: timeScale}
	dir := &v1alpha1.Directory{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "tenant"}, dir); err != nil {
		t.Fatal(err)
	}
	gc, err := connection.Port[*graph.Client](res).Dial(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	others := putUsers("othertool", 100, nil)
	title := "Drained"
	var items []graph.UserUpdateItem
	for range 28 {
		for _, u := range others {
			items = append(items, graph.UserUpdateItem{ID: u.ID, Update: graph.UserUpdate{JobTitle: &title}})
		}
	}
	if _, err := gc.UpdateUsers(context.Background(), items); err != nil {
		t.Logf("draining the write quota stopped early: %v", err)
	}
}
