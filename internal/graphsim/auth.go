package graphsim

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

type appKind int

const (
	appSecret appKind = iota
	appCert
	appFederated
)

type app struct {
	clientID string
	kind     appKind
	secret   string
	cert     *x509.Certificate
	issuer   string
	subject  string
	perms    []string
}

// graphAudience is what Graph app-only tokens carry in aud.
const graphAudience = "https://graph.microsoft.com"

// tokenLifetime matches what Entra issues for client credentials.
const tokenLifetime = 3599 * time.Second

// AddApp registers a client-secret application with application permissions.
func (s *Server) AddApp(clientID, secret string, permissions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[strings.ToLower(clientID)] = &app{clientID: clientID, kind: appSecret, secret: secret, perms: append([]string(nil), permissions...)}
}

// AddCertApp registers an application authenticating with a certificate
// (client assertion signed by the certificate's RSA key). certPEM may hold
// the certificate alone or together with its key.
func (s *Server) AddCertApp(clientID string, certPEM []byte, permissions ...string) {
	var cert *x509.Certificate
	rest := certPEM
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
				cert = c
				break
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[strings.ToLower(clientID)] = &app{clientID: clientID, kind: appCert, cert: cert, perms: append([]string(nil), permissions...)}
}

// AddFederatedApp registers a workload-identity application: its client
// assertion is an external JWT whose iss and sub must match.
func (s *Server) AddFederatedApp(clientID, issuer, subject string, permissions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[strings.ToLower(clientID)] = &app{clientID: clientID, kind: appFederated, issuer: issuer, subject: subject, perms: append([]string(nil), permissions...)}
}

// SetPermissions replaces an app's granted application permissions. Like
// Entra, tokens already issued keep their roles: clients see the change only
// after fetching a new token (azidentity caches tokens for about an hour).
func (s *Server) SetPermissions(clientID string, permissions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.apps[strings.ToLower(clientID)]; ok {
		a.perms = append([]string(nil), permissions...)
	}
}

func (s *Server) knownTenant(t string) bool {
	t = strings.ToLower(t)
	if t == s.tenantID {
		return true
	}
	for _, d := range s.domains {
		if strings.EqualFold(d.name, t) {
			return true
		}
	}
	return false
}

