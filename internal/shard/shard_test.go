package shard

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/directory-operator/directory-operator/internal/graph"
)

const tenantKey = "tenant-1/app-1"

// shardUnderTest is one manager process: its registry (one app+tenant
// budget and the app-wide one) and its coordinator.
type shardUnderTest struct {
	coord  *Coordinator
	budget *graph.Budget
}

func newShard(t *testing.T, c client.Client, clk *clocktesting.FakeClock, id string) shardUnderTest {
	t.Helper()
	reg := graph.NewRegistry()
	gc, err := reg.Client("ns/dir", graph.Config{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: "s",
		AuthorityHost: "https://login.example.test/", GraphEndpoint: "https://graph.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	coord := &Coordinator{Client: c, Namespace: "operator", Identity: id, Duration: 15 * time.Second,
		Budgets: reg.Budgets, Clock: clk, Log: logr.Discard()}
	return shardUnderTest{coord: coord, budget: gc.Budget()}
}

func fakeClient(funcs *interceptor.Funcs) client.Client {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	b := fake.NewClientBuilder().WithScheme(s)
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	return b.Build()
}

func join(t *testing.T, s shardUnderTest) {
	t.Helper()
	if err := s.coord.Join(context.Background(), s.budget); err != nil {
		t.Fatal(err)
	}
}

func wantShares(t *testing.T, when string, want float64, shards ...shardUnderTest) {
	t.Helper()
	for _, s := range shards {
		if got, app := s.budget.Share(), s.budget.App().Share(); got != want || app != want {
			t.Errorf("%s: %s's share %v (app-wide %v), want %v", when, s.coord.Identity, got, app, want)
		}
	}
}

func TestUnitTwoShardsSplitAndTakeBackADeadOnesPart(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	c := fakeClient(nil)
	a, b := newShard(t, c, clk, "pod-a_shard=a"), newShard(t, c, clk, "pod-b_shard=b")
	ctx := context.Background()

	join(t, a)
	wantShares(t, "alone", 1, a)
	join(t, b)
	wantShares(t, "the newcomer, from its first request", 0.5, b)
	if w := b.budget.WaitTime(0, 1); w <= 0 {
		t.Errorf("a newcomer may write at once (wait %v): its burst would add to the others' full buckets", w)
	}
	a.coord.Tick(ctx)
	wantShares(t, "after the first shard's next renewal", 0.5, a, b)

	// b is killed: it renews no more. a keeps 0.5 while b's Lease lives…
	clk.Step(10 * time.Second)
	a.coord.Tick(ctx)
	wantShares(t, "10 s after the kill", 0.5, a)
	// …and takes the whole quota back once it expired.
	clk.Step(6 * time.Second)
	a.coord.Tick(ctx)
	wantShares(t, "one Lease duration after the kill", 1, a)
}

func TestUnitCleanShutdownHandsThePartBackAtOnce(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	c := fakeClient(nil)
	a, b := newShard(t, c, clk, "a"), newShard(t, c, clk, "b")
	join(t, a)
	join(t, b)
	b.coord.Release(context.Background())
	a.coord.Tick(context.Background())
	wantShares(t, "after the other shard released its Leases", 1, a)
	var leases coordinationv1.LeaseList
	if err := c.List(context.Background(), &leases); err != nil || len(leases.Items) != 2 {
		t.Errorf("%d Leases left (%v), want a's two (app+tenant and app-wide)", len(leases.Items), err)
	}
}

func TestUnitAnUnreachableAPIServerNeverRaisesTheShare(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	var down bool
	c := fakeClient(&interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, o ...client.ListOption) error {
			if down {
				return errors.New("connection refused")
			}
			return c.List(ctx, l, o...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, o ...client.UpdateOption) error {
			if down {
				return errors.New("connection refused")
			}
			return c.Update(ctx, obj, o...)
		},
	})
	a, b := newShard(t, c, clk, "a"), newShard(t, c, clk, "b")
	join(t, a)
	join(t, b)
	a.coord.Tick(context.Background())
	down = true
	clk.Step(10 * time.Second)
	a.coord.Tick(context.Background())
	wantShares(t, "API server down, b's Lease would have expired soon", 0.5, a)
	// a could not renew for a whole duration: b (if it can reach the API
	// server) counts a out and takes everything, so a must stop spending.
	clk.Step(6 * time.Second)
	a.coord.Tick(context.Background())
	if s := a.budget.Share(); s >= 0.5 {
		t.Errorf("own Lease expired unrenewed, share %v: the other shard has taken this part", s)
	}
	down = false
	clk.Step(5 * time.Second)
	a.coord.Tick(context.Background())
	wantShares(t, "back, b silent for a whole duration", 1, a)
}

