package graph

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

var budgetHeadroomDesc = prometheus.NewDesc("directory_operator_graph_budget_headroom_ratio",
	"Share (0..1) of a client-side Graph budget available now, by budget (tenant/client ID for an app+tenant, app/client ID for an app across tenants) and kind (resource_units, writes). 0 means callers wait or requeue.",
	[]string{"budget", "kind"}, nil)

var budgetShareDesc = prometheus.NewDesc("directory_operator_graph_budget_share_ratio",
	"Part (0..1] of a Graph quota this process may spend: 1 alone, 1/N when N shards (--label-selector deployments) spend the same app+tenant (or app) quota.",
	[]string{"budget"}, nil)

// Headroom returns the share of this process's resource-unit and write
// capacity (the nominal one times its shard share) available now (0 while
// in debt or blocked by a Retry-After).
func (b *Budget) Headroom() (ru, writes float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.refillLocked(now)
	if now.Before(b.blockedUntil) {
		return 0, 0
	}
	share := func(tokens float64, capacity int) float64 {
		if capacity <= 0 {
			return 0
		}
		return math.Max(0, math.Min(1, tokens/(float64(capacity)*b.share)))
	}
	return share(b.ruTokens, b.cfg.ResourceUnitsPer10s), share(b.wTokens, b.cfg.WritesPer150s)
}

// Collector reports every budget's headroom at scrape time, so a dashboard
// shows how close each app+tenant is to Graph's limits before a 429.
func (r *Registry) Collector() prometheus.Collector { return budgetCollector{r} }

type budgetCollector struct{ r *Registry }

func (c budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- budgetHeadroomDesc
	ch <- budgetShareDesc
}

func (c budgetCollector) Collect(ch chan<- prometheus.Metric) {
	for key, b := range c.r.Budgets() {
		ru, w := b.Headroom()
		ch <- prometheus.MustNewConstMetric(budgetHeadroomDesc, prometheus.GaugeValue, ru, key, "resource_units")
		ch <- prometheus.MustNewConstMetric(budgetHeadroomDesc, prometheus.GaugeValue, w, key, "writes")
		ch <- prometheus.MustNewConstMetric(budgetShareDesc, prometheus.GaugeValue, b.Share(), key)
	}
}