func (s *Server) baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// serveAuthority answers what MSAL/azidentity ask the authority host.
func (s *Server) serveAuthority(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	base := s.baseURL(r)
	switch {
	case len(segs) == 3 && segs[0] == "common" && segs[1] == "discovery" && segs[2] == "instance":
		// Instance discovery (only reached when a client points discovery here).
		host := r.Host
		writeJSON(w, 200, map[string]any{
			"tenant_discovery_endpoint": base + "/common/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata":                  []any{map[string]any{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
		})
	case len(segs) == 4 && segs[1] == "v2.0" && segs[2] == ".well-known" && segs[3] == "openid-configuration":
		if !s.knownTenant(segs[0]) && segs[0] != "common" && segs[0] != "organizations" {
			s.aadError(w, 400, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", segs[0]))
			return
		}
		t := segs[0]
		if s.knownTenant(t) {
			t = s.tenantID
		}
		// The issuer's scheme and host must equal the authority's: MSAL
		// validates it against the authority it was configured with.
		writeJSON(w, 200, map[string]any{
			"token_endpoint":                        base + "/" + t + "/oauth2/v2.0/token",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"jwks_uri":                              base + "/" + t + "/discovery/v2.0/keys",
			"response_modes_supported":              []string{"query", "fragment", "form_post"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
			"issuer":                                base + "/" + t + "/v2.0",
			"request_uri_parameter_supported":       false,
			"userinfo_endpoint":                     base + "/oidc/userinfo",
			"authorization_endpoint":                base + "/" + t + "/oauth2/v2.0/authorize",
			"device_authorization_endpoint":         base + "/" + t + "/oauth2/v2.0/devicecode",
			"http_logout_supported":                 true,
			"frontchannel_logout_supported":         true,
			"end_session_endpoint":                  base + "/" + t + "/oauth2/v2.0/logout",
			"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "roles"},
			"kerberos_endpoint":                     base + "/" + t + "/kerberos",
			"tenant_region_scope":                   "EU",
			"cloud_instance_name":                   "microsoftonline.com",
			"cloud_graph_host_name":                 "graph.windows.net",
			"msgraph_host":                          "graph.microsoft.com",
			"rbac_url":                              "https://pas.windows.net",
		})
	case len(segs) == 4 && segs[1] == "discovery" && segs[2] == "v2.0" && segs[3] == "keys":
		// Access tokens are HMAC-signed with a private key: nothing to publish.
		writeJSON(w, 200, map[string]any{"keys": []any{}})
	case len(segs) == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token":
		s.serveToken(w, r, segs[0], base)
	case len(segs) == 2 && segs[1] == "adminconsent":
		// Admin consent is a browser flow; tests grant with SetPermissions.
		writeRaw(w, 200, "text/plain; charset=utf-8", []byte("graphsim: grant permissions with SetPermissions or POST /_sim/apps\n"))
	default:
		writeRaw(w, 404, "application/json", []byte(`{"error":"not_found","error_description":"graphsim: unknown endpoint"}`))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// aadError writes an AADSTS-style OAuth error like login.microsoftonline.com.
func (s *Server) aadError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	trace := randomRequestID()
	corr := randomRequestID()
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	full := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, trace, corr, ts)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": full,
		"error_codes":       []int{aadsts},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         "https://login.microsoftonline.com/error?code=" + fmt.Sprint(aadsts),
	})
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant, base string) {
	s.mu.Lock()
	s.cnt.tokenRequests++
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		s.aadError(w, 405, "invalid_request", 900561, "The endpoint only accepts POST requests.")
		return
	}
	if !s.knownTenant(tenant) {
		s.aadError(w, 400, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.aadError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			s.aadError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		} else {
			s.aadError(w, 400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+gt+"'.")
		}
		return
	}
	clientID := f.Get("client_id")
	if clientID == "" {
		// client_secret_basic
		if u, p, ok := r.BasicAuth(); ok {
			clientID = u
			f.Set("client_secret", p)
		}
	}
	if clientID == "" {
		s.aadError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	scope := f.Get("scope")
	resource := ""
	for _, sc := range strings.Fields(scope) {
		if strings.HasSuffix(sc, "/.default") {
			resource = strings.TrimSuffix(sc, "/.default")
		}
	}
	if resource == "" {
		s.aadError(w, 400, "invalid_scope", 1002012, "The provided value for scope "+scope+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	s.mu.Lock()
	a := s.apps[strings.ToLower(clientID)]
	var perms []string
	if a != nil {
		perms = append(perms, a.perms...)
	}
	s.mu.Unlock()
	if a == nil {
		s.aadError(w, 400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, s.orgName))
		return
	}
	tokenEndpoint := base + "/" + tenant + "/oauth2/v2.0/token"
	secret := f.Get("client_secret")
	assertion := f.Get("client_assertion")
	switch {
	case secret != "":
		if a.kind != appSecret || subtle.ConstantTimeCompare([]byte(secret), []byte(a.secret)) != 1 {
			s.aadError(w, 401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+a.clientID+"'.")
			return
		}
	case assertion != "":
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			s.aadError(w, 400, "invalid_request", 50027, "Invalid JWT token. The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.")
			return
		}
		if err := s.checkAssertion(a, assertion, tokenEndpoint, tenant); err != nil {
			var ae *aadErr
			if errors.As(err, &ae) {
				s.aadError(w, ae.status, ae.code, ae.num, ae.msg)
			} else {
				s.aadError(w, 401, "invalid_client", 700027, "Client assertion failed signature validation. "+err.Error())
			}
			return
		}
	default:
		s.aadError(w, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	now := s.now()
	tok := s.issueToken(a.clientID, resource, perms, now)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, 200, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(tokenLifetime.Seconds()),
		"ext_expires_in": int(tokenLifetime.Seconds()),
		"access_token":   tok,
	})
}

type aadErr struct {
	status int
	code   string
	num    int
	msg    string
}

func (e *aadErr) Error() string { return e.msg }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeSeg(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// checkAssertion validates a client assertion: for certificate apps the JWT
// must be signed (RS256/PS256) by the registered certificate's key and, if it
// names a thumbprint, name that certificate; for federated apps the external
// token's iss/sub must match the federated credential.
func (s *Server) checkAssertion(a *app, assertion, tokenEndpoint, tenant string) error {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return &aadErr{400, "invalid_request", 50027, "Invalid JWT token. Token format not valid."}
	}
	hb, err1 := decodeSeg(parts[0])
	cb, err2 := decodeSeg(parts[1])
	var hdr map[string]any
	var claims map[string]any
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return &aadErr{400, "invalid_request", 50027, "Invalid JWT token. Token format not valid."}
	}
	now := s.now()
	if exp, ok := claims["exp"].(float64); ok && now.Unix() > int64(exp)+300 {
		return &aadErr{400, "invalid_client", 700024, "Client assertion is not within its valid time range."}
	}
	switch a.kind {
	case appFederated:
		iss, _ := claims["iss"].(string)
		sub, _ := claims["sub"].(string)
		if iss != a.issuer || sub != a.subject {
			return &aadErr{400, "invalid_request", 70021, fmt.Sprintf("No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'.", iss, sub)}
		}
		return nil
	case appCert:
		if a.cert == nil {
			return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation: no certificate registered."}
		}
		iss, _ := claims["iss"].(string)
		sub, _ := claims["sub"].(string)
		if !strings.EqualFold(iss, a.clientID) || !strings.EqualFold(sub, a.clientID) {
			return &aadErr{401, "invalid_client", 700023, "Client assertion audience claim does not match Realm issuer or iss/sub are not the client id."}
		}
		if !audOK(claims["aud"], tokenEndpoint, tenant) {
			return &aadErr{401, "invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' parameter or audience is not the token endpoint."}
		}
		if x5t, ok := hdr["x5t"].(string); ok && x5t != "" {
			sum := sha1.Sum(a.cert.Raw)
			if !thumbMatches(x5t, sum[:]) {
				return &aadErr{401, "invalid_client", 700027, fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s']", x5t)}
			}
		}
		if x5t, ok := hdr["x5t#S256"].(string); ok && x5t != "" {
			sum := sha256.Sum256(a.cert.Raw)
			if !thumbMatches(x5t, sum[:]) {
				return &aadErr{401, "invalid_client", 700027, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.]"}
			}
		}
		pub, ok := a.cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation: certificate key is not RSA."}
		}
		sig, err := decodeSeg(parts[2])
		if err != nil {
			return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation."}
		}
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		alg, _ := hdr["alg"].(string)
		switch alg {
		case "RS256":
			err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
		case "PS256":
			err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		default:
			return &aadErr{401, "invalid_client", 700027, "Client assertion uses unsupported signing algorithm '" + alg + "'."}
		}
		if err != nil {
			return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation."}
		}
		return nil
	default:
		return &aadErr{401, "invalid_client", 700027, "Client assertion presented for an application that uses a client secret."}
	}
}

// thumbMatches compares a JWT thumbprint header with a digest. RFC 7515
// says base64url, but MSAL sends standard base64 with padding and Entra
// accepts both, so we do too.
func thumbMatches(header string, digest []byte) bool {
	h := strings.TrimRight(header, "=")
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(h); err == nil && hmac.Equal(b, digest) {
			return true
		}
	}
	return false
}

