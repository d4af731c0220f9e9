package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/internal/graphsim"
)

// Concurrent UpdateUser and SetManager calls of different users share
// $batch envelopes; each caller gets its own answer (NotFound for a missing
// user) and every change lands in the directory.
func TestUpdateUserCoalescesConcurrentWrites(t *testing.T) {
	sim, cfg := startSim(t, graphsim.Options{Latency: 20 * time.Millisecond}, "User.ReadWrite.All")
	boss := sim.PutUser(graphsim.User{UserPrincipalName: "boss@contoso.com", DisplayName: "Boss", AccountEnabled: true})
	const n, managed, missing = 100, 20, 10
	ids := make([]string, n)
	for i := range ids {
		ids[i] = sim.PutUser(graphsim.User{UserPrincipalName: fmt.Sprintf("w%03d@contoso.com", i), DisplayName: fmt.Sprint(i), AccountEnabled: true}).ID
	}
	c := mustClient(t, cfg)
	ctx := context.Background()
	if _, err := c.GetUser(ctx, boss.ID); err != nil { // token, connection
		t.Fatal(err)
	}
	sim.ResetCounters()

	var wg sync.WaitGroup
	errs := make(chan error, n+managed+missing)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
		}()
	}
	for i := range n {
		run(func() error {
			title := fmt.Sprintf("title %d", i)
			if err := c.UpdateUser(ctx, ids[i], UserUpdate{JobTitle: &title}); err != nil {
				return fmt.Errorf("update %d: %v", i, err)
			}
			return nil
		})
	}
	for i := range managed {
		run(func() error {
			if err := c.SetManager(ctx, ids[i], boss.ID); err != nil {
				return fmt.Errorf("set manager %d: %v", i, err)
			}
			return nil
		})
	}
	for i := range missing {
		run(func() error {
			title := "x"
			if err := c.UpdateUser(ctx, fmt.Sprintf("missing%d@contoso.com", i), UserUpdate{JobTitle: &title}); !IsNotFound(err) {
				return fmt.Errorf("missing user %d: err = %v, want NotFound", i, err)
			}
			return nil
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, id := range ids {
		u, _ := sim.GetUser(id)
		if u.JobTitle != fmt.Sprintf("title %d", i) || (i < managed) != (u.ManagerID == boss.ID) {
			t.Errorf("user %d: jobTitle %q, manager %q", i, u.JobTitle, u.ManagerID)
		}
	}
	got := sim.Counters()
	// 130 writes of 110 users: ≥ 7 envelopes, and a few more because a
	// user's second write waits for its first.
	if got.Requests > 12 {
		t.Errorf("130 concurrent writes took %d HTTP requests (%v), want ≤ 12", got.Requests, got.ByEndpoint)
	}
	if u := c.Usage(); u.Writes != n+managed+missing || u.Throttled != 0 {
		t.Errorf("client usage %+v: want %d writes, no 429", u, n+managed+missing)
	}
	t.Logf("130 concurrent writes: %d HTTP requests, %d batch items", got.Requests, got.BatchItems)

	// Alone, a write is a plain PATCH: no envelope, no added wait.
	sim.ResetCounters()
	title := "alone"
	if err := c.UpdateUser(ctx, ids[0], UserUpdate{JobTitle: &title}); err != nil {
		t.Fatal(err)
	}
	if got := sim.Counters(); got.Requests != 1 || got.BatchItems != 0 || got.ByEndpoint["PATCH /users/{id}"] != 1 {
		t.Errorf("a lone write: %d requests, %d batch items (%v); want 1 plain PATCH", got.Requests, got.BatchItems, got.ByEndpoint)
	}
}

// With Graph's write quota below what the callers send, the items Graph
// answers 429 come back to their own callers as Throttled with a
// Retry-After, and the others succeed.
func TestCoalescedWritesThrottledPerItem(t *testing.T) {
	sim, cfg := startSim(t, graphsim.Options{Throttling: true, WritesPer150s: 30, Latency: 20 * time.Millisecond}, "User.ReadWrite.All")
	const n = 60
	ids := make([]string, n)
	for i := range ids {
		ids[i] = sim.PutUser(graphsim.User{UserPrincipalName: fmt.Sprintf("q%03d@contoso.com", i), AccountEnabled: true}).ID
	}
	c := mustClient(t, cfg) // budget: the published 3,000 writes, far above the emulator's 30
	ctx := context.Background()
	type result struct {
		i   int
		err error
	}
	res := make(chan result, n)
	for i := range n {
		go func() {
			title := "t"
			res <- result{i, c.UpdateUser(ctx, ids[i], UserUpdate{JobTitle: &title})}
		}()
	}
	var ok, thr int
	for range n {
		r := <-res
		u, _ := sim.GetUser(ids[r.i])
		switch ra, throttled := IsThrottled(r.err); {
		case r.err == nil:
			ok++
			if u.JobTitle != "t" {
				t.Errorf("user %d: update reported done, jobTitle %q", r.i, u.JobTitle)
			}
		case throttled && ra > 0:
			thr++
			if u.JobTitle != "" {
				t.Errorf("user %d: Throttled, yet jobTitle %q was written", r.i, u.JobTitle)
			}
		default:
			t.Errorf("user %d: err = %v, want nil or Throttled with a Retry-After", r.i, r.err)
		}
	}
	got := sim.Counters()
	if ok == 0 || thr == 0 || ok > 30 {
		t.Errorf("%d ok, %d throttled of %d against a quota of 30 writes", ok, thr, n)
	}
	if got.Requests > 10 {
		t.Errorf("%d HTTP requests (%v), want ≤ 10", got.Requests, got.ByEndpoint)
	}
	if u := c.Usage(); u.Writes != int64(ok) || u.Throttled != got.Throttled {
		t.Errorf("client usage %+v; want %d writes and the emulator's %d 429s", u, ok, got.Throttled)
	}
	t.Logf("%d ok, %d throttled in %d HTTP requests (%d 429 items)", ok, thr, got.Requests, got.Throttled)
}

// writeLog is a fake Graph that answers every write 204 and records, per
// HTTP request, the writes it carried; the first plain PATCH of /users/first
// is held until release is closed.
type writeLog struct {
	mu       sync.Mutex
	requests [][]string // "PATCH /users/x {body}" per item
	held     chan struct{}
	release  chan struct{}
	once     sync.Once
}

// unblock lets the held PATCH answer.
func (l *writeLog) unblock() { l.once.Do(func() { close(l.release) }) }

func newWriteLog(t *testing.T, f *fakeGraph) *writeLog {
	l := &writeLog{held: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(l.unblock) // a failed test must not leave the server hanging
	f.handle("PATCH /users/first", func(w http.ResponseWriter, r *http.Request) {
		close(l.held)
		<-l.release
		w.WriteHeader(http.StatusNoContent)
	})
	plain := func(w http.ResponseWriter, r *http.Request) {
		var body json.RawMessage
		_ = json.NewDecoder(r.Body).Decode(&body)
		l.add([]string{r.Method + " " + strings.TrimPrefix(r.URL.Path, "/v1.0") + " " + string(body)})
		w.WriteHeader(http.StatusNoContent)
	}
	for _, u := range []string{"x", "X", "y", "z"} {
		f.handle("PATCH /users/"+u, plain)
		f.handle("PUT /users/"+u+"/manager/$ref", plain)
	}
	f.handle("POST /$batch", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Requests []struct {
				ID, Method, URL string
				Body            json.RawMessage
			}
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		var items []string
		var resps []any
		for _, it := range req.Requests {
			items = append(items, it.Method+" "+it.URL+" "+string(it.Body))
			resps = append(resps, map[string]any{"id": it.ID, "status": 204})
		}
		l.add(items)
		writeJSON(w, 200, map[string]any{"responses": resps})
	})
	return l
}

func (l *writeLog) add(items []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, items)
}

// queueBehind starts f and returns once its call waits in q's queue.
func queueBehind(t *testing.T, q *coalescer, wg *sync.WaitGroup, f func()) {
	t.Helper()
	waiting := func() int {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.queue) + len(q.held)
	}
	before := waiting()
	wg.Add(1)
	go func() { defer wg.Done(); f() }()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if waiting() > before {
			return
		}
	}
	t.Fatal("call never queued")
}

