// Package graphsim is a local emulator of the Microsoft identity platform
// token endpoint and the identity subset of Microsoft Graph v1.0 (users,
// groups, organization, $batch, delta, deleted items) with Graph's throttling
// model. It exists because no Entra tenant is reachable from tests; its
// fidelity to Graph bounds the operator's correctness, so it enforces the
// rules Graph enforces instead of being lenient.
//
// It deliberately shares no code with internal/graph (the production client)
// and does not import the msgraph SDK outside tests, so a misunderstanding
// of the wire format cannot be baked into both sides.
package graphsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// DefaultTenantID is the tenant id used when Options.TenantID is empty.
const DefaultTenantID = "6d4a3b2c-1e0f-4a9b-8c7d-5e6f7a8b9c0d"

// Options configures a Server. The zero value is a faithful, unthrottled,
// instantly consistent tenant named Contoso.
type Options struct {
	TenantID       string   // default DefaultTenantID
	OrgDisplayName string   // default "Contoso"
	Domains        []string // verified custom domains, default ["contoso.com"]; an initial *.onmicrosoft.com domain is always added
	// TimeScale > 1 compresses throttle windows and Retry-After (10 => 10x faster).
	TimeScale float64
	// Throttling enables the token buckets (off by default).
	Throttling bool
	// TenantSize is "S", "M", "L" or "" (derived from the live user count).
	TenantSize string
	// RUPer10s and WritesPer150s override the app+tenant bucket limits.
	RUPer10s, WritesPer150s int
	// TenantWritesPer5Min overrides the tenant-wide (all apps) write limit.
	TenantWritesPer5Min int
	// SignInActivityPer10s limits user listings that select or filter
	// signInActivity, per app (default 5 requests per 10 s; Graph
	// throttles them harder than other user reads without publishing a
	// figure, 5 is its reports-API limit).
	SignInActivityPer10s int
	// AppBudgets holds the per-application limits that span tenants
	// (150,000 RU per 20 s, 35,000 writes per 5 min). Give several Servers
	// (one per tenant) the same AppBudgets to model an app serving many
	// tenants; nil gives the server its own.
	AppBudgets *AppBudgets
	// ReplicationLag makes objects created or changed within this window
	// invisible (new) or stale (changed) to Graph reads.
	ReplicationLag time.Duration
	// FailureRate is the share of Graph requests (and batch items) answered
	// with a random 503/504 generalException.
	FailureRate float64
	// FailureRetryAfter, when > 0, is sent as Retry-After on injected failures.
	FailureRetryAfter time.Duration
	// DropRate is the share of top-level Graph requests whose connection is
	// closed without an answer.
	DropRate float64
	// Latency and LatencyJitter delay every Graph answer by
	// Latency + uniform[0, LatencyJitter).
	Latency, LatencyJitter time.Duration
	// DeltaTokenTTL expires delta tokens (0 = never).
	DeltaTokenTTL time.Duration
	// Seed makes ids and generated tenants deterministic.
	Seed int64
	// Now replaces the wall clock (tests); Advance shifts whichever clock is used.
	Now func() time.Time
	// Addr is the listen address for Start (default 127.0.0.1:0).
	Addr string
	// Hostnames are extra DNS names put in the TLS certificate (127.0.0.1,
	// ::1 and localhost are always included).
	Hostnames []string
}

// Server is one emulated tenant. Create it with New, then Start it or mount
// Handler yourself. All methods are safe for concurrent use.
type Server struct {
	opts     Options
	tenantID string
	orgName  string
	domains  []domainInfo
	orgID    string
	orgCreat time.Time

	mu          sync.Mutex
	st          *store
	apps        map[string]*app
	rng         *mrand.Rand
	offset      time.Duration
	loseAnswer  func(method, path string, status int) bool
	buckets     map[string]*bucket
	cnt         counterState
	replLag     time.Duration
	throttling  bool
	failureRate float64
	deltaTTL    time.Duration
	ownBudgets  bool // AppBudgets not shared with other servers

	tokenKey []byte
	certPEM  []byte
	tlsCert  tls.Certificate
	ts       *httptest.Server
	url      string
	handler  http.Handler
}

type domainInfo struct {
	name      string
	isDefault bool
	isInitial bool
}

