package graph

import (
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGraph is a minimal TLS server playing both the Entra authority and
// Graph, enough to drive the client through the real SDK and azidentity.
// Graph routes are registered per test as "METHOD /path" (path after
// /v1.0, without query).
type fakeGraph struct {
	t      *testing.T
	srv    *httptest.Server
	tenant string
	client string
	secret string
	roles  []string

	mu       sync.Mutex
	routes   map[string]http.HandlerFunc
	requests []recorded
	tokens   int
}

type recorded struct {
	Method, Path, RawQuery, Auth string
	Body                         []byte
}

const (
	fakeTenant = "8c3dad1d-b6bc-4f8b-939b-8263372eced6"
	fakeClient = "2e6b2a4f-0ad1-4d0b-9a64-3f2f8c0f7a11"
	fakeSecret = "s3cr3t-Value~that.must.never.leak"
)

func newFakeGraph(t *testing.T) *fakeGraph {
	t.Helper()
	f := &fakeGraph{t: t, tenant: fakeTenant, client: fakeClient, secret: fakeSecret,
		roles: []string{"User.ReadWrite.All", "GroupMember.Read.All"}, routes: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGraph) config() Config {
	return Config{
		TenantID: f.tenant, ClientID: f.client, ClientSecret: f.secret,
		AuthorityHost: f.srv.URL + "/", GraphEndpoint: f.srv.URL,
		CABundlePEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}),
		HTTPTimeout: 10 * time.Second,
	}
}

func (f *fakeGraph) newClient(cfg Config) *Client {
	f.t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		f.t.Fatalf("NewClient: %v", err)
	}
	f.t.Cleanup(c.Close)
	return c
}

func (f *fakeGraph) handle(route string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = h
}

// graphRequests returns what reached the Graph side (not the token side).
func (f *fakeGraph) graphRequests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(strings.NewReader(string(body)))
		if err != nil {
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		body, _ = io.ReadAll(zr)
	}
	switch {
	case r.URL.Path == "/"+f.tenant+"/v2.0/.well-known/openid-configuration":
		base := f.srv.URL + "/" + f.tenant
		writeJSON(w, 200, map[string]any{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/v2.0",
		})
		return
	case r.URL.Path == "/"+f.tenant+"/oauth2/v2.0/token":
		f.token(w, r, body)
		return
	case strings.HasPrefix(r.URL.Path, "/v1.0/"):
	default:
		http.NotFound(w, r)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1.0")
	f.mu.Lock()
	f.requests = append(f.requests, recorded{Method: r.Method, Path: path, RawQuery: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Body: body})
	h := f.routes[r.Method+" "+path]
	f.mu.Unlock()
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		graphError(w, 401, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	if h == nil {
		graphError(w, 404, "Request_ResourceNotFound", "Resource '"+path+"' does not exist.")
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	h(w, r)
}

func (f *fakeGraph) token(w http.ResponseWriter, r *http.Request, body []byte) {
	f.mu.Lock()
	f.tokens++
	f.mu.Unlock()
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", 400)
		return
	}
	if r.PostForm.Get("client_id") != f.client || r.PostForm.Get("client_secret") != f.secret {
		writeJSON(w, 401, map[string]any{
			"error":             "invalid_client",
			"error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-01-01 00:00:00Z",
			"error_codes":       []int{7000215},
		})
		return
	}
	claims, _ := json.Marshal(map[string]any{"aud": "https://graph.microsoft.com", "tid": f.tenant, "appid": f.client, "roles": f.roles})
	enc := base64.RawURLEncoding
	tok := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte("sig"))
	writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": tok})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func graphError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{"date": "2026-01-01T00:00:00", "request-id": "req-" + fmt.Sprint(status)},
	}})
}
