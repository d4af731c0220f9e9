package graph

import (
	"math"
	"time"
)

// minShare keeps a budget's refill rate above zero whatever share it is
// given (a wait is computed by dividing by it).
const minShare = 0.001

// SetShare sets the part (0–1] of the quota this process may spend, when
// several processes (shards) spend the same app+tenant quota: capacity and
// refill rate are both multiplied by it. Lowering it clips the buckets to
// the new capacity at once; raising it adds no tokens, only a larger bucket
// and a faster refill, so a shard taking over a dead one's part never
// bursts.
func (b *Budget) SetShare(f float64) {
	if math.IsNaN(f) {
		f = 1
	}
	f = min(1, max(minShare, f))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(b.now())
	b.share = f
	ruCap, _, wCap, _ := b.rates()
	b.ruTokens = math.Min(b.ruTokens, ruCap)
	b.wTokens = math.Min(b.wTokens, wCap)
}

// Share is the part of the quota this process may spend (1 unless SetShare).
func (b *Budget) Share() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.share
}

// Owe empties both buckets and puts them d of refill (at the current share)
// in debt. A shard joining peers that already spend the quota calls it:
// until the peers lower their own shares (at their next Lease renewal,
// within d) they may still spend the whole quota between them, and the
// newcomer's first tokens must come after that, not on top of it.
func (b *Budget) Owe(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(b.now())
	_, ruRate, _, wRate := b.rates()
	secs := max(0, d.Seconds())
	b.ruTokens = math.Min(b.ruTokens, -ruRate*secs)
	b.wTokens = math.Min(b.wTokens, -wRate*secs)
}

// Key is the registry's name of the budget, the same in every process using
// the same app+tenant ("tenant/client") or app ("app/client"); empty for a
// budget made outside a Registry.
func (b *Budget) Key() string { return b.key }

// Budgets returns every budget in use, by Key: the app+tenant ones and the
// app-wide ones.
func (r *Registry) Budgets() map[string]*Budget {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*Budget, len(r.budgets)+len(r.apps))
	for k, b := range r.budgets {
		out[k] = b
	}
	for k, b := range r.apps {
		out["app/"+k] = b
	}
	return out
}