// New builds a server; it does not listen until Start.
func New(opts Options) *Server {
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.OrgDisplayName == "" {
		opts.OrgDisplayName = "Contoso"
	}
	if len(opts.Domains) == 0 {
		opts.Domains = []string{"contoso.com"}
	}
	if opts.TimeScale <= 0 {
		opts.TimeScale = 1
	}
	s := &Server{
		opts:        opts,
		tenantID:    strings.ToLower(opts.TenantID),
		orgName:     opts.OrgDisplayName,
		st:          newStore(),
		apps:        map[string]*app{},
		rng:         mrand.New(mrand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15)),
		buckets:     map[string]*bucket{},
		replLag:     opts.ReplicationLag,
		throttling:  opts.Throttling,
		failureRate: opts.FailureRate,
		deltaTTL:    opts.DeltaTokenTTL,
	}
	if s.opts.AppBudgets == nil {
		s.opts.AppBudgets = NewAppBudgets()
		s.ownBudgets = true
	}
	s.cnt.reset()
	for i, d := range opts.Domains {
		s.domains = append(s.domains, domainInfo{name: d, isDefault: i == 0})
	}
	initial := strings.ToLower(strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, opts.OrgDisplayName)) + ".onmicrosoft.com"
	if initial == ".onmicrosoft.com" {
		initial = "tenant.onmicrosoft.com"
	}
	s.domains = append(s.domains, domainInfo{name: initial, isInitial: true})
	s.orgID = s.tenantID
	s.orgCreat = time.Date(2021, 8, 2, 10, 30, 6, 0, time.UTC)
	s.tokenKey = make([]byte, 32)
	_, _ = rand.Read(s.tokenKey)
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s
}

// Handler serves the authority, Graph (/v1.0) and the control plane (/_sim).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens with TLS (azidentity refuses http authorities).
func (s *Server) Start() error {
	if err := s.ensureCert(); err != nil {
		return err
	}
	addr := s.opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ts := httptest.NewUnstartedServer(s.handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{s.tlsCert}}
	ts.StartTLS()
	s.ts = ts
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	s.url = "https://" + net.JoinHostPort(host, port)
	return nil
}

// Close stops the listener.
func (s *Server) Close() {
	if s.ts != nil {
		s.ts.Close()
	}
}

// URL is the base of both the authority host and Graph (Graph under /v1.0).
func (s *Server) URL() string { return s.url }

// CACertPEM is the PEM of the self-signed certificate clients must trust.
func (s *Server) CACertPEM() []byte {
	_ = s.ensureCert()
	return append([]byte(nil), s.certPEM...)
}

// TenantID is the tenant's id (lower case GUID).
func (s *Server) TenantID() string { return s.tenantID }

func (s *Server) ensureCert() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certPEM != nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "graphsim", Organization: []string{"graphsim test CA"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              append([]string{"localhost"}, s.opts.Hostnames...),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	s.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	s.tlsCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return nil
}

// now is the emulator clock: Options.Now (or the wall clock) plus Advance.
func (s *Server) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time {
	var t time.Time
	if s.opts.Now != nil {
		t = s.opts.Now()
	} else {
		t = time.Now()
	}
	return t.Add(s.offset)
}

// Advance moves the emulator clock forward (token expiry, deleted-item
// expiry, replication lag, delta token TTL, throttle refill).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// SetReplicationLag changes the replication lag at run time.
func (s *Server) SetReplicationLag(d time.Duration) {
	s.mu.Lock()
	s.replLag = d
	s.mu.Unlock()
}

// SetThrottling turns the throttle buckets on or off.
func (s *Server) SetThrottling(on bool) {
	s.mu.Lock()
	s.throttling = on
	if !on {
		s.buckets = map[string]*bucket{}
		s.resetOwnBudgetsLocked()
	}
	s.mu.Unlock()
}

// SetFailureRate changes the injected 503/504 share.
func (s *Server) SetFailureRate(p float64) {
	s.mu.Lock()
	s.failureRate = p
	s.mu.Unlock()
}

// SetDeltaTokenTTL changes delta token expiry (0 = never).
func (s *Server) SetDeltaTokenTTL(d time.Duration) {
	s.mu.Lock()
	s.deltaTTL = d
	s.mu.Unlock()
}

// Reset drops all directory data, throttle state and counters; registered
// apps stay.
func (s *Server) Reset() {
	s.mu.Lock()
	s.st = newStore()
	s.buckets = map[string]*bucket{}
	s.resetOwnBudgetsLocked()
	s.cnt.reset()
	s.mu.Unlock()
}

func (s *Server) resetOwnBudgetsLocked() {
	if s.ownBudgets {
		b := s.opts.AppBudgets
		b.mu.Lock()
		b.buckets = map[string]*bucket{}
		b.mu.Unlock()
	}
}

// newID returns a random-looking but seed-deterministic GUID. Caller holds s.mu.
func (s *Server) newID() string {
	a, b := s.rng.Uint64(), s.rng.Uint64()
	a = (a &^ (0xf << 12)) | (0x4 << 12) // version 4
	b = (b &^ (0x3 << 62)) | (0x2 << 62) // RFC 4122 variant
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// randomRequestID is for request ids, which need not be deterministic and
// must not disturb the seeded id stream.
func randomRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/v1.0" || strings.HasPrefix(p, "/v1.0/"):
		s.serveGraph(w, r, "v1.0")
	case p == "/beta" || strings.HasPrefix(p, "/beta/"):
		// Same paths and semantics as v1.0; Counters.BetaRequests tells
		// tests whether a client used beta.
		s.serveGraph(w, r, "beta")
	case strings.HasPrefix(p, "/_sim/") || p == "/_sim":
		s.serveControl(w, r)
	default:
		s.serveAuthority(w, r)
	}
}

func writeRaw(w http.ResponseWriter, status int, ctype string, body []byte) {
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
