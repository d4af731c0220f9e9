package graph

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBudgetHeadroom(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBudgetAt(BudgetConfig{ResourceUnitsPer10s: 100, WritesPer150s: 30}, func() time.Time { return now })
	if ru, w := b.Headroom(); ru != 1 || w != 1 {
		t.Fatalf("fresh budget headroom %v/%v, want 1/1", ru, w)
	}
	b.Reserve(50, 3)
	if ru, w := b.Headroom(); ru > 0.5001 || ru < 0.4 || w > 0.9001 || w < 0.8 {
		t.Errorf("after 50 RU and 3 writes: %v/%v, want about 0.5/0.9", ru, w)
	}
	b.throttled(10*time.Second, "", "")
	if ru, w := b.Headroom(); ru != 0 || w != 0 {
		t.Errorf("during Retry-After: %v/%v, want 0/0", ru, w)
	}

	r := NewRegistry()
	r.budgets["tenant/app"] = b
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r.Collector())
	if n, err := testutil.GatherAndCount(reg, "directory_operator_graph_budget_headroom_ratio"); err != nil || n != 2 {
		t.Errorf("%d series (%v), want 2", n, err)
	}
}