// Writes of one user never share an envelope, and they reach Graph in the
// order they were made, one answered before the next is sent.
func TestCoalescedWritesOfOneUserStayOrdered(t *testing.T) {
	f := newFakeGraph(t)
	l := newWriteLog(t, f)
	c := f.newClient(f.config())
	ctx := context.Background()
	str := func(s string) *string { return &s }
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.UpdateUser(ctx, "first", UserUpdate{JobTitle: str("0")}) }()
	<-l.held
	errs := make(chan error, 5)
	for _, f := range []func() error{
		func() error { return c.UpdateUser(ctx, "x", UserUpdate{JobTitle: str("1")}) },
		func() error { return c.UpdateUser(ctx, "y", UserUpdate{JobTitle: str("y")}) },
		func() error { return c.SetManager(ctx, "X", "boss") }, // same user, other case
		func() error { return c.UpdateUser(ctx, "z", UserUpdate{JobTitle: str("z")}) },
		func() error { return c.UpdateUser(ctx, "x", UserUpdate{JobTitle: str("3")}) },
	} {
		queueBehind(t, &c.userWrites, &wg, func() { errs <- f() })
	}
	l.unblock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var xs []string
	for i, items := range l.requests {
		n := 0
		for _, it := range items {
			if strings.Contains(strings.ToLower(it), "/users/x") {
				n++
				xs = append(xs, it)
			}
		}
		if n > 1 {
			t.Errorf("request %d carried %d writes of user x: %q", i, n, items)
		}
	}
	want := []string{`PATCH /users/x {"jobTitle":"1"}`, "PUT /users/X/manager/$ref", `PATCH /users/x {"jobTitle":"3"}`}
	if len(xs) != len(want) {
		t.Fatalf("writes of x: %q, want %d", xs, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(xs[i], want[i]) {
			t.Errorf("write %d of x = %q, want %q…", i, xs[i], want[i])
		}
	}
	// first alone; then [x1 y z] in one envelope; then X's manager; then x3.
	if len(l.requests) != 3 || len(l.requests[0]) != 3 {
		t.Errorf("requests after the held one: %q; want an envelope of 3, then two plain writes", l.requests)
	}
}

