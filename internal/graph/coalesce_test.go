package graph

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/internal/graphsim"
)

// Concurrent GetUser calls share $batch envelopes, and each caller gets its
// own answer: its user (with its manager), or NotFound for a missing one.
func TestGetUserCoalescesConcurrentReads(t *testing.T) {
	sim, cfg := startSim(t, graphsim.Options{Latency: 20 * time.Millisecond}, "User.ReadWrite.All")
	boss := sim.PutUser(graphsim.User{UserPrincipalName: "boss@contoso.com", DisplayName: "Boss", AccountEnabled: true})
	const n = 100
	ids := make([]string, n)
	for i := range ids {
		u := sim.PutUser(graphsim.User{UserPrincipalName: fmt.Sprintf("u%03d@contoso.com", i), DisplayName: fmt.Sprint(i), AccountEnabled: true, ManagerID: boss.ID})
		ids[i] = u.ID
	}
	c := mustClient(t, cfg)
	ctx := context.Background()
	if _, err := c.GetUser(ctx, boss.ID); err != nil { // token, connection
		t.Fatal(err)
	}
	sim.ResetCounters()

	var wg sync.WaitGroup
	errs := make(chan error, n+10)
	for i := range n + 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i >= n {
				_, err := c.GetUser(ctx, fmt.Sprintf("missing%d@contoso.com", i))
				if !IsNotFound(err) {
					errs <- fmt.Errorf("missing user %d: err = %v, want NotFound", i, err)
				}
				return
			}
			u, err := c.GetUser(ctx, fmt.Sprintf("u%03d@contoso.com", i))
			switch {
			case err != nil:
				errs <- fmt.Errorf("user %d: %v", i, err)
			case u.ID != ids[i] || u.Manager == nil || u.Manager.ID != boss.ID:
				errs <- fmt.Errorf("user %d: got %+v, want id %s with manager %s", i, u, ids[i], boss.ID)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := sim.Counters()
	// 110 reads: one alone, the rest queued behind it in envelopes of ≤ 20.
	if got.Requests > 12 {
		t.Errorf("110 concurrent reads took %d HTTP requests (%v), want ≤ 12", got.Requests, got.ByEndpoint)
	}
	t.Logf("110 concurrent reads: %d HTTP requests, %d batch items", got.Requests, got.BatchItems)

	// Alone, a read is a plain GET: no envelope, no added wait.
	sim.ResetCounters()
	if _, err := c.GetUser(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if got := sim.Counters(); got.Requests != 1 || got.BatchItems != 0 {
		t.Errorf("a lone read: %d requests, %d batch items; want 1 plain GET", got.Requests, got.BatchItems)
	}
}
