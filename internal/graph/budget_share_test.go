package graph

import (
	"testing"
	"time"
)

func TestShareScalesCapacityAndRefillAndNeverBursts(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBudgetAt(BudgetConfig{ResourceUnitsPer10s: 100, WritesPer150s: 300}, func() time.Time { return now })
	b.SetShare(0.5)
	if st := b.Stats(); st.AvailableWrites != 150 || st.AvailableResourceUnits != 50 {
		t.Fatalf("half share of a full bucket: %d writes, %d RU, want 150, 50", st.AvailableWrites, st.AvailableResourceUnits)
	}
	if w := b.Reserve(0, 140); w != 0 {
		t.Fatalf("140 writes of a half share of 300 wait %v", w)
	}
	if w := b.Reserve(0, 11); w <= 0 {
		t.Errorf("151 writes granted at once from a half share of 300")
	}
	b.Reserve(0, 10)
	now = now.Add(15 * time.Second) // a tenth of the write window
	if st := b.Stats(); st.AvailableWrites != 15 {
		t.Errorf("refill at half share over a tenth of the window: %d writes, want 15", st.AvailableWrites)
	}
	// Raising the share (a peer left) gives a bigger bucket and a faster
	// refill, never tokens at once.
	b.SetShare(1)
	if st := b.Stats(); st.AvailableWrites != 15 {
		t.Errorf("after raising the share: %d writes, want still 15", st.AvailableWrites)
	}
	now = now.Add(15 * time.Second)
	if st := b.Stats(); st.AvailableWrites != 45 {
		t.Errorf("refill at full share: %d writes, want 45", st.AvailableWrites)
	}
}

func TestOweDelaysANewcomersFirstTokens(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBudgetAt(BudgetConfig{ResourceUnitsPer10s: 100, WritesPer150s: 300}, func() time.Time { return now })
	b.SetShare(0.5)
	b.Owe(5 * time.Second)
	// 5 s of refill at 1 write/s (300 × 0.5 / 150 s), then one more for the write.
	if w := b.WaitTime(0, 1); w != 6*time.Second {
		t.Errorf("first write after %v, want 6s", w)
	}
	if got := b.Key(); got != "" {
		t.Errorf("budget outside a registry has key %q", got)
	}
}
