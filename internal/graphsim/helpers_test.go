package graphsim

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	testClient = "11111111-2222-3333-4444-555555555555"
	testSecret = "s3cret~value"
)

var allPerms = []string{"User.ReadWrite.All", "Group.Read.All", "Organization.Read.All", "Mail.Send"}

// rawClient drives the emulator's handler in-process (no TLS, no SDK) for
// raw-HTTP assertions.
type rawClient struct {
	t     testing.TB
	s     *Server
	token string
}

type rawResp struct {
	status int
	hdr    http.Header
	body   []byte
}

func (r rawResp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%d): %s", r.status, r.body)
	}
	return m
}

func (r rawResp) errCode(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func newRaw(t testing.TB, s *Server, perms ...string) *rawClient {
	t.Helper()
	if len(perms) == 0 {
		perms = allPerms
	}
	id := testClient
	s.AddApp(id, testSecret, perms...)
	return &rawClient{t: t, s: s, token: fetchToken(t, s, id, testSecret)}
}

func fetchToken(t testing.TB, s *Server, id, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
		"scope": {"https://graph.microsoft.com/.default"}}
	req := httptest.NewRequest("POST", "https://graphsim.test/"+s.TenantID()+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("token: %d %s", rec.Code, rec.Body.String())
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &tr)
	return tr.AccessToken
}

func (c *rawClient) do(method, path string, body any, hdr ...string) rawResp {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	path = strings.NewReplacer(" ", "%20", `"`, "%22").Replace(path)
	req := httptest.NewRequest(method, "https://graphsim.test/v1.0"+path, rd)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	c.s.Handler().ServeHTTP(rec, req)
	return rawResp{status: rec.Code, hdr: rec.Header(), body: rec.Body.Bytes()}
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// startTLS starts a server and returns an http.Client trusting its CA.
func startTLS(t *testing.T, opts Options) (*Server, *http.Client) {
	t.Helper()
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACertPEM()) {
		t.Fatal("bad CA PEM")
	}
	return s, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
}
