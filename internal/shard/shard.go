// Package shard splits Graph's per app+tenant (and per app) quota between
// the operator's shards: Deployments started with different
// --label-selector values, each with its own leader, that may call Graph
// for the same app and tenant. Graph throttles the pair, not the process,
// so each shard's client-side budget must spend only its part.
//
// Coordination goes through the API server, as the project's rules ask:
// every shard holds one coordination.k8s.io Lease per budget it uses,
// renews it every third of the Lease duration, lists the Leases of the
// same budget and spends 1/N of the quota, N being the Leases not expired.
package shard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/internal/graph"
)

// Labels and annotation on the budget Leases. The label value is a hash of
// the budget key (tenant and client IDs are not secret, but two GUIDs
// exceed a label value's 63 characters); the annotation spells the key out
// for a human running kubectl.
const (
	LabelBudget      = "entra.directory-operator.io/budget"
	AnnotationBudget = "entra.directory-operator.io/budget-key"
	managedByValue   = "directory-operator"
)

// DefaultDuration is how long a shard's Lease lives without renewal: the
// longest a dead shard's part of the quota stays unused.
const DefaultDuration = 15 * time.Second

// Coordinator keeps this process's budget Leases and shares. One per
// manager; it runs (Start) only while the manager leads its shard, as
// reconciles, the only Graph callers, do.
type Coordinator struct {
	// Client must read from the API server, not from a cache: the Leases
	// of other shards are the point.
	Client    client.Client
	Namespace string
	// Identity names this shard (hostname and label selector): two live
	// processes must never share one.
	Identity string
	// Duration is the Lease duration (default DefaultDuration).
	Duration time.Duration
	// Budgets lists the budgets in use by key (graph.Registry.Budgets).
	Budgets func() map[string]*graph.Budget
	Clock   clock.WithTicker
	Log     logr.Logger

	mu     sync.Mutex
	joined map[string]*member
	// done holds the budgets joined (key → *graph.Budget), read without
	// mu: Join runs on every reconcile, and must not wait for a Tick
	// talking to a slow API server.
	done sync.Map
}

type member struct {
	budget  *graph.Budget
	lease   *coordinationv1.Lease // as last written
	renewed time.Time             // last successful renewal
	shards  int                   // live Leases at the last count
	// peerExpiry is when the first peer's Lease expires unless renewed:
	// the recount is due then, not a renewal period later, so a dead
	// shard's part comes back within one Lease duration of its death.
	peerExpiry time.Time
	// requests is the budget's request count at the last Tick, used is
	// when it last changed: a shard idle on a budget hands its part back.
	requests int64
	used     time.Time
	// peers are the other live Leases at the last count: a name not in
	// it at the next count is a newcomer owed part of this shard's
	// unspent tokens (handOver).
	peers map[string]bool
	// since is when this process joined; taken is, per peer Lease, the
	// last credit taken from it: a credit is taken once, and never one
	// made before this process joined (an earlier run's).
	since time.Time
	taken map[string]time.Time
	// owed are the peers counted when this process joined that have not
	// handed over yet, oweUntil when the debt taken for them ends (Owe):
	// once all have, the debt beyond the last of them (lastOwed) is
	// refunded.
	owed     map[string]bool
	oweUntil time.Time
	lastOwed time.Time
}

// idleLeases is how many Lease durations a shard may leave a budget unused
// before it hands its part back (see Tick).
const idleLeases = 2

func (c *Coordinator) duration() time.Duration {
	if c.Duration > 0 {
		return c.Duration
	}
	return DefaultDuration
}

// RenewPeriod is how often Leases are renewed and counted: a third of the
// duration, so two missed renewals still keep a live shard counted.
func (c *Coordinator) RenewPeriod() time.Duration { return c.duration() / 3 }

func (c *Coordinator) clock() clock.WithTicker {
	if c.Clock == nil {
		return clock.RealClock{}
	}
	return c.Clock
}

// Join registers this shard for b's quota and b's app-wide one before the
// budget's first Graph call: it writes the Lease, counts the live ones and
// sets the share. A shard joining others starts in debt of one renewal
// period (graph.Budget.Owe), the longest the others may still spend the
// whole quota before they count the newcomer, so the newcomer's first
// tokens never add to theirs. Joining a budget already joined costs
// nothing. An error (API server unreachable) leaves the budget unjoined:
// the caller fails and retries, and nothing is spent meanwhile.
func (c *Coordinator) Join(ctx context.Context, b *graph.Budget) error {
	for _, x := range []*graph.Budget{b, b.App()} {
		if x == nil || x.Key() == "" {
			continue
		}
		if err := c.join(ctx, x); err != nil {
			return err
		}
	}
	return nil
}