// An envelope takes only what the budget grants within maxInlineWait: with
// 4 writes left of the quota, 4 of 8 queued writes leave in one envelope
// and the other 4 are refused at once with the budget's RetryAfter, as they
// would have been without coalescing.
func TestCoalescedWritesSizedToBudget(t *testing.T) {
	f := newFakeGraph(t)
	l := newWriteLog(t, f)
	cfg := f.config()
	cfg.Budget = BudgetConfig{WritesPer150s: 5} // refills one write per 30 s
	c := f.newClient(cfg)
	ctx := context.Background()
	title := "t"
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.UpdateUser(ctx, "first", UserUpdate{JobTitle: &title}) }()
	<-l.held
	errs := make([]error, 8)
	for i := range errs {
		queueBehind(t, &c.userWrites, &wg, func() { errs[i] = c.UpdateUser(ctx, fmt.Sprintf("u%d", i), UserUpdate{JobTitle: &title}) })
	}
	l.unblock()
	wg.Wait()
	var ok int
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		if ra, thr := IsThrottled(err); !thr || ra < 20*time.Second {
			t.Errorf("write %d: %v, want Throttled by the budget for ~30 s", i, err)
		}
	}
	if ok != 4 || len(l.requests) != 1 || len(l.requests[0]) != 4 {
		t.Errorf("%d writes done, envelopes %q; want 4 in one envelope", ok, l.requests)
	}
	if st := c.Budget().Stats(); st.Writes != 5 || st.AvailableWrites != 0 || st.Requests != 2 {
		t.Errorf("budget stats %+v: want 5 writes in 2 requests, none left", st)
	}
}

// A write whose caller gave up while it was queued is never sent.
func TestCoalescedWriteGivenUpIsNotSent(t *testing.T) {
	f := newFakeGraph(t)
	l := newWriteLog(t, f)
	c := f.newClient(f.config())
	ctx := context.Background()
	title := "t"
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.UpdateUser(ctx, "first", UserUpdate{JobTitle: &title}) }()
	<-l.held
	gone, cancel := context.WithCancel(ctx)
	errs := make(chan error, 2)
	queueBehind(t, &c.userWrites, &wg, func() { errs <- c.UpdateUser(gone, "x", UserUpdate{JobTitle: &title}) })
	queueBehind(t, &c.userWrites, &wg, func() { errs <- c.UpdateUser(ctx, "y", UserUpdate{JobTitle: &title}) })
	cancel()
	l.unblock()
	wg.Wait()
	close(errs)
	var failed int
	for err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed != 1 || len(l.requests) != 1 || len(l.requests[0]) != 1 || !strings.HasPrefix(l.requests[0][0], "PATCH /users/y") {
		t.Errorf("%d calls failed, requests %q; want only y's PATCH sent", failed, l.requests)
	}
}
