package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestClientGetUserAndOrganization(t *testing.T) {
	f := newFakeGraph(t)
	f.handle("GET /organization", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"value": []any{map[string]any{
			"id": f.tenant, "displayName": "Contoso",
			"verifiedDomains": []any{map[string]any{"name": "contoso.com"}, map[string]any{"name": "contoso.onmicrosoft.com"}},
		}}})
	})
	f.handle("GET /users/adele@contoso.com", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-ms-resource-unit", "1")
		writeJSON(w, 200, map[string]any{
			"id": "u1", "userPrincipalName": "adele@contoso.com", "displayName": "Adele", "jobTitle": nil,
			"accountEnabled": true, "createdDateTime": "2025-03-04T05:06:07Z",
			"manager": map[string]any{"@odata.type": "#microsoft.graph.user", "id": "m1", "userPrincipalName": "boss@contoso.com"},
		})
	})
	c := f.newClient(f.config())
	ctx := context.Background()

	org, err := c.Organization(ctx)
	if err != nil {
		t.Fatalf("Organization: %v", err)
	}
	if org.DisplayName != "Contoso" || len(org.VerifiedDomains) != 2 {
		t.Fatalf("Organization = %+v", org)
	}
	u, err := c.GetUser(ctx, "adele@contoso.com")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if u.ID != "u1" || u.AccountEnabled == nil || !*u.AccountEnabled || u.JobTitle != "" ||
		u.Manager == nil || u.Manager.UserPrincipalName != "boss@contoso.com" || u.CreatedDateTime == nil {
		t.Fatalf("GetUser = %+v", u)
	}
	reqs := f.graphRequests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	q, _ := url.ParseQuery(reqs[1].RawQuery)
	if !strings.Contains(q.Get("$select"), "employeeId") || q.Get("$expand") != managerExpand {
		t.Errorf("GetUser query = %q", reqs[1].RawQuery)
	}
	for _, r := range reqs {
		if !strings.HasPrefix(r.Auth, "Bearer ") {
			t.Errorf("%s %s sent without a bearer token", r.Method, r.Path)
		}
	}
	if got := c.Usage(); got.Requests != 2 || got.ResourceUnits != 2 {
		t.Errorf("Usage = %+v, want 2 requests, 2 RU", got)
	}
}

// A 429 must come back at once as Throttled with Graph's Retry-After
// (fractional kept), and block the shared budget so the next call does not
// even reach Graph.
func TestClient429ReturnsImmediately(t *testing.T) {
	f := newFakeGraph(t)
	f.handle("GET /users/u1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30.5")
		w.Header().Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
		graphError(w, 429, "TooManyRequests", "Too many requests.")
	})
	c := f.newClient(f.config())
	start := time.Now()
	_, err := c.GetUser(context.Background(), "u1")
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("GetUser took %v: the client slept on a 429", el)
	}
	ra, ok := IsThrottled(err)
	if !ok || ra != 30500*time.Millisecond {
		t.Fatalf("err = %v, want Throttled with RetryAfter 30.5s", err)
	}
	if n := len(f.graphRequests()); n != 1 {
		t.Fatalf("Graph saw %d requests, want 1 (no SDK retry of 429)", n)
	}
	if b := c.Budget().Blocked(); b < 29*time.Second {
		t.Fatalf("budget blocked for %v, want ~30s", b)
	}
	start = time.Now()
	_, err = c.GetUser(context.Background(), "u1")
	var e *Error
	if !errors.As(err, &e) || e.Kind != Throttled || e.Code != "BudgetExhausted" || e.RetryAfter < 29*time.Second {
		t.Fatalf("second call err = %v, want client-side Throttled", err)
	}
	if time.Since(start) > time.Second || len(f.graphRequests()) != 1 {
		t.Fatalf("second call reached Graph or slept")
	}
	if u := c.Usage(); u.Throttled != 1 || u.Requests != 1 {
		t.Errorf("Usage = %+v", u)
	}
}

