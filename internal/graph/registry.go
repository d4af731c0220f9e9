package graph

import (
	"strings"
	"sync"
)

// Registry caches one Client per Directory, one Budget per app+tenant and
// one app-wide Budget per client ID. It is safe for concurrent use.
//
// Several Directories (or ClusterDirectories) may use the same app+tenant
// pair, and many the same app. Graph counts their requests together, so they
// share one budget; when they ask for different limits, the budgets apply
// the most conservative figure of each kind (the lowest RU limit, the
// lowest write limit), whoever asked for it and whatever order their clients
// were built in. Throttle reports which Directories disagree.
type Registry struct {
	mu      sync.Mutex
	clients map[string]*registryEntry
	budgets map[string]*Budget
	apps    map[string]*Budget
	// wants holds what each Directory (by key) asks for, whether or not its
	// client is built right now (Forget keeps it, Drop removes it).
	wants map[string]budgetWant
}

type registryEntry struct {
	hash      string
	budgetKey string
	client    *Client
}

// budgetWant is one Directory's throttle settings.
type budgetWant struct {
	budgetKey, appKey string
	tenant, app       BudgetConfig
	label             string // "tenant T, app A", for messages
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{clients: map[string]*registryEntry{}, budgets: map[string]*Budget{},
		apps: map[string]*Budget{}, wants: map[string]budgetWant{}}
}

func budgetKey(cfg Config) string {
	return strings.ToLower(cfg.TenantID) + "/" + strings.ToLower(cfg.ClientID)
}

func appKey(cfg Config) string { return strings.ToLower(cfg.ClientID) }

// Client returns the cached client for key (namespace/name of the
// Directory), building a new one when cfg.Hash() changed (spec or Secret
// edited). The new client keeps the Budget of its app+tenant pair and of
// its app: Graph throttles per app and tenant and per app, so every
// Directory pointing at the same pair (app) shares one budget, and a
// rebuild must not forget recent 429s. Building sends nothing to Graph.
func (r *Registry) Client(key string, cfg Config) (*Client, error) {
	h := cfg.Hash()
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.clients[key]
	if old != nil && old.hash == h {
		return old.client, nil
	}
	bk := budgetKey(cfg)
	prev, hadWant := r.wants[key]
	r.wants[key] = budgetWant{budgetKey: bk, appKey: appKey(cfg), tenant: cfg.Budget.normalized(),
		app: appWideNormalized(cfg.AppBudget), label: "app " + cfg.ClientID + " in tenant " + cfg.TenantID}
	b := r.budgetLocked(bk, appKey(cfg), cfg)
	c, err := newClient(cfg, b)
	if err != nil {
		// Do not keep serving the old configuration after it was changed.
		r.forgetLocked(key)
		return nil, err
	}
	if old != nil {
		old.client.Close()
	}
	r.clients[key] = &registryEntry{hash: h, budgetKey: bk, client: c}
	if hadWant && (prev.budgetKey != bk || prev.appKey != appKey(cfg)) {
		r.applyLocked(prev.budgetKey, prev.appKey)
		r.dropUnusedBudgetsLocked()
	}
	return c, nil
}

// budgetLocked returns the pair's budget (created, linked to the app-wide
// one) with the combined settings of every Directory that uses it applied.
func (r *Registry) budgetLocked(bk, ak string, cfg Config) *Budget {
	app := r.apps[ak]
	if app == nil {
		app = NewBudget(AppWideBudget())
		app.name = "app " + cfg.ClientID + " across all tenants"
		app.key = "app/" + ak
		r.apps[ak] = app
	}
	b := r.budgets[bk]
	if b == nil {
		b = NewBudget(cfg.Budget)
		b.name = "app " + cfg.ClientID + " in tenant " + cfg.TenantID
		b.key = bk
		b.app = app
		r.budgets[bk] = b
	}
	r.applyLocked(bk, ak)
	return b
}

// applyLocked sets the budgets of a pair and of an app to the combination
// of what their Directories ask for.
func (r *Registry) applyLocked(bk, ak string) {
	if b := r.budgets[bk]; b != nil {
		if cfg, n := r.combinedLocked(func(w budgetWant) (BudgetConfig, bool) { return w.tenant, w.budgetKey == bk }); n > 0 && cfg != b.Config() {
			b.SetConfig(cfg)
		}
	}
	if a := r.apps[ak]; a != nil {
		if cfg, n := r.combinedLocked(func(w budgetWant) (BudgetConfig, bool) { return w.app, w.appKey == ak }); n > 0 && cfg != a.Config() {
			a.SetConfig(cfg)
		}
	}
}

func (r *Registry) combinedLocked(pick func(budgetWant) (BudgetConfig, bool)) (BudgetConfig, int) {
	var cfgs []BudgetConfig
	for _, w := range r.wants {
		if c, ok := pick(w); ok {
			cfgs = append(cfgs, c)
		}
	}
	return CombineBudgets(cfgs...), len(cfgs)
}

// Forget drops the cached client of a Directory (so the next one fetches a
// fresh token, e.g. after admin consent) but keeps its budgets and its
// settings: Graph remembers what this app spent and its recent 429s, and so
// must we.
func (r *Registry) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(key)
}

// Drop forgets a deleted Directory: its client, its settings (the budgets
// it shared fall back to the others' combination) and the budgets no other
// Directory uses.
func (r *Registry) Drop(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(key)
	if w, ok := r.wants[key]; ok {
		delete(r.wants, key)
		r.applyLocked(w.budgetKey, w.appKey)
	}
	r.dropUnusedBudgetsLocked()
}

func (r *Registry) forgetLocked(key string) {
	e := r.clients[key]
	if e == nil {
		return
	}
	delete(r.clients, key)
	e.client.Close()
}

func (r *Registry) dropUnusedBudgetsLocked() {
	usedB, usedA := map[string]bool{}, map[string]bool{}
	for _, w := range r.wants {
		usedB[w.budgetKey], usedA[w.appKey] = true, true
	}
	for _, e := range r.clients {
		usedB[e.budgetKey] = true
	}
	for k := range r.budgets {
		if !usedB[k] {
			delete(r.budgets, k)
		}
	}
	for k := range r.apps {
		if !usedA[k] {
			delete(r.apps, k)
		}
	}
}
