package graph

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/internal/graphsim"
)

// Three tenants served by one app: the operator's app-wide budget keeps the
// sum of their writes within the app-wide limit, so the emulator, which
// counts per app across tenants, never has to throttle it.
func TestThreeTenantsOfOneAppKeepTheirSumWithinTheAppWideLimit(t *testing.T) {
	const scale = 60    // the 5-minute app-wide window becomes 5 s
	const appLimit = 30 // writes per (scaled) 5 minutes, both sides
	const perTenant = 20
	ab := graphsim.NewAppBudgets()
	ab.WritesPer5Min = appLimit
	cloud := graphsim.NewCloud(graphsim.Options{Throttling: true, TimeScale: scale, AppBudgets: ab})
	var tenants []*graphsim.Server
	for i := range 3 {
		tenants = append(tenants, cloud.AddTenant(fmt.Sprintf("0000000%d-0000-4000-8000-000000000000", i+1), fmt.Sprintf("T%d", i+1), fmt.Sprintf("t%d.example", i+1)))
	}
	if err := cloud.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cloud.Close)

	r := NewRegistry()
	var wg sync.WaitGroup
	errs := make(chan error, len(tenants))
	start := time.Now()
	for i, s := range tenants {
		s.AddApp(simClient, fakeSecret, "User.ReadWrite.All")
		u := s.PutUser(graphsim.User{UserPrincipalName: "u@" + fmt.Sprintf("t%d.example", i+1), DisplayName: "U", MailNickname: "u", AccountEnabled: true})
		cfg := Config{TenantID: s.TenantID(), ClientID: simClient, ClientSecret: fakeSecret,
			AuthorityHost: cloud.URL() + "/", GraphEndpoint: cloud.URL(), CABundlePEM: cloud.CACertPEM(), HTTPTimeout: 20 * time.Second,
			Budget: BudgetConfig{ResourceUnitsPer10s: ResourceUnitsLarge, WritesPer150s: WritesPer150s, TimeScale: scale, RefillShare: 0.99},
			// RefillShare 0.9, not production's 0.99: at TimeScale 60 a 10 ms
			// difference in when two requests reach the emulator is worth
			// 60 times more of the window than in real time.
			AppBudget: BudgetConfig{WritesPer150s: appLimit, TimeScale: scale, RefillShare: 0.9}}
		c, err := r.Client(fmt.Sprintf("ns/t%d", i), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Fetch the token first: a write reserved before a token fetch
		// reaches Graph that much later, which at TimeScale 60 is a
		// noticeable share of the window (in real time it is 0.1 %).
		if _, err := c.GetUser(context.Background(), u.ID); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { errs <- writeN(c, u.ID, perTenant) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	got := ab.Counters(simClient)
	if got.Writes != 3*perTenant || got.Throttled != 0 {
		t.Errorf("app counters %+v: want %d writes and no 429", got, 3*perTenant)
	}
	var sum int64
	for _, s := range tenants {
		sum += s.Counters().Writes
	}
	if sum != got.Writes {
		t.Errorf("per-tenant writes sum to %d, the app's counter says %d", sum, got.Writes)
	}
	// 30 writes fit the full app-wide bucket; the other 30 wait for it to
	// refill at 30 per 5 s. Without the app-wide budget each tenant's own
	// 3,000 would let all 60 through at once, and the emulator throttle.
	if took < 4*time.Second {
		t.Errorf("60 writes took %s: not paced by the app-wide budget", took)
	}
	t.Logf("%d writes over 3 tenants took %s; app counters %+v", got.Writes, took.Round(time.Millisecond), got)
}

// writeN writes n times, waiting out the budget like a controller's requeue.
func writeN(c *Client, id string, n int) error {
	ctx := context.Background()
	for i := 0; i < n; {
		title := fmt.Sprintf("t%d", i)
		err := c.UpdateUser(ctx, id, UserUpdate{JobTitle: &title})
		if ra, ok := IsThrottled(err); ok {
			time.Sleep(ra)
			continue
		}
		if err != nil {
			return err
		}
		i++
	}
	return nil
}
