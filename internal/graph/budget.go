package graph

import (
	"context"
	"math"
	"strings"
	"sync"
	"time"
)

// Budget is the client-side model of Graph's quota for one app+tenant pair,
// shared by every Directory (and every controller) using that pair, because
// Graph throttles per app+tenant, not per caller.
//
// It holds two token buckets refilled continuously, as Graph's own limiter
// is described: resource units (RU) over 10 s and writes over 150 s (both
// windows divided by TimeScale). Callers reserve the estimated cost before
// sending; the HTTP layer then corrects the RU bucket with the
// x-ms-resource-unit Graph actually charged.
//
// It slows down before Graph says 429: once answers carry
// x-ms-throttle-limit-percentage ≥ 0.8, the local bucket is clipped to the
// headroom Graph reports and the refill pace is reduced, recovering by 10 %
// of the nominal pace per RU window without new signals. A 429 (Retry-After)
// blocks every caller of the budget until it expires, so one throttled
// worker stops its peers from adding to a 429 storm.
//
// Budget never sleeps except in Wait, which is bounded by maxInlineWait.
type Budget struct {
	mu  sync.Mutex
	now func() time.Time

	cfg          BudgetConfig
	ruTokens     float64
	wTokens      float64
	last         time.Time
	pace         float64 // 0.2..1, multiplies capacity and refill rate
	share        float64 // (0,1], this process's part of the quota (SetShare)
	blockedUntil time.Time
	lastPct      float64

	slots [statsWindowSeconds]statSlot
	total Usage

	// name says whose quota this is, for messages ("app X in tenant Y").
	name string
	// key is the Registry's key ("tenant/client" or "app/client"), which
	// names the budget across processes (shard Leases, metrics).
	key string
	// app is the app-wide budget (all tenants of the client ID) that gates
	// every request of this one too; nil for an app-wide budget itself.
	// Lock order: a budget's mu, then its app's.
	app *Budget
}

// statsWindowSeconds is the wall-clock window Stats reports over. One minute
// spans several RU windows and is what a human reading Directory status
// means by "recently"; it is not scaled by TimeScale.
const statsWindowSeconds = 60

// maxInlineWait bounds how long Budget.Wait (and so any Client call, which
// paces through it) may hold a goroutine. A 20-item $batch of writes needs
// 20 write tokens, 1 s of refill at the published 3,000/150 s, so batch
// pacing at the quota fits; anything longer becomes a Throttled error and a
// controller requeue instead of a parked worker.
const maxInlineWait = time.Second

const (
	minPace             = 0.2
	paceRecoveryPerWind = 0.1
	throttledPace       = 0.5
	// limitPctThreshold is where Graph starts sending
	// x-ms-throttle-limit-percentage and where we start slowing down.
	limitPctThreshold = 0.8
)

type statSlot struct {
	sec                             int64
	requests, ru, writes, throttled int64
}

// BudgetStats summarizes recent use for Directory status and metrics.
type BudgetStats struct {
	// WindowSeconds is the wall-clock span of the counters below (60).
	WindowSeconds int
	Requests      int64 // HTTP requests (a $batch envelope counts 1)
	ResourceUnits int64 // RU charged (x-ms-resource-unit, else our estimate)
	Writes        int64
	Throttled     int64 // 429 answers, including items inside a $batch
	// Blocked is how long callers must still wait after the last 429.
	Blocked time.Duration
	// AvailableResourceUnits and AvailableWrites are the bucket levels now.
	AvailableResourceUnits int
	AvailableWrites        int
	// Pace is the current fraction (0.2–1) of the configured quota we allow
	// ourselves; below 1 after Graph reported ≥ 80 % use or a 429.
	Pace float64
	// LimitPercentage is the last x-ms-throttle-limit-percentage seen.
	LimitPercentage float64
	// Share is this process's part of the quota (SetShare): 1 unless
	// shards split it.
	Share float64
	// Total counts everything since the budget was created.
	Total Usage
}

