package graph

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/directory-operator/directory-operator/internal/graphsim"
)

// A meter counts exactly what was sent with its context, while other
// callers share the client: $batch envelopes, paging and plain calls, and
// an operation's meter includes the meters of its steps.
func TestMeterCountsOnlyItsOperation(t *testing.T) {
	sim, cfg := startSim(t, graphsim.Options{}, "User.ReadWrite.All", "GroupMember.Read.All", "Organization.Read.All")
	c := mustClient(t, cfg)
	var keys []string
	for i := range 45 {
		u := sim.PutUser(graphsim.User{UserPrincipalName: fmt.Sprintf("u%02d@contoso.com", i), DisplayName: "U", AccountEnabled: true})
		keys = append(keys, u.UserPrincipalName)
	}
	ctx := context.Background()
	opCtx, op := WithMeter(ctx)
	stepCtx, step := WithMeter(opCtx)

	var wg sync.WaitGroup
	// Someone else's traffic on the same client, not metered.
	wg.Go(func() {
		for range 5 {
			if _, err := c.Organization(ctx); err != nil {
				t.Error(err)
			}
		}
	})
	// The step: 45 users = 3 envelopes.
	wg.Go(func() {
		if _, err := c.GetUsers(stepCtx, keys); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	// The operation itself: one plain read.
	if _, err := c.GetUser(opCtx, keys[0]); err != nil {
		t.Fatal(err)
	}

	if got := step.Usage(); got.Requests != 3 || got.ResourceUnits < 45 || got.Writes != 0 {
		t.Errorf("step meter = %+v, want 3 requests and ≥ 45 RU", got)
	}
	if got := op.Usage(); got.Requests != 4 || got.ResourceUnits <= step.Usage().ResourceUnits {
		t.Errorf("operation meter = %+v, want the step's 3 requests + 1", got)
	}
	if got, want := c.Usage().Requests, sim.Counters().Requests; got != want || got != 9 {
		t.Errorf("client counted %d requests, emulator %d, want 9", got, want)
	}
}
