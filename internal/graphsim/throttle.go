package graphsim

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bucket is a continuously refilled token bucket: capacity = the published
// limit, refill = limit per window. Graph documents its identity throttling
// as a token bucket; continuous refill makes a sustained client converge to
// exactly limit/window, which is what the throttle model test checks.
type bucket struct {
	tokens float64
	cap    float64
	rate   float64 // tokens per (real, emulator-clock) second
	last   time.Time
}

// A request timed before the bucket's last refill (it read the clock, then
// waited for the lock behind a later one) adds nothing and leaves last
// where it is: moving last back would credit that interval twice and make
// the emulator more generous than Graph.
func (b *bucket) refill(now time.Time) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(b.cap, b.tokens+dt*b.rate)
		b.last = now
	}
}

// Throttle limits from GRAPH.md (identity and access service).
const (
	ruWindow          = 10 * time.Second
	writeWindow       = 150 * time.Second
	writeLimit        = 3000
	tenantWriteWindow = 5 * time.Minute
	tenantWriteLimit  = 18000
	signInPer10s      = 5
	appRUWindow       = 20 * time.Second
	appRULimit        = 150000
	appWriteWindow    = 5 * time.Minute
	appWriteLimit     = 35000
)

// AppBudgets are the application-wide buckets of GRAPH.md's "app, all
// tenants" row. RUPer20s and WritesPer5Min override the published limits
// (tests); set them before the first request.
type AppBudgets struct {
	RUPer20s, WritesPer5Min int

	mu      sync.Mutex
	buckets map[string]*bucket
	counts  map[string]*AppCounters
}

// AppCounters are what one app (client ID) did across every tenant sharing
// the AppBudgets: the sums the app-wide limits apply to.
type AppCounters struct {
	// Requests counts Graph requests and batch items that were charged or
	// throttled (with throttling off: every executed one).
	Requests int64
	// ResourceUnits and Writes are what was charged.
	ResourceUnits, Writes int64
	// Throttled counts 429 answers, whatever the scope.
	Throttled int64
	// ThrottledAppWide counts the 429s of the app-wide buckets.
	ThrottledAppWide int64
}

// NewAppBudgets returns empty application-wide budgets.
func NewAppBudgets() *AppBudgets {
	return &AppBudgets{buckets: map[string]*bucket{}, counts: map[string]*AppCounters{}}
}

// Counters returns the counters of one app (client ID).
func (a *AppBudgets) Counters(appID string) AppCounters {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.counts[strings.ToLower(appID)]; c != nil {
		return *c
	}
	return AppCounters{}
}

// ResetCounters zeroes every app's counters (buckets stay).
func (a *AppBudgets) ResetCounters() {
	a.mu.Lock()
	a.counts = map[string]*AppCounters{}
	a.mu.Unlock()
}

// record counts one request of an app.
func (a *AppBudgets) record(appID string, ru, writes int, tr throttleResult) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := strings.ToLower(appID)
	if a.counts == nil {
		a.counts = map[string]*AppCounters{}
	}
	c := a.counts[k]
	if c == nil {
		c = &AppCounters{}
		a.counts[k] = c
	}
	c.Requests++
	if !tr.ok {
		c.Throttled++
		if strings.HasPrefix(tr.scope, "Application/") {
			c.ThrottledAppWide++
		}
		return
	}
	c.ResourceUnits += int64(ru)
	c.Writes += int64(writes)
}

func (a *AppBudgets) ruLimit() float64 {
	if a.RUPer20s > 0 {
		return float64(a.RUPer20s)
	}
	return appRULimit
}

func (a *AppBudgets) writeLimit() float64 {
	if a.WritesPer5Min > 0 {
		return float64(a.WritesPer5Min)
	}
	return appWriteLimit
}

// tenantSizeLocked returns S, M or L. Caller holds s.mu.
func (s *Server) tenantSizeLocked() string {
	switch s.opts.TenantSize {
	case "S", "M", "L":
		return s.opts.TenantSize
	}
	n := s.st.liveN
	switch {
	case n < 50:
		return "S"
	case n <= 500:
		return "M"
	default:
		return "L"
	}
}

func (s *Server) ruLimitLocked() float64 {
	if s.opts.RUPer10s > 0 {
		return float64(s.opts.RUPer10s)
	}
	switch s.tenantSizeLocked() {
	case "S":
		return 3500
	case "M":
		return 5000
	default:
		return 8000
	}
}