// NewBudget returns a full budget for cfg (zero fields get S-tenant limits).
func NewBudget(cfg BudgetConfig) *Budget {
	return newBudgetAt(cfg, time.Now)
}

func newBudgetAt(cfg BudgetConfig, now func() time.Time) *Budget {
	cfg = cfg.normalized()
	return &Budget{
		now:      now,
		cfg:      cfg,
		ruTokens: float64(cfg.ResourceUnitsPer10s),
		wTokens:  float64(cfg.WritesPer150s),
		last:     now(),
		pace:     1,
		share:    1,
	}
}

// Config returns the limits in force.
func (b *Budget) Config() BudgetConfig {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg
}

// SetConfig changes the limits (a Directory's throttle settings changed).
// Current levels are kept, clipped to the new capacity on the next refill.
func (b *Budget) SetConfig(cfg BudgetConfig) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(b.now())
	b.cfg = cfg.normalized()
}

func (b *Budget) rates() (ruCap, ruRate, wCap, wRate float64) {
	ruCap = float64(b.cfg.ResourceUnitsPer10s) * b.pace * b.share
	wCap = float64(b.cfg.WritesPer150s) * b.pace * b.share
	ruRate = ruCap / b.cfg.ruWindow().Seconds() * b.cfg.RefillShare
	wRate = wCap / b.cfg.writeWindow().Seconds() * b.cfg.RefillShare
	return
}

func (b *Budget) refillLocked(now time.Time) {
	var el float64
	if now.After(b.last) {
		el = now.Sub(b.last).Seconds()
		b.last = now
	}
	if b.pace < 1 {
		b.pace = math.Min(1, b.pace+el/b.cfg.ruWindow().Seconds()*paceRecoveryPerWind)
	}
	ruCap, ruRate, wCap, wRate := b.rates()
	b.ruTokens = math.Min(ruCap, b.ruTokens+el*ruRate)
	b.wTokens = math.Min(wCap, b.wTokens+el*wRate)
}

// reserve takes ru resource units and writes tokens if they are available
// within maxWait, returning the wait the caller must observe before sending.
// Beyond maxWait nothing is taken and ok is false. Tokens may go negative
// (debt) for a reservation that must wait; the debt delays later callers,
// which keeps reservations first come, first served.
func (b *Budget) reserve(ru, writes int, maxWait time.Duration) (wait time.Duration, ok bool) {
	return b.reserveOrPeek(ru, writes, maxWait, false)
}

func (b *Budget) reserveOrPeek(ru, writes int, maxWait time.Duration, peek bool) (wait time.Duration, ok bool) {
	wait, ok, _ = b.reserveOrPeekWho(ru, writes, maxWait, peek)
	return wait, ok
}

// reserveOrPeekWho is reserveOrPeek that also names the budget that set the
// wait (this one or its app-wide one). Both are taken from, or neither.
func (b *Budget) reserveOrPeekWho(ru, writes int, maxWait time.Duration, peek bool) (wait time.Duration, ok bool, who *Budget) {
	b.mu.Lock()
	defer b.mu.Unlock()
	who = b
	if b.app == nil {
		wait, ok = b.reserveLocked(ru, writes, maxWait, peek)
		return wait, ok, who
	}
	wait, _ = b.reserveLocked(ru, writes, 0, true)
	if aw, _ := b.app.reserveOrPeek(ru, writes, 0, true); aw > wait {
		wait, who = aw, b.app
	}
	if wait > maxWait || peek {
		return wait, wait <= maxWait, who
	}
	aw, ok := b.app.reserveOrPeek(ru, writes, maxWait, false)
	if !ok {
		return aw, false, b.app
	}
	own, _ := b.reserveLocked(ru, writes, maxWait, false)
	return max(own, aw), true, who
}

