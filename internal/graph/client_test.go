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

// batchHandler answers each $batch item with respond(item) and records
// envelope sizes.
func batchHandler(t *testing.T, sizes *[]int, respond func(method, url string) (int, map[string]string, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Requests []struct {
				ID, Method, URL string
				Body            json.RawMessage
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("batch body: %v", err)
			http.Error(w, "bad", 400)
			return
		}
		*sizes = append(*sizes, len(req.Requests))
		var resps []any
		// Answer in reverse order: Graph does not keep request order.
		for i := len(req.Requests) - 1; i >= 0; i-- {
			it := req.Requests[i]
			status, hdr, body := respond(it.Method, it.URL)
			resps = append(resps, map[string]any{"id": it.ID, "status": status, "headers": hdr, "body": body})
		}
		writeJSON(w, 200, map[string]any{"responses": resps})
	}
}

func TestBatchGetUsersMapsItems(t *testing.T) {
	f := newFakeGraph(t)
	var sizes []int
	f.handle("POST /$batch", batchHandler(t, &sizes, func(method, u string) (int, map[string]string, any) {
		path := strings.SplitN(u, "?", 2)[0]
		key := strings.TrimPrefix(path, "/users/")
		switch {
		case key == "missing@contoso.com":
			return 404, map[string]string{"Content-Type": "application/json"},
				map[string]any{"error": map[string]any{"code": "Request_ResourceNotFound", "message": "not found"}}
		case key == "busy@contoso.com":
			return 429, map[string]string{"Retry-After": "0.25", "Content-Type": "application/json"},
				map[string]any{"error": map[string]any{"code": "TooManyRequests", "message": "slow down"}}
		}
		return 200, map[string]string{"Content-Type": "application/json", "x-ms-resource-unit": "1"},
			map[string]any{"id": "id-" + key, "userPrincipalName": key, "jobTitle": "T", "accountEnabled": true}
	}))
	c := f.newClient(f.config())
	var keys []string
	for i := range 23 {
		keys = append(keys, fmt.Sprintf("user%d@contoso.com", i))
	}
	keys[5] = "missing@contoso.com"
	keys[21] = "busy@contoso.com"
	res, err := c.GetUsers(context.Background(), keys)
	if err != nil {
		t.Fatalf("GetUsers: %v", err)
	}
	if len(sizes) != 2 || sizes[0] != 20 || sizes[1] != 3 {
		t.Fatalf("envelopes = %v, want [20 3]", sizes)
	}
	for i, r := range res {
		if r.Key != keys[i] {
			t.Fatalf("result %d key %q, want %q", i, r.Key, keys[i])
		}
		switch i {
		case 5:
			if !IsNotFound(r.Err) {
				t.Errorf("missing: %v", r.Err)
			}
		case 21:
			if ra, ok := IsThrottled(r.Err); !ok || ra != 250*time.Millisecond {
				t.Errorf("busy: %v", r.Err)
			}
		default:
			if r.Err != nil || r.User.ID != "id-"+keys[i] || r.User.JobTitle != "T" {
				t.Errorf("result %d = %+v", i, r)
			}
		}
	}
	u := c.Usage()
	if u.Requests != 2 || u.Throttled != 1 || u.ResourceUnits != 22 {
		t.Errorf("Usage = %+v, want 2 requests, 1 throttled, 22 RU", u)
	}
	if b := c.Budget().Blocked(); b <= 0 || b > 250*time.Millisecond {
		t.Errorf("budget blocked %v after an item 429 of 0.25s", b)
	}
}