func (s *Server) writeLimitLocked() float64 {
	if s.opts.WritesPer150s > 0 {
		return float64(s.opts.WritesPer150s)
	}
	return writeLimit
}

func (s *Server) tenantWriteLimitLocked() float64 {
	if s.opts.TenantWritesPer5Min > 0 {
		return float64(s.opts.TenantWritesPer5Min)
	}
	return tenantWriteLimit
}

func (s *Server) bucketLocked(key string, limit float64, window time.Duration, now time.Time) *bucket {
	return bucketIn(s.buckets, key, limit, window.Seconds()/s.opts.TimeScale, now)
}

func bucketIn(m map[string]*bucket, key string, limit, w float64, now time.Time) *bucket {
	b := m[key]
	if b == nil {
		b = &bucket{tokens: limit, cap: limit, rate: limit / w, last: now}
		m[key] = b
		return b
	}
	b.refill(now)
	if b.cap != limit {
		b.cap, b.rate = limit, limit/w
		b.tokens = math.Min(b.tokens, limit)
	}
	return b
}

type throttleResult struct {
	ok         bool
	retryAfter float64 // seconds (already compressed by TimeScale)
	scope      string
	info       string
	percent    float64 // highest bucket usage after (or, if throttled, including) this request
}

// chargeLocked spends ru resource units and writes write units for an app.
// Nothing is spent when any bucket lacks tokens: a throttled request costs
// nothing, and Retry-After is the time until every bucket could serve it.
func (s *Server) chargeLocked(appID string, ru, writes int, signIn bool, now time.Time) throttleResult {
	if !s.throttling {
		return throttleResult{ok: true}
	}
	type need struct {
		b     *bucket
		cost  float64
		scope string
		info  string
	}
	needs := []need{{s.bucketLocked("ru|"+appID, s.ruLimitLocked(), ruWindow, now), float64(ru),
		"Tenant_Application/ReadWrite/" + appID + "/" + s.tenantID, "ResourceUnitLimitExceeded"}}
	if signIn {
		lim := float64(s.opts.SignInActivityPer10s)
		if lim <= 0 {
			lim = signInPer10s
		}
		needs = append(needs, need{s.bucketLocked("si|"+appID, lim, ruWindow, now), 1,
			"Tenant_Application/ReadWrite/" + appID + "/" + s.tenantID, "ResourceUnitLimitExceeded"})
	}
	if writes > 0 {
		needs = append(needs,
			need{s.bucketLocked("w|"+appID, s.writeLimitLocked(), writeWindow, now), float64(writes),
				"Tenant_Application/ReadWrite/" + appID + "/" + s.tenantID, "WriteLimitExceeded"},
			need{s.bucketLocked("tw", s.tenantWriteLimitLocked(), tenantWriteWindow, now), float64(writes),
				"Tenant/ReadWrite/" + s.tenantID, "WriteLimitExceeded"})
	}
	ab := s.opts.AppBudgets
	ab.mu.Lock()
	defer ab.mu.Unlock()
	scale := s.opts.TimeScale
	appScope := "Application/ReadWrite/" + appID
	needs = append(needs, need{bucketIn(ab.buckets, "ru|"+appID, ab.ruLimit(), appRUWindow.Seconds()/scale, now), float64(ru),
		appScope, "ResourceUnitLimitExceeded"})
	if writes > 0 {
		needs = append(needs, need{bucketIn(ab.buckets, "w|"+appID, ab.writeLimit(), appWriteWindow.Seconds()/scale, now), float64(writes),
			appScope, "WriteLimitExceeded"})
	}
	res := throttleResult{ok: true}
	for _, n := range needs {
		if n.b.tokens+1e-9 < n.cost {
			wait := (n.cost - n.b.tokens) / n.b.rate
			if !res.ok && wait <= res.retryAfter {
				continue
			}
			res.ok = false
			res.retryAfter = wait
			res.scope = n.scope
			res.info = n.info
		}
	}
	for _, n := range needs {
		used := n.b.cap - n.b.tokens + n.cost
		if p := used / n.b.cap; p > res.percent {
			res.percent = p
		}
		if res.ok {
			n.b.tokens -= n.cost
		}
	}
	return res
}

func formatRetryAfter(sec float64) string {
	// Graph sends fractional seconds (e.g. "2.128"); never send 0, which
	// clients treat as "retry immediately".
	if sec < 0.001 {
		sec = 0.001
	}
	return strconv.FormatFloat(math.Ceil(sec*1000)/1000, 'f', -1, 64)
}
