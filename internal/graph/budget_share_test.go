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

func TestLowerGivesUpTheSamePartOfTheTokensAndCreditNeverOverfills(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBudgetAt(BudgetConfig{ResourceUnitsPer10s: 100, WritesPer150s: 300}, func() time.Time { return now })
	b.Reserve(0, 100) // 200 writes left of 300
	ru, w := b.Lower(0.5)
	if w != 100 || ru != 50 {
		t.Errorf("lowering 1 → 1/2 gave up %v writes and %v RU, want 100 and 50 (half of what was left)", w, ru)
	}
	if st := b.Stats(); st.AvailableWrites != 100 || st.AvailableResourceUnits != 50 {
		t.Errorf("kept %d writes, %d RU, want 100, 50", st.AvailableWrites, st.AvailableResourceUnits)
	}
	peer := newBudgetAt(BudgetConfig{ResourceUnitsPer10s: 100, WritesPer150s: 300}, func() time.Time { return now })
	peer.SetShare(0.5)
	peer.Owe(0)
	peer.Credit(ru, w)
	peer.Credit(ru, w) // a second credit overfills: clipped at the half share's capacity
	if st := peer.Stats(); st.AvailableWrites != 150 || st.AvailableResourceUnits != 50 {
		t.Errorf("credited twice: %d writes, %d RU, want capacity 150, 50", st.AvailableWrites, st.AvailableResourceUnits)
	}
	// A budget in debt for 5 s (Owe) refunded 3 s of it is 2 s of refill short.
	d := newBudgetAt(BudgetConfig{ResourceUnitsPer10s: 100, WritesPer150s: 300}, func() time.Time { return now })
	d.SetShare(0.5)
	d.Owe(5 * time.Second)
	d.Refund(3 * time.Second)
	if w := d.WaitTime(0, 1); w != 3*time.Second {
		t.Errorf("first write after %v, want 3s (2 s of debt left, then one write at 1/s)", w)
	}
	if got, _ := b.Lower(1); got != 0 {
		t.Errorf("raising the share with Lower gave up %v RU", got)
	}
}