func TestBatchWritesAndManagers(t *testing.T) {
	f := newFakeGraph(t)
	var sizes []int
	var patched []string
	f.handle("POST /$batch", batchHandler(t, &sizes, func(method, u string) (int, map[string]string, any) {
		switch {
		case method == "PATCH":
			patched = append(patched, u)
			if u == "/users/gone" {
				return 404, nil, map[string]any{"error": map[string]any{"code": "Request_ResourceNotFound", "message": "gone"}}
			}
			return 204, nil, nil
		case method == "POST":
			return 200, map[string]string{"Content-Type": "application/json"}, map[string]any{"value": true}
		case strings.HasPrefix(u, "/users/nomgr/manager"):
			return 404, nil, map[string]any{"error": map[string]any{"code": "Request_ResourceNotFound", "message": "no manager"}}
		case strings.HasPrefix(u, "/users/denied/manager"):
			return 403, nil, map[string]any{"error": map[string]any{"code": "Authorization_RequestDenied", "message": "no"}}
		}
		return 200, map[string]string{"Content-Type": "application/json"}, map[string]any{"id": "m1", "userPrincipalName": "boss@x"}
	}))
	c := f.newClient(f.config())
	ctx := context.Background()
	off := false
	res, err := c.UpdateUsers(ctx, []UserUpdateItem{
		{ID: "a", Update: UserUpdate{AccountEnabled: &off}},
		{ID: "noop"},
		{ID: "gone", Update: UserUpdate{AccountEnabled: &off}},
	})
	if err != nil || len(res) != 3 || res[0].Err != nil || res[1].Err != nil || !IsNotFound(res[2].Err) || res[1].Key != "noop" {
		t.Fatalf("UpdateUsers = %+v, %v", res, err)
	}
	if len(patched) != 2 {
		t.Errorf("patched %v, want 2 (empty update skipped)", patched)
	}
	rv, err := c.RevokeSignInSessionsMany(ctx, []string{"a", "b"})
	if err != nil || rv[0].Err != nil || rv[1].Key != "b" {
		t.Fatalf("RevokeSignInSessionsMany = %+v, %v", rv, err)
	}
	ms, err := c.GetManagers(ctx, []string{"has", "nomgr", "denied"})
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Manager == nil || ms[0].Manager.UserPrincipalName != "boss@x" || ms[1].Manager != nil || ms[1].Err != nil || KindOf(ms[2].Err) != Forbidden {
		t.Fatalf("GetManagers = %+v", ms)
	}
	if u := c.Usage(); u.Writes != 4 || u.Requests != 3 {
		t.Errorf("Usage = %+v, want 4 writes in 3 requests", u)
	}
}

// An envelope-level 429 fails every item of the run with Throttled and the
// call returns at once.
func TestBatchEnvelopeThrottled(t *testing.T) {
	f := newFakeGraph(t)
	f.handle("POST /$batch", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		graphError(w, 429, "TooManyRequests", "slow down")
	})
	c := f.newClient(f.config())
	ids := make([]string, 45)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	off := false
	var ups []UserUpdateItem
	for _, id := range ids {
		ups = append(ups, UserUpdateItem{ID: id, Update: UserUpdate{AccountEnabled: &off}})
	}
	res, err := c.UpdateUsers(context.Background(), ups)
	if ra, ok := IsThrottled(err); !ok || ra != 7*time.Second {
		t.Fatalf("err = %v, want Throttled 7s", err)
	}
	for _, r := range res {
		if _, ok := IsThrottled(r.Err); !ok {
			t.Fatalf("item %s err = %v", r.Key, r.Err)
		}
	}
	if n := len(f.graphRequests()); n != 1 {
		t.Fatalf("sent %d envelopes after a 429, want 1", n)
	}
	// The 429 halves the pace (capacity 1,500 writes); the refused envelope
	// must not also keep its 20-write reservation.
	if st := c.Budget().Stats(); st.AvailableWrites != int(3000*st.Pace) {
		t.Errorf("throttled envelope kept its write reservation: %+v", st)
	}
}