func TestClientRetriesOnly503GETOnce(t *testing.T) {
	f := newFakeGraph(t)
	var gets, patches int
	f.handle("GET /users/u1", func(w http.ResponseWriter, r *http.Request) {
		gets++
		if gets == 1 {
			w.Header().Set("Retry-After", "0")
			graphError(w, 503, "serviceUnavailable", "Service unavailable.")
			return
		}
		writeJSON(w, 200, map[string]any{"id": "u1"})
	})
	f.handle("PATCH /users/u1", func(w http.ResponseWriter, r *http.Request) {
		patches++
		graphError(w, 503, "generalException", "The operation has timed out.")
	})
	f.handle("GET /users/u2", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "20")
		graphError(w, 503, "serviceUnavailable", "Service unavailable.")
	})
	c := f.newClient(f.config())
	ctx := context.Background()
	if _, err := c.GetUser(ctx, "u1"); err != nil || gets != 2 {
		t.Fatalf("GetUser err=%v gets=%d, want success after one retry", err, gets)
	}
	job := "x"
	err := c.UpdateUser(ctx, "u1", UserUpdate{JobTitle: &job})
	if KindOf(err) != Transient || patches != 1 {
		t.Fatalf("UpdateUser err=%v patches=%d, want Transient without retry", err, patches)
	}
	start := time.Now()
	_, err = c.GetUser(ctx, "u2")
	if KindOf(err) != Transient || time.Since(start) > 3*time.Second {
		t.Fatalf("GetUser u2 err=%v after %v, want Transient without waiting 20s", err, time.Since(start))
	}
}