func (c *Coordinator) join(ctx context.Context, b *graph.Budget) error {
	key := b.Key()
	if v, ok := c.done.Load(key); ok && v == b {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.joined[key]
	if m != nil && m.budget == b {
		return nil
	}
	if m == nil {
		m = &member{since: c.clock().Now()}
	}
	if err := c.renew(ctx, key, m); err != nil {
		return fmt.Errorf("registering this shard's share of the Graph quota: %w", err)
	}
	s, err := c.count(ctx, key)
	if err != nil {
		return fmt.Errorf("counting the shards sharing the Graph quota: %w", err)
	}
	n := s.n
	m.peerExpiry, m.peers = s.firstExpiry, s.names()
	b.SetShare(1 / float64(n))
	if n > 1 {
		b.Owe(c.RenewPeriod())
		m.owed, m.oweUntil = s.names(), c.clock().Now().Add(c.RenewPeriod())
	}
	m.budget, m.shards = b, n
	m.requests, m.used = b.Stats().Total.Requests, c.clock().Now()
	if c.joined == nil {
		c.joined = map[string]*member{}
	}
	c.joined[key] = m
	c.done.Store(key, b)
	c.Log.Info("Joined the shards sharing a Graph quota", "budget", key, "shards", n)
	return nil
}

// Shards is the number of live shards sharing key's quota at the last
// count (0 when this process has not joined it).
func (c *Coordinator) Shards(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.joined[key]; m != nil {
		return m.shards
	}
	return 0
}

// NeedLeaderElection: only the shard's leader reconciles, so only it
// spends and holds Leases.
func (c *Coordinator) NeedLeaderElection() bool { return true }

// Start renews and recounts every RenewPeriod, and as soon as a peer's
// Lease expires, until ctx ends; then it deletes this shard's Leases so the
// others take its part back at their next renewal instead of after the
// Lease expires.
func (c *Coordinator) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.Release(rctx)
			return nil
		case <-c.clock().After(c.next()):
			c.Tick(ctx)
		}
	}
}

// next is the wait until the next Tick: a renewal period, or less when a
// peer's Lease expires sooner (plus a little, so it has expired).
func (c *Coordinator) next() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, now := c.RenewPeriod(), c.clock().Now()
	for _, m := range c.joined {
		if !m.peerExpiry.IsZero() {
			d = min(d, m.peerExpiry.Sub(now)+10*time.Millisecond)
		}
	}
	return max(d, 10*time.Millisecond)
}

// Tick renews this shard's Leases, recounts the live ones and sets each
// budget's share, and gives up the Leases of budgets no longer in use.
func (c *Coordinator) Tick(ctx context.Context) {
	inUse := c.Budgets()
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, m := range c.joined {
		dropped := inUse[key] != m.budget
		if dropped || c.idle(m) {
			// Dropped, rebuilt (the new budget joins before its use), or
			// unused for idleLeases durations: a shard whose work is done
			// must not keep its part from one still working. Forgotten
			// first, so a reconcile starting now joins again (after this
			// Tick) instead of spending a parked budget.
			c.done.CompareAndDelete(key, m.budget)
			if !dropped {
				m.budget.SetShare(0)
				m.budget.Owe(0)
				c.Log.Info("Handing back an idle shard's part of a Graph quota", "budget", key)
			}
			c.release(ctx, key, m)
			delete(c.joined, key)
			continue
		}
		c.update(ctx, key, m)
	}
}

// idle says whether m's budget sent nothing for idleLeases durations. An
// idle budget is parked (Tick) at the minimum share, its bucket empty,
// until its next use joins again (Join, from the Resolver): anything
// spending it without joining first gets the operator's own Throttled
// answer, never tokens the peers now count as theirs. The price: the first
// request after a pause waits for a little refill instead of using a full
// bucket.
func (c *Coordinator) idle(m *member) bool {
	now, req := c.clock().Now(), m.budget.Stats().Total.Requests
	if req != m.requests {
		m.requests, m.used = req, now
		return false
	}
	return now.Sub(m.used) >= idleLeases*c.duration()
}

// update is one renewal of one budget. On any error the share is never
// raised: a peer that seems gone may only be unreachable. When this shard
// itself could not renew for a whole Lease duration, the others have
// dropped it and taken its part, so it goes down to the minimum until it
// is counted again.
func (c *Coordinator) update(ctx context.Context, key string, m *member) {
	ctx, cancel := context.WithTimeout(ctx, c.RenewPeriod())
	defer cancel()
	old := m.budget.Share()
	err := c.renew(ctx, key, m)
	var s census
	if err == nil {
		s, err = c.count(ctx, key)
	}
	if err != nil {
		if c.clock().Since(m.renewed) >= c.duration() {
			m.budget.SetShare(0)
		}
		c.Log.Error(err, "Could not renew this shard's share of a Graph quota; keeping the share", "budget", key, "share", m.budget.Share())
		return
	}
	n, joined := s.n, s.newcomers(m.peers)
	m.shards, m.peerExpiry, m.peers = n, s.firstExpiry, s.names()
	c.takeCredits(key, m, s)
	share := 1 / float64(n)
	switch {
	case share < old && len(joined) > 0:
		c.handOver(ctx, key, m, share, joined)
	case share != old:
		m.budget.SetShare(share)
	default:
		return
	}
	c.Log.Info("Shards sharing a Graph quota changed", "budget", key, "shards", n, "share", share)
}

// Release deletes this shard's Leases (clean shutdown).
func (c *Coordinator) Release(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, m := range c.joined {
		c.release(ctx, key, m)
		c.done.Delete(key)
	}
	c.joined = nil
}

func (c *Coordinator) release(ctx context.Context, key string, m *member) {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.leaseName(key)}}
	if err := c.Client.Delete(ctx, l); err != nil && !apierrors.IsNotFound(err) {
		c.Log.Error(err, "Could not delete this shard's budget Lease; the others wait for it to expire", "budget", key)
	}
}

// Hash is the DNS-safe name of a budget key or identity in Lease names and
// labels.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:16]
}

func (c *Coordinator) leaseName(key string) string {
	return "directory-operator-budget-" + Hash(key) + "-" + Hash(c.Identity)[:8]
}
