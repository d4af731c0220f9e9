package userdisablebatch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/userdisablebatch"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// emulatorLag is the replication lag of the fault tests: long enough that
// a read right after a lost write answer is stale.
const emulatorLag = time.Second

// withFaults turns on injected 503/504s (half of the write 504s applied)
// and replication lag until the test ends.
func withFaults(t *testing.T, rate float64) {
	t.Helper()
	env.Sim.SetFailureRate(rate)
	env.Sim.SetReplicationLag(emulatorLag)
	t.Cleanup(func() {
		env.Sim.SetFailureRate(0)
		env.Sim.SetReplicationLag(0)
	})
}

// waitsOutLag makes a reconciler confirm lost writes after the emulator's lag.
func waitsOutLag(r *userdisablebatch.Reconciler) {
	r.ReplicationLag = emulatorLag + 500*time.Millisecond
}

// assertOneWriteEach checks what a user would: every listed account is
// disabled in Graph, its row says Disabled, and it was written exactly once.
func assertOneWriteEach(t *testing.T, b *v1alpha1.UserDisableBatch, users []graphsim.User, sim graphsim.Counters) {
	t.Helper()
	if b.Status.Phase != v1alpha1.BatchCompleted || counts(b).Disabled != int32(len(users)) {
		t.Errorf("phase %s counts %+v, want Completed with %d disabled", b.Status.Phase, counts(b), len(users))
	}
	maxWrites, ambiguous := int64(0), 0
	for i, u := range users {
		live, _ := env.Sim.GetUser(u.ID)
		w := sim.UserWrites[u.ID]
		maxWrites = max(maxWrites, w)
		if row := b.Status.Users[i]; row.Outcome != v1alpha1.OutcomeDisabled || live.AccountEnabled || w != 1 {
			t.Errorf("user %d: row %+v, live enabled %v, PATCHes applied %d; want Disabled by exactly one", i, row, live.AccountEnabled, w)
		}
		if b.Status.Users[i].Message != "" {
			ambiguous++
		}
	}
	t.Logf("%d users: max %d PATCH per user, %d rows confirmed after a lost answer, %d Graph requests, %d answered 503/504",
		len(users), maxWrites, ambiguous, sim.Requests, sim.ByStatus[503]+sim.ByStatus[504])
}

// A batch of 400 users at 8 % injected faults (lost write answers among
// them) and 1 s replication lag completes with every row correct and
// exactly one PATCH per user: a lost answer is confirmed by a read after
// the lag window, never by writing again.
func TestFaultsAndLag(t *testing.T) {
	const n = 400
	ns := env.Namespace(t)
	users := putUsers("faulty", n, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	startManager(t, "faults", &connection.Resolver{Kube: env.Client, Registry: graph.NewRegistry(), TimeScale: timeScale}, waitsOutLag)
	spec := v1alpha1.UserDisableBatchSpec{}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	withFaults(t, 0.08)
	env.Sim.ResetCounters()
	b := newBatch(ns, "faults", spec)
	b.Labels = map[string]string{ownerLabel: "faults"}
	start := time.Now()
	create(t, b)
	waitFinished(t, b, 90*time.Second, 200*time.Millisecond)
	t.Logf("completed in %s", time.Since(start).Round(100*time.Millisecond))
	sim := env.Sim.Counters()
	if sim.ByStatus[504] == 0 {
		t.Fatalf("no 504 answers: the test did not exercise lost write answers")
	}
	assertOneWriteEach(t, b, users, sim)
}

// A manager restarted twice in the middle of a 300-user batch, with faults
// and lag throughout, still finishes it with one PATCH per user: resuming
// confirms the rows that may have been written chunk by chunk, and a row
// that fails is retried on its own instead of restarting the pass.
func TestResumeUnderFaults(t *testing.T) {
	const n = 300
	ns := env.Namespace(t)
	users := putUsers("resumefault", n, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	spec := v1alpha1.UserDisableBatchSpec{}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	withFaults(t, 0.10)
	env.Sim.ResetCounters()
	b := newBatch(ns, "resumefault", spec)
	b.Labels = map[string]string{ownerLabel: "resumefault"}
	create(t, b)
	for round, atLeast := range []int32{40, 120} {
		stop := startManager(t, "resumefault", slowResolver(t, ns), waitsOutLag)
		waitFor(t, b, 60*time.Second, 50*time.Millisecond, fmt.Sprintf("%d disabled", atLeast),
			func() bool { return counts(b).Disabled >= atLeast })
		stop()
		env.Get(t, b)
		t.Logf("manager %d stopped with %d of %d disabled", round+1, counts(b).Disabled, n)
	}
	startManager(t, "resumefault", &connection.Resolver{Kube: env.Client, Registry: graph.NewRegistry(), TimeScale: timeScale}, waitsOutLag)
	waitFinished(t, b, 90*time.Second, 200*time.Millisecond)
	assertOneWriteEach(t, b, users, env.Sim.Counters())
}