func TestClientErrorKindsEndToEnd(t *testing.T) {
	f := newFakeGraph(t)
	f.handle("POST /users", func(w http.ResponseWriter, r *http.Request) {
		graphError(w, 400, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.")
	})
	f.handle("DELETE /users/u1", func(w http.ResponseWriter, r *http.Request) {
		graphError(w, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	})
	f.handle("PUT /users/u1/manager/$ref", func(w http.ResponseWriter, r *http.Request) {
		graphError(w, 400, "Request_BadRequest", "Invalid object identifier.")
	})
	c := f.newClient(f.config())
	ctx := context.Background()
	_, err := c.CreateUser(ctx, NewUser{UserPrincipalName: "a@contoso.com", DisplayName: "A", MailNickname: "a", Password: "P@ssw0rd-very-secret"})
	if KindOf(err) != Conflict {
		t.Errorf("CreateUser err = %v, want Conflict", err)
	}
	if err := c.DeleteUser(ctx, "u1"); KindOf(err) != Forbidden {
		t.Errorf("DeleteUser err = %v, want Forbidden", err)
	}
	err = c.SetManager(ctx, "u1", "m1")
	var e *Error
	if !errors.As(err, &e) || e.Kind != Invalid || e.StatusCode != 400 || e.Op != "PUT /users/{id}/manager/$ref" || e.RequestID != "req-400" {
		t.Errorf("SetManager err = %#v, want Invalid with op and request id", err)
	}
	if err := c.RemoveManager(ctx, "nobody"); !IsNotFound(err) {
		t.Errorf("RemoveManager err = %v, want NotFound", err)
	}
	if want := "graph: PUT /users/{id}/manager/$ref: 400 Request_BadRequest: Invalid object identifier."; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestClientWrongSecretIsUnauthorizedWithoutSecret(t *testing.T) {
	f := newFakeGraph(t)
	cfg := f.config()
	cfg.ClientSecret = "wrong-secret-value-123"
	c := f.newClient(cfg)
	_, err := c.Organization(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Kind != Unauthorized || e.Code != "AADSTS7000215" || e.StatusCode != 401 {
		t.Fatalf("err = %#v, want Unauthorized AADSTS7000215", err)
	}
	if !strings.Contains(e.Message, "invalid_client") || strings.Contains(e.Message, "Trace ID") {
		t.Errorf("message = %q", e.Message)
	}
	if strings.Contains(err.Error(), cfg.ClientSecret) || strings.Contains(fmt.Sprintf("%+v", e), cfg.ClientSecret) {
		t.Fatalf("error leaks the secret: %v", err)
	}
	if _, err := c.GrantedPermissions(context.Background()); KindOf(err) != Unauthorized {
		t.Errorf("GrantedPermissions err = %v, want Unauthorized", err)
	}
	if len(f.graphRequests()) != 0 {
		t.Errorf("Graph was called without a token")
	}
}

func TestClientGrantedPermissions(t *testing.T) {
	f := newFakeGraph(t)
	c := f.newClient(f.config())
	got, err := c.GrantedPermissions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "GroupMember.Read.All,User.ReadWrite.All" {
		t.Errorf("roles = %v", got)
	}
}

func TestClientTimeoutIsTransient(t *testing.T) {
	f := newFakeGraph(t)
	release := make(chan struct{})
	defer close(release)
	f.handle("GET /users/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	cfg := f.config()
	cfg.HTTPTimeout = 500 * time.Millisecond
	c := f.newClient(cfg)
	// Fetch the token first so the short timeout only covers the Graph call.
	if _, err := c.GrantedPermissions(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetUser(context.Background(), "slow")
	var e *Error
	if !errors.As(err, &e) || e.Kind != Transient || e.Code != "Timeout" {
		t.Fatalf("err = %#v, want Transient Timeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.GetUser(ctx, "slow"); KindOf(err) == Transient || !errors.Is(err, context.Canceled) {
		t.Fatalf("caller-cancelled err = %v, want non-transient wrapping context.Canceled", err)
	}
}

func TestClientUpdateUserSendsOnlySetFieldsAndNulls(t *testing.T) {
	f := newFakeGraph(t)
	f.handle("PATCH /users/u1", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	f.handle("POST /users/u1/revokeSignInSessions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"value": true})
	})
	f.handle("PUT /users/u1/manager/$ref", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	c := f.newClient(f.config())
	ctx := context.Background()
	job, empty, off := "Engineer", "", false
	if err := c.UpdateUser(ctx, "u1", UserUpdate{JobTitle: &job, Department: &empty, AccountEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateUser(ctx, "u1", UserUpdate{}); err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeSignInSessions(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetManager(ctx, "u1", "m1"); err != nil {
		t.Fatal(err)
	}
	reqs := f.graphRequests()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3 (empty update not sent)", len(reqs))
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body) != 3 || body["jobTitle"] != "Engineer" || body["accountEnabled"] != false {
		t.Fatalf("PATCH body = %s", reqs[0].Body)
	}
	if v, ok := body["department"]; !ok || v != nil {
		t.Fatalf("department should be JSON null, body = %s", reqs[0].Body)
	}
	if !strings.HasSuffix(string(reqs[2].Body), `/v1.0/users/m1"}`) {
		t.Errorf("manager ref body = %s", reqs[2].Body)
	}
	if u := c.Usage(); u.Writes != 3 {
		t.Errorf("Usage.Writes = %d, want 3", u.Writes)
	}
}

func TestClientListsFollowNextLinkAndEscapeFilters(t *testing.T) {
	f := newFakeGraph(t)
	f.handle("GET /users", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("$skiptoken") == "" {
			writeJSON(w, 200, map[string]any{"value": []any{map[string]any{"id": "1"}, map[string]any{"id": "2"}},
				"@odata.nextLink": f.srv.URL + "/v1.0/users?$top=999&$skiptoken=abc"})
			return
		}
		writeJSON(w, 200, map[string]any{"value": []any{map[string]any{"id": "3", "manager": map[string]any{"id": "1"}}}})
	})
	f.handle("GET /groups", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"value": []any{map[string]any{"id": "g1", "displayName": r.URL.Query().Get("$filter"), "securityEnabled": true}}})
	})
	f.handle("GET /groups/g1/transitiveMembers/microsoft.graph.user", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"value": []any{map[string]any{"id": "1", "userPrincipalName": "a@x"}}})
	})
	c := f.newClient(f.config())
	ctx := context.Background()
	users, err := c.ListUsers(ctx, true, "id", "userPrincipalName")
	if err != nil || len(users) != 3 || users[2].Manager == nil || users[2].Manager.ID != "1" {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}
	gs, err := c.FindGroups(ctx, "O'Brien & Co")
	if err != nil || len(gs) != 1 || gs[0].DisplayName != "displayName eq 'O''Brien & Co'" || !gs[0].SecurityEnabled {
		t.Fatalf("FindGroups = %+v, %v", gs, err)
	}
	ms, err := c.ListGroupMembers(ctx, "g1", true)
	if err != nil || len(ms) != 1 || ms[0].UserPrincipalName != "a@x" {
		t.Fatalf("ListGroupMembers = %+v, %v", ms, err)
	}
	q, _ := url.ParseQuery(f.graphRequests()[0].RawQuery)
	if q.Get("$top") != "999" || q.Get("$expand") != managerExpand {
		t.Errorf("ListUsers query = %q", f.graphRequests()[0].RawQuery)
	}
}