func TestRegistrySharesBudgetAndRebuilds(t *testing.T) {
	f := newFakeGraph(t)
	r := NewRegistry()
	cfg := f.config()
	c1, err := r.Client("ns/a", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := r.Client("ns/a", cfg); again != c1 {
		t.Fatal("unchanged config rebuilt the client")
	}
	other, _ := r.Client("ns/b", cfg)
	if other == c1 || other.Budget() != c1.Budget() {
		t.Fatal("two Directories on one app+tenant must have two clients and one budget")
	}
	cfg2 := cfg
	cfg2.ClientSecret = "rotated-secret"
	c2, err := r.Client("ns/a", cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if c2 == c1 || c2.Budget() != c1.Budget() {
		t.Fatal("secret change must rebuild the client and keep the budget")
	}
	bad := cfg2
	bad.ClientSecret = ""
	if _, err := r.Client("ns/a", bad); KindOf(err) != Invalid {
		t.Fatalf("no credential: err = %v, want Invalid", err)
	}
	r.Forget("ns/b")
	c3, _ := r.Client("ns/b", cfg)
	if c3 == other || c3.Budget() != c1.Budget() {
		t.Fatal("Forget must rebuild the client (fresh token) and keep the app+tenant budget (recent 429s)")
	}
	// ns/a's failed rebuild dropped its client, not its settings: the
	// Directory still exists. Once both are deleted the budget goes.
	r.Drop("ns/a")
	r.Drop("ns/b")
	c4, _ := r.Client("ns/b", cfg)
	if c4.Budget() == c1.Budget() {
		t.Fatal("budget should be dropped once no Directory uses it")
	}
}

func TestConfigHash(t *testing.T) {
	a := Config{TenantID: "t", ClientID: "c", ClientSecret: "hunter2-secret"}
	b := a
	b.ClientSecret = "hunter3-secret"
	if a.Hash() != a.Hash() || a.Hash() == b.Hash() {
		t.Fatal("hash must be stable and change with the secret")
	}
	c := a
	c.Budget.TimeScale = 2
	if a.Hash() == c.Hash() {
		t.Fatal("hash must change with the budget")
	}
	if strings.Contains(a.Hash(), "hunter2") || len(a.Hash()) != 64 {
		t.Fatalf("hash = %q", a.Hash())
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg := Config{TenantID: "t1", ClientID: "c1", ClientSecret: fakeSecret, PrivateKeyPEM: []byte("-----BEGIN PRIVATE KEY-----sekrit")}
	js, _ := json.Marshal(cfg)
	wrapped, _ := json.Marshal(map[string]any{"cfg": cfg})
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), string(js), string(wrapped)} {
		if strings.Contains(out, fakeSecret) || strings.Contains(out, "sekrit") || !strings.Contains(out, "t1") {
			t.Errorf("printed config = %s", out)
		}
	}
	if got := (Config{TenantID: "t1", ClientID: "c1", AuthorityHost: "https://login.microsoftonline.us/"}).AdminConsentURL(); got != "https://login.microsoftonline.us/t1/adminconsent?client_id=c1" {
		t.Errorf("AdminConsentURL = %s", got)
	}
}

func TestNewClientValidatesConfig(t *testing.T) {
	ok := Config{TenantID: "t", ClientID: "c", ClientSecret: "s"}
	for name, cfg := range map[string]Config{
		"no tenant":     {ClientID: "c", ClientSecret: "s"},
		"no credential": {TenantID: "t", ClientID: "c"},
		"http authority": func() Config {
			c := ok
			c.AuthorityHost = "http://login.example/"
			return c
		}(),
		"bad CA": func() Config {
			c := ok
			c.CABundlePEM = []byte("not pem")
			return c
		}(),
	} {
		if _, err := NewClient(cfg); KindOf(err) != Invalid {
			t.Errorf("%s: err = %v, want Invalid", name, err)
		}
	}
	bad := ok
	bad.ClientSecret = ""
	bad.CertificatePEM = []byte("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
	if _, err := NewClient(bad); KindOf(err) != Unauthorized {
		t.Errorf("bad certificate: err = %v, want Unauthorized", err)
	}
	if _, err := NewClient(ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if a, g := CloudEndpoints("AzureChina"); a != "https://login.chinacloudapi.cn/" || g != "https://microsoftgraph.chinacloudapi.cn" {
		t.Errorf("CloudEndpoints(AzureChina) = %s %s", a, g)
	}
	for root, want := range map[string]string{
		"https://graph.microsoft.us":              "https://graph.microsoft.us/.default",
		"https://dod-graph.microsoft.us":          "https://dod-graph.microsoft.us/.default",
		"https://microsoftgraph.chinacloudapi.cn": "https://microsoftgraph.chinacloudapi.cn/.default",
		"https://127.0.0.1:8443":                  "https://graph.microsoft.com/.default",
	} {
		if got := defaultScope(root); got != want {
			t.Errorf("defaultScope(%s) = %s, want %s", root, got, want)
		}
	}
	if a, g := CloudEndpoints("Custom"); a != "" || g != "" {
		t.Errorf("CloudEndpoints(Custom) = %q %q", a, g)
	}
}
