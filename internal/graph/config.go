package graph

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math"
	"net/url"
	"strings"
	"time"
)

// Config is everything needed to build a client for one Directory. Secret
// material lives only here and is never logged or put in errors.
type Config struct {
	TenantID string
	ClientID string
	// AuthorityHost is the Entra login host, e.g.
	// https://login.microsoftonline.com/ (trailing slash optional).
	AuthorityHost string
	// GraphEndpoint is the Graph root without version, e.g.
	// https://graph.microsoft.com.
	GraphEndpoint string

	// Exactly one credential is expected. If several are set, the certificate
	// wins over the secret, and the secret over the federated token file.
	ClientSecret       string
	CertificatePEM     []byte
	PrivateKeyPEM      []byte
	FederatedTokenFile string

	// CABundlePEM holds extra roots trusted, in addition to the system
	// roots, for both token and Graph calls (custom clouds, the emulator).
	CABundlePEM []byte

	Budget BudgetConfig
	// AppBudget is the app-wide quota (all tenants) this Directory asks
	// for; zero fields get AppWideBudget's.
	AppBudget BudgetConfig
	// HTTPTimeout bounds one HTTP exchange including the SDK's short retry;
	// default 60s.
	HTTPTimeout time.Duration
	// UserAgent is the product token sent to Graph; default
	// "directory-operator".
	UserAgent string
	// Scope overrides the token scope. Default: GraphEndpoint + "/.default"
	// for the three public clouds' Graph endpoints, and
	// https://graph.microsoft.com/.default for any other endpoint (see
	// defaultScope).
	Scope string
}

// AdminConsentURL is where a tenant administrator grants the app's
// application permissions, for conditions that report missing consent.
func (c Config) AdminConsentURL() string {
	authority := c.AuthorityHost
	if authority == "" {
		authority, _ = CloudEndpoints(CloudAzurePublic)
	}
	return strings.TrimSuffix(authority, "/") + "/" + url.PathEscape(c.TenantID) +
		"/adminconsent?client_id=" + url.QueryEscape(c.ClientID)
}

// redactedConfig is what Config shows of itself when printed or logged.
type redactedConfig struct {
	TenantID, ClientID, AuthorityHost, GraphEndpoint string
	Credential                                       string
	CABundle                                         bool
	Budget                                           BudgetConfig
	HTTPTimeout                                      time.Duration
}

func (c Config) redacted() redactedConfig {
	cred := "none"
	switch {
	case len(c.CertificatePEM) > 0 || len(c.PrivateKeyPEM) > 0:
		cred = "certificate"
	case c.ClientSecret != "":
		cred = "secret"
	case c.FederatedTokenFile != "":
		cred = "workloadIdentity"
	}
	return redactedConfig{c.TenantID, c.ClientID, c.AuthorityHost, c.GraphEndpoint, cred, len(c.CABundlePEM) > 0, c.Budget, c.HTTPTimeout}
}

// String, GoString and MarshalJSON keep secrets out of logs however a
// Config gets printed (fmt verbs, structured loggers).
func (c Config) String() string { return fmt.Sprintf("%+v", c.redacted()) }

// GoString implements fmt.GoStringer for %#v.
func (c Config) GoString() string { return "graph.Config" + c.String() }

// MarshalJSON implements json.Marshaler with the secrets left out.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.redacted()) }

// defaultScope is the token scope for a Graph root. Tokens must carry
// Graph's resource identifier as audience, which for each national cloud is
// its Graph endpoint. A custom endpoint (a proxy, a private cloud front or
// the emulator) is not itself a resource in Entra: it fronts Microsoft Graph,
// so it gets the global Graph resource identifier, the audience Graph (and
// the emulator) accept.
func defaultScope(graphRoot string) string {
	if u, err := url.Parse(graphRoot); err == nil {
		switch strings.ToLower(u.Host) {
		case "graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn":
			return "https://" + strings.ToLower(u.Host) + "/.default"
		}
	}
	_, g := CloudEndpoints(CloudAzurePublic)
	return g + "/.default"
}

// Well-known clouds.
const (
	CloudAzurePublic       = "AzurePublic"
	CloudAzureUSGovernment = "AzureUSGovernment"
	CloudAzureChina        = "AzureChina"
)

// CloudEndpoints returns the authority host and Graph endpoint of a named
// cloud. "" means AzurePublic; an unknown name (e.g. "Custom") yields empty
// strings so the caller must supply both.
func CloudEndpoints(cloud string) (authorityHost, graphEndpoint string) {
	switch cloud {
	case "", CloudAzurePublic:
		return "https://login.microsoftonline.com/", "https://graph.microsoft.com"
	case CloudAzureUSGovernment:
		return "https://login.microsoftonline.us/", "https://graph.microsoft.us"
	case CloudAzureChina:
		return "https://login.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn"
	}
	return "", ""
}

// hashKey makes Config.Hash a keyed hash: equal configs hash equally for
// the life of the process (all a client cache needs), but the value is no
// offline guessing oracle for the secret if it ever ends up in a log.
var hashKey = func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		// crypto/rand never fails on supported platforms; an unkeyed hash
		// would still be correct, only weaker.
		return nil
	}
	return k
}()

