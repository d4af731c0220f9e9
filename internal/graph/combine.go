package graph

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// CombineBudgets is the budget several Directories sharing one quota keep
// to together: the most conservative figure of each kind (lowest RU limit,
// lowest write limit, lowest refill share). It is independent of the order
// of cfgs, so it never flips with the order clients were built in. The
// windows and TimeScale are the first config's (they are the same for every
// Directory of one quota).
func CombineBudgets(cfgs ...BudgetConfig) BudgetConfig {
	if len(cfgs) == 0 {
		return BudgetConfig{}.normalized()
	}
	out := cfgs[0].normalized()
	for _, c := range cfgs[1:] {
		c = c.normalized()
		out.ResourceUnitsPer10s = min(out.ResourceUnitsPer10s, c.ResourceUnitsPer10s)
		out.WritesPer150s = min(out.WritesPer150s, c.WritesPer150s)
		out.RefillShare = math.Min(out.RefillShare, c.RefillShare)
	}
	return out
}

// appWideNormalized fills the zero fields of an app-wide budget request
// with Graph's published app-wide limits.
func appWideNormalized(c BudgetConfig) BudgetConfig {
	d := AppWideBudget()
	if c.ResourceUnitsPer10s <= 0 {
		c.ResourceUnitsPer10s = d.ResourceUnitsPer10s
	}
	if c.WritesPer150s <= 0 {
		c.WritesPer150s = d.WritesPer150s
	}
	c.RUWindow, c.WriteWindow = d.RUWindow, d.WriteWindow
	return c.normalized()
}

// ThrottleReport is what a Directory's status says about the budgets it
// uses: the limits in force and their state now, and the Directories whose
// settings differ from its own.
type ThrottleReport struct {
	// AppTenant is the budget of the app in this tenant; App the app-wide
	// one (all tenants).
	AppTenant, App BudgetReport
	// SharedWith are the other Directories (keys) of the same app+tenant.
	SharedWith []string
	// Conflict describes settings that differ from this Directory's and
	// which figures are in force; "" when every sharer agrees.
	Conflict string
}

// BudgetReport is one budget's limits in force and its state now.
type BudgetReport struct {
	Config BudgetConfig
	Stats  BudgetStats
}

// Throttle reports the budgets of the Directory key, false before its
// first client was built.
func (r *Registry) Throttle(key string) (ThrottleReport, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.wants[key]
	b, a := r.budgets[w.budgetKey], r.apps[w.appKey]
	if !ok || b == nil || a == nil {
		return ThrottleReport{}, false
	}
	rep := ThrottleReport{
		AppTenant: BudgetReport{Config: b.Config(), Stats: b.Stats()},
		App:       BudgetReport{Config: a.Config(), Stats: a.Stats()},
	}
	var conflicts []string
	for k, o := range r.wants {
		if k == key {
			continue
		}
		if o.budgetKey == w.budgetKey {
			rep.SharedWith = append(rep.SharedWith, k)
			conflicts = append(conflicts, differences(k, "", w.tenant, o.tenant)...)
		}
		if o.appKey == w.appKey {
			conflicts = append(conflicts, differences(k, "app-wide ", w.app, o.app)...)
		}
	}
	sort.Strings(rep.SharedWith)
	if len(conflicts) > 0 {
		sort.Strings(conflicts)
		rep.Conflict = fmt.Sprintf("throttle settings differ from other Directories of the same app (%s); the most conservative apply: "+
			"%d RU per %s and %d writes per %s for app+tenant, %d RU per %s and %d writes per %s app-wide",
			strings.Join(conflicts, "; "),
			rep.AppTenant.Config.ResourceUnitsPer10s, windowText(rep.AppTenant.Config.RUWindow, "10s"),
			rep.AppTenant.Config.WritesPer150s, windowText(rep.AppTenant.Config.WriteWindow, "2m30s"),
			rep.App.Config.ResourceUnitsPer10s, windowText(rep.App.Config.RUWindow, "20s"),
			rep.App.Config.WritesPer150s, windowText(rep.App.Config.WriteWindow, "5m0s"))
	}
	return rep, true
}

// differences lists the figures other asks for that differ from own.
func differences(other, prefix string, own, o BudgetConfig) []string {
	var out []string
	if own.ResourceUnitsPer10s != o.ResourceUnitsPer10s {
		out = append(out, fmt.Sprintf("%s asks %s%d RU (here %d)", other, prefix, o.ResourceUnitsPer10s, own.ResourceUnitsPer10s))
	}
	if own.WritesPer150s != o.WritesPer150s {
		out = append(out, fmt.Sprintf("%s asks %s%d writes (here %d)", other, prefix, o.WritesPer150s, own.WritesPer150s))
	}
	return out
}

func windowText(w time.Duration, def string) string {
	if w > 0 {
		return w.String()
	}
	return def
}
