package graph

import (
	"strings"
	"sync"
)

// Registry caches one Client per Directory and one Budget per app+tenant.
// It is safe for concurrent use.
type Registry struct {
	mu      sync.Mutex
	clients map[string]*registryEntry
	budgets map[string]*Budget
}

type registryEntry struct {
	hash      string
	budgetKey string
	client    *Client
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{clients: map[string]*registryEntry{}, budgets: map[string]*Budget{}}
}

func budgetKey(cfg Config) string {
	return strings.ToLower(cfg.TenantID) + "/" + strings.ToLower(cfg.ClientID)
}

// Client returns the cached client for key (namespace/name of the
// Directory), building a new one when cfg.Hash() changed (spec or Secret
// edited). The new client keeps the Budget of its app+tenant pair: Graph
// throttles per app and tenant, so every Directory pointing at the same
// pair shares one budget, and a rebuild must not forget recent 429s. When
// several Directories set different limits for the same pair, the most
// recently built one's limits apply. Building sends nothing to Graph.
func (r *Registry) Client(key string, cfg Config) (*Client, error) {
	h := cfg.Hash()
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.clients[key]
	if old != nil && old.hash == h {
		return old.client, nil
	}
	bk := budgetKey(cfg)
	b := r.budgets[bk]
	if b == nil {
		b = NewBudget(cfg.Budget)
	} else {
		b.SetConfig(cfg.Budget)
	}
	c, err := newClient(cfg, b)
	if err != nil {
		// Do not keep serving the old configuration after it was changed.
		r.forgetLocked(key)
		return nil, err
	}
	r.budgets[bk] = b
	if old != nil {
		old.client.Close()
	}
	r.clients[key] = &registryEntry{hash: h, budgetKey: bk, client: c}
	if old != nil && old.budgetKey != bk {
		r.dropUnusedBudgetLocked(old.budgetKey)
	}
	return c, nil
}

// Forget drops the cached client of a Directory (so the next one fetches a
// fresh token, e.g. after admin consent) but keeps its app+tenant budget:
// Graph remembers what this app spent and its recent 429s, and so must we.
func (r *Registry) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(key)
}

// Drop forgets a deleted Directory's client, and its budget when no other
// Directory uses the same app+tenant pair.
func (r *Registry) Drop(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.clients[key]; e != nil {
		r.forgetLocked(key)
		r.dropUnusedBudgetLocked(e.budgetKey)
	}
}

func (r *Registry) forgetLocked(key string) {
	e := r.clients[key]
	if e == nil {
		return
	}
	delete(r.clients, key)
	e.client.Close()
}

func (r *Registry) dropUnusedBudgetLocked(bk string) {
	for _, e := range r.clients {
		if e.budgetKey == bk {
			return
		}
	}
	delete(r.budgets, bk)
}
