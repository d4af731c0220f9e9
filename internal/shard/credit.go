package shard

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AnnotationCredit on a shard's budget Lease lists the tokens it gave up
// when newcomers joined (graph.Budget.Lower), addressed to their Leases.
// Without it the part of a full bucket a shard may no longer hold would be
// dropped, and the first minutes after a second shard starts would run at
// half the quota until both buckets refilled: the burst is Graph's to
// give, so it is split, never duplicated. Each newcomer takes its part once
// (Credit), and only from credits made after it joined.
const AnnotationCredit = "entra.directory-operator.io/budget-credit"

// credit is one hand-over, as written in AnnotationCredit (a JSON list).
type credit struct {
	At     time.Time `json:"at"`
	To     []string  `json:"to"` // Lease names of the newcomers, who split it evenly
	RU     float64   `json:"ru"`
	Writes float64   `json:"writes"`
}

// creditKeep is how long a credit stays on the Lease: newcomers read their
// peers' Leases at every renewal, a third of a duration.
func (c *Coordinator) creditKeep() time.Duration { return 2 * c.duration() }

// census is one count of key's live Leases.
type census struct {
	n           int
	firstExpiry time.Time
	// peers are the other live Leases by name.
	peers map[string]*coordinationv1.Lease
}

// newcomers are the live peers absent from the previous count.
func (s census) newcomers(before map[string]bool) []string {
	var out []string
	for name := range s.peers {
		if !before[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (s census) names() map[string]bool {
	out := make(map[string]bool, len(s.peers))
	for name := range s.peers {
		out[name] = true
	}
	return out
}

// handOver lowers m's share to 1/n after newcomers joined and writes the
// tokens given up to this shard's Lease for them. A failed write loses
// the tokens, never spends them twice.
func (c *Coordinator) handOver(ctx context.Context, key string, m *member, share float64, to []string) {
	ru, writes := m.budget.Lower(share)
	if len(to) == 0 || m.lease == nil {
		return
	}
	// Written even with nothing to give: the credit also tells the
	// newcomers this shard has lowered its share (takeCredits).
	now := c.clock().Now()
	l := m.lease.DeepCopy()
	var list []credit
	_ = json.Unmarshal([]byte(l.Annotations[AnnotationCredit]), &list)
	list = slices.DeleteFunc(list, func(x credit) bool { return now.Sub(x.At) > c.creditKeep() })
	list = append(list, credit{At: now, To: to, RU: ru, Writes: writes})
	raw, _ := json.Marshal(list)
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[AnnotationCredit] = string(raw)
	if err := c.Client.Update(ctx, l); err != nil {
		m.lease = nil // read again at the next renewal
		c.Log.Error(err, "Could not hand unspent Graph quota to the shards that joined; it is dropped", "budget", key)
		return
	}
	m.lease = l
	c.Log.Info("Handed unspent Graph quota to the shards that joined", "budget", key, "writes", int(writes), "resourceUnits", int(ru), "to", to)
}

// takeCredits adds to m's budget its part of every credit its peers made
// for it since it joined, each once. A credit also says its peer has
// lowered its share: when every peer counted at the join has, the rest of
// the debt taken at the join (Owe) is refunded, since from the last
// hand-over on the peers spend only their own parts.
func (c *Coordinator) takeCredits(key string, m *member, s census) {
	own := c.leaseName(key)
	var ru, writes float64
	for name, l := range s.peers {
		var list []credit
		if err := json.Unmarshal([]byte(l.Annotations[AnnotationCredit]), &list); err != nil {
			continue
		}
		for _, x := range list {
			if !x.At.After(m.since) || !x.At.After(m.taken[name]) || !slices.Contains(x.To, own) {
				continue
			}
			k := float64(len(x.To))
			ru, writes = ru+x.RU/k, writes+x.Writes/k
			if m.taken == nil {
				m.taken = map[string]time.Time{}
			}
			m.taken[name] = x.At
			if m.owed[name] {
				delete(m.owed, name)
				m.lastOwed = later(m.lastOwed, x.At)
			}
		}
	}
	if !m.oweUntil.IsZero() && len(m.owed) == 0 {
		m.budget.Refund(m.oweUntil.Sub(m.lastOwed))
		m.oweUntil = time.Time{}
	}
	if ru+writes > 0 {
		m.budget.Credit(ru, writes)
		c.Log.Info("Took unspent Graph quota the other shards handed over", "budget", key, "writes", int(writes), "resourceUnits", int(ru))
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// list reads key's Leases from the API server.
func (c *Coordinator) list(ctx context.Context, key string) ([]coordinationv1.Lease, error) {
	var list coordinationv1.LeaseList
	err := c.Client.List(ctx, &list, client.InNamespace(c.Namespace), client.MatchingLabels{LabelBudget: Hash(key)})
	return list.Items, err
}