// reserveLocked is reserveOrPeek for this budget alone. Caller holds b.mu.
func (b *Budget) reserveLocked(ru, writes int, maxWait time.Duration, peek bool) (wait time.Duration, ok bool) {
	now := b.now()
	b.refillLocked(now)
	ruCap, ruRate, wCap, wRate := b.rates()
	// A cost above capacity could never be satisfied: treat it as "needs a
	// full bucket".
	ruNeed := math.Min(float64(max(ru, 0)), ruCap)
	wNeed := math.Min(float64(max(writes, 0)), wCap)
	// eps absorbs float rounding (1000 × 0.1 is not exactly 100).
	const eps = 1e-6
	var secs float64
	if ruNeed > b.ruTokens+eps {
		secs = (ruNeed - b.ruTokens) / ruRate
	}
	if wNeed > b.wTokens+eps {
		secs = math.Max(secs, (wNeed-b.wTokens)/wRate)
	}
	wait = time.Duration(math.Ceil(secs * float64(time.Second)))
	if blocked := b.blockedUntil.Sub(now); blocked > wait {
		wait = blocked
	}
	if wait > maxWait || peek {
		return wait, wait <= maxWait
	}
	b.ruTokens -= ruNeed
	b.wTokens -= wNeed
	return wait, true
}

// Reserve takes ru resource units and writes write tokens if they are
// available now and returns 0; otherwise it takes nothing and returns how
// long to wait before trying again. It never sleeps: a controller turns a
// wait above ~100 ms into RequeueAfter. Client methods reserve their own
// cost; call Reserve only to decide whether to start a unit of work.
func (b *Budget) Reserve(ru, writes int) time.Duration {
	wait, _ := b.reserve(ru, writes, 0)
	return wait
}

// WaitTime returns how long until ru resource units and writes write tokens
// would be available (including any 429 block), taking nothing: for
// deciding how much work to start, or when to requeue.
func (b *Budget) WaitTime(ru, writes int) time.Duration {
	wait, _ := b.reserveOrPeek(ru, writes, 0, true)
	return wait
}

// Wait reserves ru and writes, sleeping at most maxInlineWait (1 s) for them.
// When the budget needs longer it takes nothing and returns a Throttled
// *Error whose RetryAfter says when to come back.
func (b *Budget) Wait(ctx context.Context, ru, writes int) error {
	wait, ok, who := b.reserveOrPeekWho(ru, writes, maxInlineWait, false)
	if !ok {
		// Graph did not answer 429: this is our own pacing, and the
		// message must not suggest otherwise.
		return &Error{
			Kind: Throttled, Op: "budget", Code: "BudgetExhausted", RetryAfter: wait,
			Message: "the operator's own budget for " + who.label() + " is used up (Graph has not throttled)",
		}
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.adjust(-float64(ru), -float64(writes))
		return &Error{Kind: Unknown, Op: "budget", Code: "Canceled", Message: ctx.Err().Error(), cause: ctx.Err()}
	}
}

// adjust corrects the buckets after the fact: positive deltas consume more
// (Graph charged more RU than estimated), negative ones refund.
func (b *Budget) adjust(ruDelta, wDelta float64) {
	if ruDelta == 0 && wDelta == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(b.now())
	ruCap, _, wCap, _ := b.rates()
	b.ruTokens = math.Min(ruCap, b.ruTokens-ruDelta)
	b.wTokens = math.Min(wCap, b.wTokens-wDelta)
	if b.app != nil {
		b.app.adjust(ruDelta, wDelta)
	}
}

// Blocked returns how long callers must still hold off after a 429.
func (b *Budget) Blocked() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(0, b.blockedUntil.Sub(b.now()))
}

