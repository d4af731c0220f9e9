package graphsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
)

// Cloud serves several emulated tenants behind one listener, as
// login.microsoftonline.com and graph.microsoft.com serve every tenant: the
// authority picks the tenant from the path (/{tenant}/oauth2/v2.0/token,
// /{tenant}/v2.0/.well-known/openid-configuration), Graph from the access
// token's tid claim. All tenants share one AppBudgets, so an app's requests
// to every tenant count against its app-wide limits (150,000 RU per 20 s,
// 35,000 writes per 5 min), while each tenant's writes of every app count
// against that tenant's own limit (18,000 per 5 min). Counters are kept per
// tenant (each Server's Counters) and per app (AppBudgets.Counters).
//
// The control plane of a tenant is under /_sim/tenants/{tenant}/…; plain
// /_sim/… addresses the first tenant.
type Cloud struct {
	budgets *AppBudgets
	tmpl    Options

	mu      sync.Mutex
	tenants []*Server
}

// NewCloud returns a cloud whose tenants are built from tmpl (TenantID,
// OrgDisplayName and Domains are set per tenant by AddTenant); a nil
// tmpl.AppBudgets gets a new one, shared by every tenant.
func NewCloud(tmpl Options) *Cloud {
	if tmpl.AppBudgets == nil {
		tmpl.AppBudgets = NewAppBudgets()
	}
	return &Cloud{budgets: tmpl.AppBudgets, tmpl: tmpl}
}

// AddTenant adds a tenant (before Start, or while serving). Register apps
// in it with its AddApp: a multi-tenant app needs consent in each tenant.
func (c *Cloud) AddTenant(tenantID, orgName string, domains ...string) *Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.tmpl
	o.TenantID, o.OrgDisplayName, o.Domains = tenantID, orgName, domains
	// Object ids are unique across Entra: each tenant draws its own
	// (still seed-deterministic) id stream.
	o.Seed = c.tmpl.Seed + int64(len(c.tenants))*1_000_003
	s := New(o)
	c.tenants = append(c.tenants, s)
	return s
}

// AppBudgets are the app-wide buckets and per-app counters of the cloud.
func (c *Cloud) AppBudgets() *AppBudgets { return c.budgets }

// Tenants returns the tenants in the order they were added.
func (c *Cloud) Tenants() []*Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Server(nil), c.tenants...)
}

// Start listens with TLS on the first tenant's listener (its URL, CA and
// Close are the cloud's), serving every tenant.
func (c *Cloud) Start() error {
	ts := c.Tenants()
	if len(ts) == 0 {
		return errNoTenant
	}
	ts[0].handler = http.HandlerFunc(c.serveHTTP)
	return ts[0].Start()
}

// Handler serves every tenant (for in-process use without Start).
func (c *Cloud) Handler() http.Handler { return http.HandlerFunc(c.serveHTTP) }

// URL is the base of the authority host and of Graph for every tenant.
func (c *Cloud) URL() string { return c.Tenants()[0].URL() }

// CACertPEM is the certificate clients must trust.
func (c *Cloud) CACertPEM() []byte { return c.Tenants()[0].CACertPEM() }

// Close stops the listener.
func (c *Cloud) Close() { c.Tenants()[0].Close() }

type cloudError string

func (e cloudError) Error() string { return string(e) }

const errNoTenant = cloudError("graphsim: a Cloud needs a tenant before Start")

func (c *Cloud) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/v1.0" || strings.HasPrefix(p, "/v1.0/") || p == "/beta" || strings.HasPrefix(p, "/beta/"):
		c.tenantOfToken(r).serveHTTP(w, r)
	case strings.HasPrefix(p, "/_sim/tenants/"):
		rest := strings.TrimPrefix(p, "/_sim/tenants/")
		id, sub, _ := strings.Cut(rest, "/")
		s := c.tenant(id)
		if s == nil {
			writeRaw(w, http.StatusNotFound, "text/plain; charset=utf-8", []byte("graphsim: unknown tenant "+id+"\n"))
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/_sim/" + sub
		s.serveHTTP(w, r2)
	default:
		// The authority: /{tenant}/…; "common", "organizations" and unknown
		// tenants go to the first tenant, which answers as Entra does.
		seg, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		s := c.tenant(seg)
		if s == nil {
			s = c.Tenants()[0]
		}
		s.serveHTTP(w, r)
	}
}

// tenant finds a tenant by id or verified domain.
func (c *Cloud) tenant(idOrDomain string) *Server {
	for _, s := range c.Tenants() {
		if s.knownTenant(idOrDomain) {
			return s
		}
	}
	return nil
}

// tenantOfToken routes a Graph request by its token's tid claim. The
// signature is checked by the tenant itself; a missing or unreadable token
// goes to the first tenant, which answers 401 as Graph does.
func (c *Cloud) tenantOfToken(r *http.Request) *Server {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if parts := strings.Split(raw, "."); ok && len(parts) == 3 {
		if b, err := decodeSeg(parts[1]); err == nil {
			var claims struct {
				Tid string `json:"tid"`
			}
			if json.Unmarshal(b, &claims) == nil {
				if s := c.tenant(claims.Tid); s != nil {
					return s
				}
			}
		}
	}
	return c.Tenants()[0]
}