func audOK(aud any, tokenEndpoint, tenant string) bool {
	check := func(s string) bool {
		if s == tokenEndpoint {
			return true
		}
		// MSAL may use the authority's canonical token endpoint with the
		// tenant id instead of a domain name; accept any token endpoint of
		// this server for this tenant.
		return strings.HasSuffix(s, "/oauth2/v2.0/token") || strings.HasSuffix(s, "/"+tenant+"/v2.0")
	}
	switch v := aud.(type) {
	case string:
		return check(v)
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok && check(s) {
				return true
			}
		}
	}
	return false
}

type tokenClaims struct {
	Aud   string   `json:"aud"`
	Iss   string   `json:"iss"`
	Iat   int64    `json:"iat"`
	Nbf   int64    `json:"nbf"`
	Exp   int64    `json:"exp"`
	AppID string   `json:"appid"`
	Azp   string   `json:"azp,omitempty"`
	IdTyp string   `json:"idtyp"`
	Oid   string   `json:"oid"`
	Roles []string `json:"roles,omitempty"`
	Sub   string   `json:"sub"`
	Tid   string   `json:"tid"`
	Ver   string   `json:"ver"`
	Uti   string   `json:"uti"`
}

// issueToken mints a JWT that looks like an Entra v1 app-only Graph token.
// An app with no granted permissions gets no roles claim at all, exactly
// like an app whose permissions lack admin consent.
func (s *Server) issueToken(clientID, resource string, perms []string, now time.Time) string {
	roles := append([]string(nil), perms...)
	sort.Strings(roles)
	aud := resource
	if strings.EqualFold(resource, "https://graph.microsoft.com") || resource == "00000003-0000-0000-c000-000000000000" {
		aud = graphAudience
	}
	c := tokenClaims{
		Aud: aud, Iss: "https://sts.windows.net/" + s.tenantID + "/",
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(tokenLifetime).Unix(),
		AppID: clientID, IdTyp: "app", Oid: clientID, Roles: roles, Sub: clientID,
		Tid: s.tenantID, Ver: "1.0", Uti: randomRequestID()[:22],
	}
	hdr := b64([]byte(`{"typ":"JWT","alg":"HS256","kid":"graphsim"}`))
	cb, _ := json.Marshal(c)
	signing := hdr + "." + b64(cb)
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(signing))
	return signing + "." + b64(m.Sum(nil))
}

// verifyToken checks signature, expiry, tenant and audience.
func (s *Server) verifyToken(raw string, now time.Time) (*tokenClaims, string) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, "IDX14100: JWT is not well formed, there are no dots (.)."
	}
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := decodeSeg(parts[2])
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return nil, "Invalid signature."
	}
	cb, err := decodeSeg(parts[1])
	if err != nil {
		return nil, "Invalid token."
	}
	var c tokenClaims
	if json.Unmarshal(cb, &c) != nil {
		return nil, "Invalid token."
	}
	if now.Unix() >= c.Exp {
		return nil, "Lifetime validation failed, the token is expired."
	}
	if c.Tid != s.tenantID {
		return nil, "Invalid tenant."
	}
	if c.Aud != graphAudience && c.Aud != "00000003-0000-0000-c000-000000000000" {
		return nil, "Invalid audience."
	}
	return &c, ""
}
