package graph

import (
	"math"
	"time"
)

// minShare keeps a budget's refill rate above zero whatever share it is
// given (a wait is computed by dividing by it).
const minShare = 0.001

// clampShare keeps a share within [minShare, 1]; NaN means the whole.
func clampShare(f float64) float64 {
	if math.IsNaN(f) {
		return 1
	}
	return min(1, max(minShare, f))
}

// SetShare sets the part (0–1] of the quota this process may spend, when
// several processes (shards) spend the same app+tenant quota: capacity and
// refill rate are both multiplied by it. Lowering it clips the buckets to
// the new capacity at once; raising it adds no tokens, only a larger bucket
// and a faster refill, so a shard taking over a dead one's part never
// bursts.
func (b *Budget) SetShare(f float64) {
	f = clampShare(f)
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

// Lower sets a smaller share (a peer joined) and returns the tokens this
// budget gives up: its unspent tokens beyond the new share's part of them,
// i.e. tokens × (1 − new/old). The shard hands them to the newcomers
// (Credit) instead of dropping them, so a burst held when a peer arrives is
// split between the two rather than half lost; either way the shards'
// tokens together never grow. Debt (negative tokens) is kept, not scaled:
// it is what this budget already spent ahead of its refill. Raising the
// share with Lower is SetShare's no-burst raise and gives up nothing.
func (b *Budget) Lower(f float64) (ru, writes float64) {
	f = clampShare(f)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(b.now())
	old := b.share
	b.share = f
	if f < old {
		keep := f / old
		if b.ruTokens > 0 {
			ru = b.ruTokens * (1 - keep)
			b.ruTokens -= ru
		}
		if b.wTokens > 0 {
			writes = b.wTokens * (1 - keep)
			b.wTokens -= writes
		}
	}
	return ru, writes
}

// Credit adds tokens a peer shard gave up (Lower), never beyond this
// budget's capacity at its current share.
func (b *Budget) Credit(ru, writes float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(b.now())
	ruCap, _, wCap, _ := b.rates()
	b.ruTokens = math.Min(ruCap, b.ruTokens+max(0, ru))
	b.wTokens = math.Min(wCap, b.wTokens+max(0, writes))
}

// Refund gives back d of refill at the current share (never past
// capacity): part of a debt from Owe that turned out longer than needed,
// because every peer lowered its share sooner than the worst case.
func (b *Budget) Refund(d time.Duration) {
	if d <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(b.now())
	ruCap, ruRate, wCap, wRate := b.rates()
	b.ruTokens = math.Min(ruCap, b.ruTokens+ruRate*d.Seconds())
	b.wTokens = math.Min(wCap, b.wTokens+wRate*d.Seconds())
}