// throttled records a 429 from Graph: every caller waits retryAfter, the
// bucket named by x-ms-throttle-information (RU unless it says writes) is
// emptied and the pace halves, since a 429 below our own model's limit means
// someone else spends the same app+tenant quota.
//
// A 429 whose x-ms-throttle-scope is application-wide ("Application/…")
// goes to the app-wide budget, which blocks every tenant of the app.
func (b *Budget) throttled(retryAfter time.Duration, information, scope string) {
	if b.app != nil && strings.HasPrefix(strings.ToLower(scope), "application/") {
		b.app.throttled(retryAfter, information, "")
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.refillLocked(now)
	if until := now.Add(retryAfter); until.After(b.blockedUntil) {
		b.blockedUntil = until
	}
	if strings.Contains(strings.ToLower(information), "write") {
		b.wTokens = math.Min(b.wTokens, 0)
	} else {
		b.ruTokens = math.Min(b.ruTokens, 0)
	}
	b.pace = math.Min(b.pace, throttledPace)
}

// limitPercentage applies x-ms-throttle-limit-percentage (Graph's view of
// how much of the limit is used, 0.8–1.8) from an answer to a read or a
// write. A sustained writer pacing at the quota always runs its bucket near
// empty, so Graph reporting 80–100 % is then exactly what our own model
// predicts and no reason to slow down: that would cap us at ~70 % of the
// quota. Only use Graph reports beyond our model's own figure (someone else
// spends the same app+tenant quota, or our model is off) makes us react:
// the pace is lowered by the unexplained share (floor 0.2). In every case
// the bucket is clipped to the headroom Graph reports.
func (b *Budget) limitPercentage(p float64, write bool) {
	if !(p >= limitPctThreshold) || math.IsInf(p, 0) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(b.now())
	b.lastPct = p
	// Never hold more tokens than the headroom Graph reports: when both
	// models agree this changes nothing.
	var ours float64
	if write {
		ours = 1 - b.wTokens/float64(b.cfg.WritesPer150s)
		b.wTokens = math.Min(b.wTokens, float64(b.cfg.WritesPer150s)*math.Max(0, 1-p))
	} else {
		ours = 1 - b.ruTokens/float64(b.cfg.ResourceUnitsPer10s)
		b.ruTokens = math.Min(b.ruTokens, float64(b.cfg.ResourceUnitsPer10s)*math.Max(0, 1-p))
	}
	if unexplained := p - ours; unexplained >= unexplainedPctTolerance {
		b.pace = math.Min(b.pace, math.Max(minPace, 1-unexplained))
	}
}

// unexplainedPctTolerance is how far Graph's reported use may exceed our
// own model's before we assume another consumer: Graph's figure is sampled
// and rounded, and its bucket refills between its answer and our reading.
const unexplainedPctTolerance = 0.1

// observe adds to the statistics (of the app-wide budget too).
func (b *Budget) observe(u Usage) {
	if b.app != nil {
		b.app.observe(u)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	sec := b.now().Unix()
	s := &b.slots[sec%statsWindowSeconds]
	if s.sec != sec {
		*s = statSlot{sec: sec}
	}
	s.requests += u.Requests
	s.ru += u.ResourceUnits
	s.writes += u.Writes
	s.throttled += u.Throttled
	b.total.add(u)
}

// Stats returns the counters over the last minute and the current state.
func (b *Budget) Stats() BudgetStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.refillLocked(now)
	st := BudgetStats{
		WindowSeconds:          statsWindowSeconds,
		Blocked:                max(0, b.blockedUntil.Sub(now)),
		AvailableResourceUnits: int(math.Floor(math.Max(0, b.ruTokens) + 1e-6)),
		AvailableWrites:        int(math.Floor(math.Max(0, b.wTokens) + 1e-6)),
		Pace:                   b.pace,
		LimitPercentage:        b.lastPct,
		Share:                  b.share,
		Total:                  b.total,
	}
	cut := now.Unix() - statsWindowSeconds
	for _, s := range b.slots {
		if s.sec > cut {
			st.Requests += s.requests
			st.ResourceUnits += s.ru
			st.Writes += s.writes
			st.Throttled += s.throttled
		}
	}
	return st
}

// label names the budget's quota for messages.
func (b *Budget) label() string {
	if b.name != "" {
		return b.name
	}
	return "this app and tenant"
}

// App returns the app-wide budget gating this one, nil if none.
func (b *Budget) App() *Budget { return b.app }