func TestUnitLeaseNamesAndLabelsAreDNSSafe(t *testing.T) {
	coord := &Coordinator{Identity: "Pod_A shard in (a,b)"}
	name := coord.leaseName("72f988bf-86f1-41af-91ab-2d7cd011db47/04b07795-8ddb-461a-bbee-02f9e1bf7b46")
	if len(name) > 63 {
		t.Errorf("Lease name %q longer than 63", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			t.Fatalf("Lease name %q has %q", name, r)
		}
	}
}

func TestUnitAnIdleShardHandsItsPartBack(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	c := fakeClient(nil)
	a, b := newShard(t, c, clk, "a"), newShard(t, c, clk, "b")
	join(t, a)
	join(t, b)
	ctx := context.Background()
	// Neither sends anything for two Lease durations.
	for range 7 {
		clk.Step(5 * time.Second)
		a.coord.Tick(ctx)
		b.coord.Tick(ctx)
	}
	var leases coordinationv1.LeaseList
	if err := c.List(ctx, &leases); err != nil || len(leases.Items) != 0 {
		t.Errorf("%d Leases held by idle shards (%v), want none", len(leases.Items), err)
	}
	if s := b.budget.Share(); s > 0.01 {
		t.Errorf("an idle shard that handed its part back may still spend %v of the quota", s)
	}
	// Its next use joins again: alone now, the whole quota.
	join(t, b)
	wantShares(t, "an idle shard's next use, alone", 1, b)
}

// A shard holding a full bucket when a second one joins hands half of it
// over: the two spend one burst between them, not one and a half (the
// newcomer starting empty) nor two.
func TestUnitANewcomerTakesHalfTheUnspentBurstOnce(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	c := fakeClient(nil)
	a, b := newShard(t, c, clk, "a"), newShard(t, c, clk, "b")
	ctx := context.Background()
	join(t, a)
	full := a.budget.Stats().AvailableWrites
	join(t, b)
	if w := b.budget.Stats().AvailableWrites; w > 0 {
		t.Fatalf("newcomer starts with %d writes, want none until a hands some over", w)
	}
	// a renews 1 s later and counts b: it lowers its share then, so b's
	// debt (a renewal period, 5 s, the worst case) is 4 s too long.
	clk.Step(time.Second)
	a.coord.Tick(ctx)
	aw := a.budget.Stats().AvailableWrites
	b.coord.Tick(ctx) // b's next renewal: it reads a's Lease
	bw := b.budget.Stats().AvailableWrites
	// The budgets run on the wall clock, not this fake one: the 1 s step
	// refilled nothing, so b still owes that second (10 writes) but not
	// the 4 s after a's hand-over (40 more without the refund).
	if aw+bw > full || aw < full/2-1 || bw < full/2-full/200 {
		t.Errorf("after the hand-over a holds %d writes and b %d, want half of %d each (b's debt refunded beyond a's hand-over), never more together", aw, bw, full)
	}
	// A credit is taken once, however often b renews.
	b.coord.Tick(ctx)
	b.coord.Tick(ctx)
	if w := b.budget.Stats().AvailableWrites; w > bw+1 {
		t.Errorf("b's writes went from %d to %d with no refill: a credit taken twice", bw, w)
	}
	// A third shard joining later is not owed the credit made for b.
	d := newShard(t, c, clk, "d")
	join(t, d)
	d.coord.Tick(ctx)
	if w := d.budget.Stats().AvailableWrites; w > 0 {
		t.Errorf("a later newcomer took %d writes of a credit addressed to another", w)
	}
}
