package graph

import (
	"strings"
	"testing"
)

// Two Directories of one app+tenant asking different limits share one
// budget at the most conservative figures, in either build order, and each
// is told what the other asks.
func TestRegistryCombinesMostConservativeInAnyOrder(t *testing.T) {
	f := newFakeGraph(t)
	fast := f.config()
	fast.Budget = BudgetConfig{ResourceUnitsPer10s: 8000, WritesPer150s: 3000}
	slow := fast
	slow.Budget = BudgetConfig{ResourceUnitsPer10s: 9000, WritesPer150s: 5}
	for _, order := range [][]string{{"ns/fast", "ns/slow"}, {"ns/slow", "ns/fast"}} {
		r := NewRegistry()
		var c *Client
		for _, k := range order {
			cfg := fast
			if k == "ns/slow" {
				cfg = slow
			}
			var err error
			if c, err = r.Client(k, cfg); err != nil {
				t.Fatal(err)
			}
		}
		got := c.Budget().Config()
		if got.WritesPer150s != 5 || got.ResourceUnitsPer10s != 8000 {
			t.Errorf("order %v: budget in force %+v, want 8000 RU and 5 writes", order, got)
		}
		rep, ok := r.Throttle("ns/fast")
		if !ok || !strings.Contains(rep.Conflict, "ns/slow asks 5 writes (here 3000)") || len(rep.SharedWith) != 1 {
			t.Errorf("order %v: fast's report %+v", order, rep)
		}
		if rep.App.Config.WritesPer150s != AppWritesPer5Min || rep.App.Config.ResourceUnitsPer10s != AppResourceUnitsPer20s {
			t.Errorf("app-wide budget %+v, want Graph's published limits", rep.App.Config)
		}
		// The slow one goes: the fast one's own settings apply again.
		r.Drop("ns/slow")
		if got := c.Budget().Config(); got.WritesPer150s != 3000 {
			t.Errorf("order %v: after the slow Directory went, writes %d, want 3000", order, got.WritesPer150s)
		}
		if rep, _ := r.Throttle("ns/fast"); rep.Conflict != "" {
			t.Errorf("conflict reported with no other Directory: %q", rep.Conflict)
		}
	}
}

// Every request of an app+tenant budget also draws on its app-wide budget,
// which two tenants share.
func TestAppWideBudgetGatesEveryTenant(t *testing.T) {
	f := newFakeGraph(t)
	r := NewRegistry()
	a := f.config()
	a.AppBudget = BudgetConfig{WritesPer150s: 10}
	b := a
	b.TenantID = "other-tenant"
	ca, _ := r.Client("ns/a", a)
	cb, _ := r.Client("ns/b", b)
	if ca.Budget() == cb.Budget() || ca.Budget().App() != cb.Budget().App() {
		t.Fatal("two tenants of one app need two app+tenant budgets and one app-wide budget")
	}
	if w := ca.Budget().Reserve(0, 10); w != 0 {
		t.Fatalf("first 10 writes should pass, wait %s", w)
	}
	if w := cb.Budget().WaitTime(0, 1); w <= 0 {
		t.Fatal("the other tenant must wait once the app-wide writes are spent")
	}
	err := cb.Budget().Wait(t.Context(), 0, 5)
	if err == nil || !strings.Contains(err.Error(), "across all tenants") || !strings.Contains(err.Error(), "Graph has not throttled") {
		t.Fatalf("Wait error %v should name the app-wide budget and not blame Graph", err)
	}
}
