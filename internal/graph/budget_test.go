package graph

import (
	"context"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestBudget(cfg BudgetConfig) (*Budget, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return newBudgetAt(cfg, clk.now), clk
}

func near(a, b, tol time.Duration) bool { return a-b <= tol && b-a <= tol }

func TestBudgetForTenantSize(t *testing.T) {
	for size, ru := range map[string]int{"S": 3500, "m": 5000, "L": 8000, "": 3500, "XL": 3500} {
		b := BudgetForTenantSize(size)
		if b.ResourceUnitsPer10s != ru || b.WritesPer150s != 3000 || b.TimeScale != 1 {
			t.Errorf("BudgetForTenantSize(%q) = %+v", size, b)
		}
	}
	if n := (BudgetConfig{}).normalized(); n.ResourceUnitsPer10s != 3500 || n.TimeScale != 1 {
		t.Errorf("zero config normalized to %+v", n)
	}
}

func TestBudgetRUBucketRefillsContinuously(t *testing.T) {
	b, clk := newTestBudget(BudgetConfig{ResourceUnitsPer10s: 100, WritesPer150s: 3000})
	if w := b.WaitTime(100, 0); w != 0 {
		t.Fatalf("full bucket: WaitTime %v", w)
	}
	if w := b.Reserve(100, 0); w != 0 {
		t.Fatalf("full bucket: wait %v", w)
	}
	if w := b.WaitTime(5, 0); !near(w, 500*time.Millisecond, time.Millisecond) {
		t.Fatalf("WaitTime = %v, want 0.5s", w)
	}
	// Empty: 10 RU/s refill, so 5 RU need 0.5 s, and nothing is taken.
	if w := b.Reserve(5, 0); !near(w, 500*time.Millisecond, time.Millisecond) {
		t.Fatalf("wait = %v, want 0.5s", w)
	}
	if w := b.Reserve(5, 0); !near(w, 500*time.Millisecond, time.Millisecond) {
		t.Fatalf("a refused Reserve must not take tokens: wait = %v", w)
	}
	clk.advance(500 * time.Millisecond)
	if w := b.Reserve(5, 0); w != 0 {
		t.Fatalf("after refill: wait %v", w)
	}
	// Capacity is capped at one window's worth.
	clk.advance(time.Hour)
	if st := b.Stats(); st.AvailableResourceUnits != 100 {
		t.Fatalf("available = %d, want cap 100", st.AvailableResourceUnits)
	}
	// A request bigger than the bucket waits for a full bucket, not forever.
	b.Reserve(100, 0)
	if w := b.Reserve(1000, 0); !near(w, 10*time.Second, time.Millisecond) {
		t.Fatalf("oversized request wait = %v, want 10s", w)
	}
}

func TestBudgetWritesAndTimeScale(t *testing.T) {
	b, clk := newTestBudget(BudgetConfig{ResourceUnitsPer10s: 8000, WritesPer150s: 3000, TimeScale: 10})
	// 3,000 writes per 15 s scaled = 200 writes/s.
	if w := b.Reserve(0, 3000); w != 0 {
		t.Fatal("full write bucket refused")
	}
	if w := b.Reserve(1, 20); !near(w, 100*time.Millisecond, time.Millisecond) {
		t.Fatalf("wait = %v, want 100ms for 20 writes at 200/s", w)
	}
	clk.advance(100 * time.Millisecond)
	if w := b.Reserve(1, 20); w != 0 {
		t.Fatalf("wait after refill = %v", w)
	}
}

func TestBudgetWaitIsBounded(t *testing.T) {
	b, _ := newTestBudget(BudgetConfig{ResourceUnitsPer10s: 100, WritesPer150s: 150})
	b.Reserve(100, 150)
	// 150 writes / 150 s = 1 write/s: 5 writes need 5 s > 1 s.
	err := b.Wait(context.Background(), 0, 5)
	if ra, ok := IsThrottled(err); !ok || !near(ra, 5*time.Second, time.Millisecond) {
		t.Fatalf("Wait = %v, want Throttled ~5s", err)
	}
	if st := b.Stats(); st.AvailableWrites != 0 {
		t.Fatalf("a refused Wait took tokens")
	}
}

func TestBudgetWaitSleepsShortly(t *testing.T) {
	b := NewBudget(BudgetConfig{ResourceUnitsPer10s: 100, WritesPer150s: 3000, TimeScale: 1})
	b.Reserve(100, 0)
	start := time.Now()
	if err := b.Wait(context.Background(), 2, 0); err != nil { // 0.2 s at 10 RU/s
		t.Fatal(err)
	}
	if el := time.Since(start); el < 150*time.Millisecond || el > time.Second {
		t.Fatalf("Wait slept %v, want ~200ms", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx, 5, 0); err == nil || KindOf(err) == Throttled {
		t.Fatalf("cancelled Wait = %v", err)
	}
}

func TestBudgetThrottleBlocksEveryone(t *testing.T) {
	b, clk := newTestBudget(BudgetConfig{})
	b.throttled(2128*time.Millisecond, "WriteLimitExceeded", "")
	if w := b.Reserve(1, 0); !near(w, 2128*time.Millisecond, time.Millisecond) {
		t.Fatalf("read after a 429: wait %v", w)
	}
	if bl := b.Blocked(); !near(bl, 2128*time.Millisecond, time.Millisecond) {
		t.Fatalf("Blocked = %v", bl)
	}
	st := b.Stats()
	if st.AvailableWrites != 0 || st.AvailableResourceUnits == 0 || st.Pace != throttledPace {
		t.Fatalf("after WriteLimitExceeded: %+v", st)
	}
	clk.advance(3 * time.Second)
	if w := b.Reserve(1, 0); w != 0 {
		t.Fatalf("still blocked after Retry-After: %v", w)
	}
	// Pace recovers by 10 % per RU window.
	clk.advance(20 * time.Second)
	if p := b.Stats().Pace; p < 0.72 || p > 0.74 {
		t.Fatalf("pace = %v, want 0.73 (0.5 + 2.3 windows × 0.1)", p)
	}
	clk.advance(time.Minute)
	if p := b.Stats().Pace; p != 1 {
		t.Fatalf("pace = %v, want fully recovered", p)
	}
}

func TestBudgetSlowsDownOnLimitPercentage(t *testing.T) {
	b, _ := newTestBudget(BudgetConfig{ResourceUnitsPer10s: 1000, WritesPer150s: 3000})
	b.limitPercentage(0.5, false) // below 80 %: ignored
	if st := b.Stats(); st.Pace != 1 || st.AvailableResourceUnits != 1000 {
		t.Fatalf("0.5 changed the budget: %+v", st)
	}
	// Our full bucket says 0 % used, Graph says 90 %: someone else spends
	// this app+tenant's quota, so we keep to the 10 % headroom and pace.
	b.limitPercentage(0.9, false)
	st := b.Stats()
	if st.AvailableResourceUnits != 100 || st.Pace < 0.19 || st.Pace > 0.21 || st.LimitPercentage != 0.9 {
		t.Fatalf("after 90%%: %+v (want 10%% headroom, pace 0.2)", st)
	}
	// Refill is slower too: 1000 RU/10 s at pace 0.2 = 20 RU/s.
	b.Reserve(100, 0)
	if w := b.Reserve(20, 0); !near(w, time.Second, 5*time.Millisecond) {
		t.Fatalf("wait = %v, want ~1s at reduced pace", w)
	}
	b.limitPercentage(1.2, true)
	if st := b.Stats(); st.AvailableWrites != 0 || st.Pace > 0.51 {
		t.Fatalf("after 120%% on a write: %+v", st)
	}
}

func TestBudgetKeepsPaceWhenGraphAgreesWithOurModel(t *testing.T) {
	b, _ := newTestBudget(BudgetConfig{ResourceUnitsPer10s: 1000, WritesPer150s: 3000})
	// We spent 2,700 writes ourselves; Graph reporting 90 % is our own use.
	b.Reserve(0, 2700)
	b.limitPercentage(0.9, true)
	if st := b.Stats(); st.Pace != 1 || st.AvailableWrites != 300 {
		t.Fatalf("pace dropped although Graph's figure is explained by our own writes: %+v", st)
	}
}

func TestBudgetStatsWindow(t *testing.T) {
	b, clk := newTestBudget(BudgetConfig{})
	b.observe(Usage{Requests: 2, ResourceUnits: 3, Writes: 1})
	clk.advance(30 * time.Second)
	b.observe(Usage{Requests: 1, Throttled: 1})
	st := b.Stats()
	if st.WindowSeconds != 60 || st.Requests != 3 || st.ResourceUnits != 3 || st.Writes != 1 || st.Throttled != 1 {
		t.Fatalf("stats = %+v", st)
	}
	clk.advance(45 * time.Second)
	st = b.Stats()
	if st.Requests != 1 || st.Throttled != 1 || st.Total.Requests != 3 {
		t.Fatalf("stats after 75s = %+v", st)
	}
	clk.advance(2 * time.Minute)
	if st := b.Stats(); st.Requests != 0 || st.Total.ResourceUnits != 3 {
		t.Fatalf("stats after 195s = %+v", st)
	}
}

func TestBudgetAdjustAndSetConfig(t *testing.T) {
	b, _ := newTestBudget(BudgetConfig{ResourceUnitsPer10s: 100, WritesPer150s: 100})
	b.Reserve(10, 10)
	b.adjust(5, 0) // Graph charged 15, not 10
	if st := b.Stats(); st.AvailableResourceUnits != 85 {
		t.Fatalf("available = %d, want 85", st.AvailableResourceUnits)
	}
	b.adjust(-1000, -1000) // refunds never exceed capacity
	if st := b.Stats(); st.AvailableResourceUnits != 100 || st.AvailableWrites != 100 {
		t.Fatalf("after refund: %+v", st)
	}
	b.SetConfig(BudgetConfig{ResourceUnitsPer10s: 50, WritesPer150s: 100})
	if st := b.Stats(); st.AvailableResourceUnits != 50 {
		t.Fatalf("after shrinking the limit: %d RU available", st.AvailableResourceUnits)
	}
}