// Hash is a digest (HMAC-SHA256 under a per-process key) of every field,
// secrets included, used to rebuild cached clients when the Directory or its
// Secret changes. It is stable within a process and reveals nothing about
// the secrets.
func (c Config) Hash() string {
	h := hmac.New(sha256.New, hashKey)
	writeField(h, c.TenantID)
	writeField(h, c.ClientID)
	writeField(h, c.AuthorityHost)
	writeField(h, c.GraphEndpoint)
	writeField(h, c.ClientSecret)
	writeField(h, string(c.CertificatePEM))
	writeField(h, string(c.PrivateKeyPEM))
	writeField(h, c.FederatedTokenFile)
	writeField(h, string(c.CABundlePEM))
	writeNum(h, uint64(c.Budget.ResourceUnitsPer10s))
	writeNum(h, uint64(c.Budget.WritesPer150s))
	writeNum(h, math.Float64bits(c.Budget.TimeScale))
	writeNum(h, uint64(c.AppBudget.ResourceUnitsPer10s))
	writeNum(h, uint64(c.AppBudget.WritesPer150s))
	writeNum(h, uint64(c.HTTPTimeout))
	writeField(h, c.UserAgent)
	writeField(h, c.Scope)
	return hex.EncodeToString(h.Sum(nil))
}

// writeField length-prefixes each field so ("ab","c") and ("a","bc") differ.
func writeField(h hash.Hash, s string) {
	writeNum(h, uint64(len(s)))
	h.Write([]byte(s))
}

func writeNum(h hash.Hash, n uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	h.Write(b[:])
}

// BudgetConfig is a Graph quota: by default the one of an app+tenant pair
// (resource units per 10 s, writes per 150 s); AppWideBudget sets the
// windows of the app-wide quota instead.
type BudgetConfig struct {
	// ResourceUnitsPer10s and WritesPer150s are the limits per RUWindow and
	// WriteWindow; the names say the app+tenant windows, the defaults.
	ResourceUnitsPer10s int
	WritesPer150s       int
	// RUWindow and WriteWindow are the periods the limits refill over
	// (default 10 s and 150 s), before TimeScale.
	RUWindow, WriteWindow time.Duration
	// TimeScale > 1 compresses the quota windows (10 s / TimeScale, 150 s /
	// TimeScale) for tests and benchmarks against a time-compressed
	// emulator; default 1.
	TimeScale float64
	// RefillShare is the share (0–1] of the quota's refill rate the budget
	// hands out; its capacity stays the full quota. Default 1.
	RefillShare float64
}

// Published app+tenant limits of the identity and access service.
const (
	ResourceUnitsSmall  = 3500 // tenants under 50 users
	ResourceUnitsMedium = 5000 // 50–500 users
	ResourceUnitsLarge  = 8000 // over 500 users
	WritesPer150s       = 3000
)

// Published app-wide limits (one app, all tenants).
const (
	AppResourceUnitsPer20s = 150000
	AppWritesPer5Min       = 35000
)

// AppWideBudget is the published quota of one app across all tenants:
// 150,000 RU per 20 s and 35,000 writes per 5 minutes.
func AppWideBudget() BudgetConfig {
	return BudgetConfig{ResourceUnitsPer10s: AppResourceUnitsPer20s, RUWindow: 20 * time.Second,
		WritesPer150s: AppWritesPer5Min, WriteWindow: 5 * time.Minute, TimeScale: 1}
}

// BudgetForTenantSize returns the published quota for a tenant size S, M or
// L. Anything else gets S, the smallest, so an unknown tenant is never
// driven into 429s.
func BudgetForTenantSize(size string) BudgetConfig {
	ru := ResourceUnitsSmall
	switch strings.ToUpper(size) {
	case "M":
		ru = ResourceUnitsMedium
	case "L":
		ru = ResourceUnitsLarge
	}
	return BudgetConfig{ResourceUnitsPer10s: ru, WritesPer150s: WritesPer150s, TimeScale: 1}
}

// normalized fills zero fields with the S-tenant defaults.
func (b BudgetConfig) normalized() BudgetConfig {
	d := BudgetForTenantSize("S")
	if b.ResourceUnitsPer10s <= 0 {
		b.ResourceUnitsPer10s = d.ResourceUnitsPer10s
	}
	if b.WritesPer150s <= 0 {
		b.WritesPer150s = d.WritesPer150s
	}
	if !(b.TimeScale > 0) || math.IsInf(b.TimeScale, 0) {
		b.TimeScale = 1
	}
	if !(b.RefillShare > 0) || b.RefillShare > 1 {
		b.RefillShare = 1
	}
	return b
}

// ruWindow and writeWindow are the (scaled) refill periods.
func (b BudgetConfig) ruWindow() time.Duration {
	w := b.RUWindow
	if w <= 0 {
		w = 10 * time.Second
	}
	return time.Duration(float64(w) / b.TimeScale)
}

func (b BudgetConfig) writeWindow() time.Duration {
	w := b.WriteWindow
	if w <= 0 {
		w = 150 * time.Second
	}
	return time.Duration(float64(w) / b.TimeScale)
}
