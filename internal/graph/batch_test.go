package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

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
