package graphsim

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func cloudToken(t *testing.T, c *Cloud, tenant, id, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
		"scope": {"https://graph.microsoft.com/.default"}}
	req := httptest.NewRequest("POST", "https://graphsim.test/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("token for %s: %d %s", tenant, rec.Code, rec.Body.String())
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &tr)
	return tr.AccessToken
}

func cloudDo(c *Cloud, token, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://graphsim.test/v1.0"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, req)
	return rec
}

// One process serves several tenants: the token endpoint's tenant comes
// from the authority path, Graph's from the token; the app-wide write limit
// counts the app's writes in every tenant, the tenant-wide one every app's
// writes in the tenant; counters are kept per tenant and per app.
func TestCloudServesTenantsAndEnforcesAppAndTenantWideLimits(t *testing.T) {
	ab := NewAppBudgets()
	ab.WritesPer5Min = 3
	c := NewCloud(Options{Throttling: true, TenantWritesPer5Min: 2, AppBudgets: ab})
	a := c.AddTenant("aaaaaaaa-0000-4000-8000-00000000000a", "Alpha", "alpha.example")
	b := c.AddTenant("bbbbbbbb-0000-4000-8000-00000000000b", "Beta", "beta.example")
	const app, other = "11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002"
	for _, s := range []*Server{a, b} {
		s.AddApp(app, testSecret, allPerms...)
		s.AddApp(other, testSecret, allPerms...)
	}
	ua := a.PutUser(User{UserPrincipalName: "u@alpha.example", DisplayName: "U", MailNickname: "u", AccountEnabled: true})
	ub := b.PutUser(User{UserPrincipalName: "u@beta.example", DisplayName: "U", MailNickname: "u", AccountEnabled: true})
	ta, tb := cloudToken(t, c, a.TenantID(), app, testSecret), cloudToken(t, c, "beta.example", app, testSecret)

	rec := cloudDo(c, tb, "GET", "/organization", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"Beta"`) {
		t.Fatalf("beta's token reached %d %s", rec.Code, rec.Body.String())
	}
	if rec := cloudDo(c, ta, "GET", "/users/"+ub.ID, ""); rec.Code != 404 {
		t.Fatalf("alpha's token read a beta user: %d", rec.Code)
	}

	patch := `{"jobTitle":"x"}`
	for i, step := range []struct {
		token, user string
		want        int
	}{{ta, ua.ID, 204}, {ta, ua.ID, 204}, {tb, ub.ID, 204}, {tb, ub.ID, 429}} {
		rec := cloudDo(c, step.token, "PATCH", "/users/"+step.user, patch)
		if rec.Code != step.want {
			t.Fatalf("write %d: %d %s, want %d", i+1, rec.Code, rec.Body.String(), step.want)
		}
		if rec.Code == 429 && !strings.HasPrefix(rec.Header().Get("x-ms-throttle-scope"), "Application/") {
			t.Errorf("app-wide 429 scope %q", rec.Header().Get("x-ms-throttle-scope"))
		}
	}
	// The other app in alpha: alpha's two writes of the first app used the
	// tenant-wide limit of 2.
	to := cloudToken(t, c, a.TenantID(), other, testSecret)
	rec = cloudDo(c, to, "PATCH", "/users/"+ua.ID, patch)
	if rec.Code != 429 || !strings.HasPrefix(rec.Header().Get("x-ms-throttle-scope"), "Tenant/") {
		t.Fatalf("tenant-wide limit: %d scope %q", rec.Code, rec.Header().Get("x-ms-throttle-scope"))
	}

	if got := ab.Counters(app); got.Writes != 3 || got.Throttled != 1 || got.ThrottledAppWide != 1 {
		t.Errorf("app counters %+v, want 3 writes and 1 app-wide 429", got)
	}
	if got := ab.Counters(other); got.Writes != 0 || got.Throttled != 1 || got.ThrottledAppWide != 0 {
		t.Errorf("other app's counters %+v", got)
	}
	if ca, cb := a.Counters(), b.Counters(); ca.Writes != 2 || cb.Writes != 1 || ca.TokenRequests != 2 || cb.TokenRequests != 1 {
		t.Errorf("tenant counters: alpha %d writes %d tokens, beta %d writes %d tokens", ca.Writes, ca.TokenRequests, cb.Writes, cb.TokenRequests)
	}
}
