package directoryuser_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

func objectKey(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

// createMany creates the DirectoryUsers with a few parallel writers, as
// `kubectl apply` of a large manifest would.
func createMany(t *testing.T, dus []*v1alpha1.DirectoryUser) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(dus))
	work := make(chan *v1alpha1.DirectoryUser)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for du := range work {
				if err := env.Client.Create(ctx(), du); err != nil {
					errs <- fmt.Errorf("creating %s: %w", du.Name, err)
				}
			}
		}()
	}
	for _, du := range dus {
		work <- du
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// countReady lists the namespace and counts DirectoryUsers Ready for their
// current generation.
func countReady(t *testing.T, ns string) (ready, total int) {
	t.Helper()
	var list v1alpha1.DirectoryUserList
	if err := env.Client.List(ctx(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		if ctrlkit.IsReady(&list.Items[i].Status.CommonStatus, list.Items[i].Generation) {
			ready++
		}
	}
	return ready, len(list.Items)
}

func waitAllReady(t *testing.T, ns string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ready, total := countReady(t, ns)
		if ready == n && total == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d of %d DirectoryUsers Ready", timeout, ready, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestReplicationLagStillOnePostPerUser(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	const lag = 3 * time.Second
	env.Sim.SetReplicationLag(lag)
	t.Cleanup(func() { env.Sim.SetReplicationLag(0) })
	postsBefore := endpoint(env.Sim.Counters(), "POST /users")

	const n = 5
	var dus []*v1alpha1.DirectoryUser
	for i := range n {
		du := newUser(ns, fmt.Sprintf("lag-%d", i), fmt.Sprintf("larry.lag%d@contoso.com", i))
		du.Spec.JobTitle = str("Lagging")
		// Resync right away so reads hit the user while it is invisible.
		du.Spec.Interval = &metav1.Duration{Duration: 300 * time.Millisecond}
		du.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
		dus = append(dus, du)
	}
	start := time.Now()
	create(t, toObjects(dus)...)
	cleanup(t, dus...)
	sawLag := false
	deadline := start.Add(lag + 20*time.Second)
	for {
		ready := 0
		for _, du := range dus {
			if c := condition(t, du, v1alpha1.ConditionReady); c != nil {
				sawLag = sawLag || c.Reason == v1alpha1.ReasonReplicationLag
				if c.Status == metav1.ConditionTrue {
					ready++
				}
			}
		}
		// Ready, and past the lag window, so reads saw the user for real.
		if ready == n && time.Since(start) > lag+time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Ready after the replication lag", ready, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sawLag {
		t.Logf("no read hit the lag window (the reconciles were too fast to observe it)")
	}
	if p := endpoint(env.Sim.Counters(), "POST /users") - postsBefore; p != n {
		t.Errorf("POST /users = %d for %d users, want exactly one each", p, n)
	}
	for _, du := range dus {
		env.Get(t, du)
		if u := simUser(t, du.Spec.UserPrincipalName); u.ID != du.Status.ID || u.JobTitle != "Lagging" {
			t.Errorf("%s: emulator user %s/%q, status id %s", du.Name, u.ID, u.JobTitle, du.Status.ID)
		}
	}
}

func TestThrottlingConvergesWithoutHotLoop(t *testing.T) {
	env.Sim.SetThrottling(true)
	t.Cleanup(func() { env.Sim.SetThrottling(false) })
	// 1.5 times the emulator's write budget: creating them all needs the
	// budget to refill.
	n := writesPer150s * 3 / 2

	t.Run("client budget matches Graph's", func(t *testing.T) {
		writes := int32(writesPer150s)
		// Its own app: Directories of one app+tenant share the most
		// conservative budget, and this low one must not slow later tests.
		const clientID, secret = "aaaaaaaa-0000-0000-0000-0000000b0d9e", "budget-app-secret-1"
		env.Sim.AddApp(clientID, secret, testenv.AllPermissions...)
		throttledConvergence(t, n, "budget", testenv.DirectoryOptions{ClientID: clientID, ClientSecret: secret,
			Throttle: v1alpha1.ThrottleSpec{WritesPer150s: &writes}})
	})
	t.Run("Graph answers 429 with Retry-After", func(t *testing.T) {
		// Another app (so another client-side budget) whose budget is the
		// published 3,000 writes: only Graph's 429s can slow it down, as when
		// other tools share the tenant's quota.
		const clientID, secret = "aaaaaaaa-0000-0000-0000-00000000da7a", "throttle-app-secret-1"
		env.Sim.AddApp(clientID, secret, testenv.AllPermissions...)
		cnt := throttledConvergence(t, n, "retry", testenv.DirectoryOptions{ClientID: clientID, ClientSecret: secret})
		if cnt.Throttled == 0 {
			t.Errorf("Graph never answered 429: the test did not exercise Retry-After")
		}
	})
}

// throttledConvergence creates n users against a throttled emulator and
// checks they converge no faster than the write budget allows and without
// spinning.
func throttledConvergence(t *testing.T, n int, prefix string, dirOpts testenv.DirectoryOptions) graphsimCounters {
	ns := env.Namespace(t)
	readyDirectory(t, ns, dirOpts)
	before := env.Sim.Counters()
	var dus []*v1alpha1.DirectoryUser
	for i := range n {
		du := newUser(ns, fmt.Sprintf("thr-%d", i), fmt.Sprintf("theo.%s%d@contoso.com", prefix, i))
		du.Spec.JobTitle = str("Patient")
		// Cleanup then costs no Graph writes that later tests would count.
		du.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
		dus = append(dus, du)
	}
	start := time.Now()
	createMany(t, dus)
	cleanup(t, dus...)
	waitAllReady(t, ns, n, 90*time.Second)
	elapsed := time.Since(start)
	delta := graphDelta(before, env.Sim.Counters())
	recs := reconciles.get(ns)
	t.Logf("%d users converged in %s with the emulator at %d writes/150 s (TimeScale %d): %d reconciles; Graph saw %s",
		n, elapsed.Round(time.Millisecond), writesPer150s, timeScale, recs, describe(delta))
	// Without throttling each user takes 1–2 reconciles; every throttled
	// attempt waits for Retry-After (or the budget's own wait). A hot loop
	// would run thousands.
	if limit := 10 * n; recs > limit {
		t.Errorf("%d reconciles for %d users (limit %d): requeues do not follow Retry-After", recs, n, limit)
	}
	if p := endpoint(delta, "POST /users"); p < int64(n) {
		t.Errorf("POST /users = %d, want at least %d", p, n)
	}
	for _, du := range dus {
		if _, ok := env.Sim.GetUser(du.Spec.UserPrincipalName); !ok {
			t.Errorf("%s missing in the emulator", du.Spec.UserPrincipalName)
		}
	}
	// The write budget refills at writesPer150s per 150 s / TimeScale, so
	// the writes beyond one bucket cannot all be done sooner than this.
	refill := time.Duration(float64(n-writesPer150s) / writesPer150s * float64(150*time.Second) / timeScale)
	if elapsed < refill*8/10 {
		t.Errorf("converged in %s, faster than the write budget allows (%s)", elapsed, refill)
	}
	return delta
}

func TestThousandUsersBecomeReady(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 users: skipped with -short")
	}
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	const n = 1000
	dus := make([]*v1alpha1.DirectoryUser, n)
	for i := range n {
		du := newUser(ns, fmt.Sprintf("bulk-%04d", i), fmt.Sprintf("bulk.user%04d@contoso.com", i))
		du.Spec.DisplayName = fmt.Sprintf("Bulk User %04d", i)
		du.Spec.Department = str("Load Test")
		if i%10 != 0 {
			// Every tenth user manages the nine after it.
			du.Spec.Manager = &v1alpha1.ManagerReference{UserRef: &v1alpha1.LocalObjectReference{Name: fmt.Sprintf("bulk-%04d", i-i%10)}}
		}
		dus[i] = du
	}
	before := env.Sim.Counters()
	start := time.Now()
	createMany(t, dus)
	applied := time.Since(start)
	waitAllReady(t, ns, n, 4*time.Minute)
	elapsed := time.Since(start)
	after := env.Sim.Counters()
	delta := graphDelta(before, after)
	t.Logf("%d DirectoryUsers (900 with a manager) applied in %s, all Ready after %s: Graph saw %s; POST /users %d, GET /users/{id} %d, PUT manager %d; %d reconciles",
		n, applied.Round(time.Millisecond), elapsed.Round(time.Millisecond), describe(delta),
		endpoint(delta, "POST /users"), endpoint(delta, "GET /users/{id}"), endpoint(delta, "PUT /users/{id}/manager/$ref"), reconciles.get(ns))
	if p := endpoint(delta, "POST /users"); p != n {
		t.Errorf("POST /users = %d, want %d", p, n)
	}
	// A spot check that Ready means what it says.
	du := dus[n-1]
	env.Get(t, du)
	if u := simUser(t, du.Status.ID); u.ManagerID == "" || u.Department != "Load Test" || !meta.IsStatusConditionTrue(du.Status.Conditions, v1alpha1.ConditionSynced) {
		t.Errorf("last user not converged: %+v", u)
	}
}

func graphDelta(before, after graphsimCounters) graphsimCounters {
	d := after
	d.Requests -= before.Requests
	d.BatchItems -= before.BatchItems
	d.Writes -= before.Writes
	d.Throttled -= before.Throttled
	d.ResourceUnits -= before.ResourceUnits
	d.ByEndpoint = map[string]int64{}
	for k, v := range after.ByEndpoint {
		d.ByEndpoint[k] = v - before.ByEndpoint[k]
	}
	return d
}

func toObjects(dus []*v1alpha1.DirectoryUser) []client.Object {
	out := make([]client.Object, len(dus))
	for i, du := range dus {
		out[i] = du
	}
	return out
}
