package graphsim

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestServedProperties covers the properties served beyond the operator's
// core set: signInActivity (permission, filter, page size, throttling),
// employeeLeaveDateTime, assignedLicenses with any(), extension
// attributes, and real-but-unmodelled properties answered as null.
func TestServedProperties(t *testing.T) {
	now := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	res := s.Generate(GenerateOptions{Users: 600, Seed: 3})
	err := s.LoadFixtures(strings.NewReader(`users:
- userPrincipalName: stale@contoso.com
  signInActivity: {lastSignInDateTime: "2025-01-02T03:04:05Z"}
  employeeLeaveDateTime: "2026-09-30T00:00:00Z"
  assignedLicenses: [{skuId: 6fd2c87f-b296-42f0-b197-1e91e994b900}]
  extensions: {extension_0123456789abcdef0123456789abcdef_costCenter: "CC-1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	c := newRaw(t, s, "User.Read.All", "AuditLog.Read.All", "User-LifeCycleInfo.ReadWrite.All", "Group.Read.All")
	ev := []string{"ConsistencyLevel", "eventual"}

	r := c.do("GET", "/users/stale@contoso.com?$select=displayName,signInActivity,employeeLeaveDateTime,assignedLicenses,extension_0123456789abcdef0123456789abcdef_costCenter,extension_0123456789abcdef0123456789abcdef_unset", nil)
	m := r.json(t)
	si, _ := m["signInActivity"].(map[string]any)
	if r.status != 200 || si["lastSignInDateTime"] != "2025-01-02T03:04:05Z" || m["employeeLeaveDateTime"] != "2026-09-30T00:00:00Z" ||
		m["extension_0123456789abcdef0123456789abcdef_costCenter"] != "CC-1" || len(m["assignedLicenses"].([]any)) != 1 {
		t.Fatalf("served properties: %d %s", r.status, r.body)
	}
	if _, ok := m["extension_0123456789abcdef0123456789abcdef_unset"]; ok {
		t.Fatalf("unset extension attribute must be omitted: %s", r.body)
	}
	// Filters Graph allows.
	count := func(path string, hdr ...string) int {
		t.Helper()
		r := c.do("GET", path, nil, hdr...)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		return len(r.json(t)["value"].([]any))
	}
	if n := count("/users?$filter=signInActivity/lastSignInDateTime le 2025-06-01T00:00:00Z&$select=userPrincipalName,signInActivity&$top=500"); n < 1 || n > 60 {
		t.Fatalf("stale users: %d", n)
	}
	if n := count("/users?$filter=assignedLicenses/any(u:u/skuId eq 6fd2c87f-b296-42f0-b197-1e91e994b900)&$select=id,assignedLicenses"); n != 1 {
		t.Fatalf("license filter: %d", n)
	}
	if n := count("/users?$filter=assignedLicenses/any(u:u/skuId eq " + e3SkuID + ")&$select=id&$top=999"); n < 480 || n > 600 {
		t.Fatalf("E3 users: %d", n)
	}
	if n := count("/users?$filter=employeeLeaveDateTime le 2026-10-01T00:00:00Z&$select=id,employeeLeaveDateTime&$top=999"); n < 2 || n > 40 {
		t.Fatalf("leavers: %d", n)
	}
	// Page size: at most 500 with signInActivity, nextLink continues.
	r = c.do("GET", "/users?$select=id,signInActivity&$top=999", nil)
	if vals := r.json(t)["value"].([]any); len(vals) != signInMaxPage || r.json(t)["@odata.nextLink"] == nil {
		t.Fatalf("signInActivity page: %d", len(vals))
	}
	bad := []struct{ path, code string }{
		{"/users?$filter=signInActivity/lastSignInDateTime le 2025-06-01T00:00:00Z and accountEnabled eq true", "Request_UnsupportedQuery"},
		{"/users?$filter=signInActivity/lastSignInDateTime gt 2025-06-01T00:00:00Z", "Request_UnsupportedQuery"},
		{"/users?$filter=signInActivity/nosuch le 2025-06-01T00:00:00Z", "Request_UnsupportedQuery"},
		{"/users?$select=nosuchproperty", "BadRequest"},
		{"/users?$select=ext_bad", "BadRequest"},
	}
	for _, b := range bad {
		if r := c.do("GET", b.path, nil, ev...); r.status != 400 || r.errCode(t) != b.code {
			t.Errorf("GET %s: %d %s", b.path, r.status, r.body)
		}
	}
	// Real but unmodelled: null on a single read, 501 in a collection
	// for the SharePoint-backed ones.
	r = c.do("GET", "/users/"+res.UserIDs[0]+"?$select=aboutMe,customSecurityAttributes,employeeHireDate", nil)
	if m := r.json(t); r.status != 200 || m["aboutMe"] != nil || len(m) != 4 {
		t.Fatalf("nulled user properties: %s", r.body)
	}
	if r := c.do("GET", "/users?$select=aboutMe", nil); r.status != 501 {
		t.Fatalf("aboutMe in a list: %d %s", r.status, r.body)
	}
	g := s.PutGroup(Group{DisplayName: "M", MailNickname: "m", MailEnabled: true, GroupTypes: []string{"Unified"}})
	r = c.do("GET", "/groups/"+g.ID+"?$select=allowExternalSenders,autoSubscribeNewMembers,unseenCount", nil)
	if m := r.json(t); r.status != 200 || len(m) != 4 || m["allowExternalSenders"] != nil {
		t.Fatalf("nulled group properties: %s", r.body)
	}
	// Writes: employeeLeaveDateTime with the lifecycle permission alone,
	// extension attributes with User.ReadWrite.All; signInActivity is
	// read-only.
	w := newRaw(t, s, "User-LifeCycleInfo.ReadWrite.All", "User.ReadWrite.All")
	if r := w.do("PATCH", "/users/"+res.UserIDs[1], map[string]any{"employeeLeaveDateTime": "2026-12-31T00:00:00Z",
		"extension_0123456789abcdef0123456789abcdef_costCenter": "CC-9"}); r.status != 204 {
		t.Fatalf("PATCH lifecycle: %d %s", r.status, r.body)
	}
	if u, _ := s.GetUser(res.UserIDs[1]); !u.EmployeeLeaveDateTime.Equal(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)) || u.Extensions["extension_0123456789abcdef0123456789abcdef_costCenter"] != "CC-9" {
		t.Fatalf("PATCH not applied: %+v", u)
	}
	if r := w.do("PATCH", "/users/"+res.UserIDs[1], map[string]any{"signInActivity": map[string]any{}}); r.status != 400 {
		t.Fatalf("PATCH signInActivity: %d", r.status)
	}
}

// TestSignInActivityDistributionAndThrottle: generated tenants carry a
// realistic spread of last sign-ins, and listings selecting
// signInActivity have their own, smaller per-app budget.
func TestSignInActivityDistributionAndThrottle(t *testing.T) {
	now := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	res := s.Generate(GenerateOptions{Users: 2000, Seed: 5})
	buckets := map[string]int{}
	for _, id := range res.UserIDs {
		u, _ := s.GetUser(id)
		a := u.SignInActivity
		switch age := now.Sub(a.LastSignInDateTime); {
		case a.LastSignInDateTime.IsZero():
			buckets["never"]++
		case age <= 30*24*time.Hour:
			buckets["30d"]++
		case age <= 90*24*time.Hour:
			buckets["90d"]++
		default:
			buckets["older"]++
		}
	}
	if buckets["never"] < 20 || buckets["never"] > 120 || buckets["30d"] < 1200 || buckets["90d"] < 150 || buckets["older"] < 150 {
		t.Fatalf("distribution: %v", buckets)
	}
	s.SetThrottling(true)
	c := newRaw(t, s, "User.Read.All", "AuditLog.Read.All")
	for i := 0; i < signInPer10s; i++ {
		if r := c.do("GET", "/users?$select=id,signInActivity", nil); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := c.do("GET", "/users?$select=id,signInActivity", nil)
	if r.status != 429 || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("signInActivity listing not throttled: %d", r.status)
	}
	if r := c.do("GET", "/users?$select=id", nil); r.status != 200 {
		t.Fatalf("other listings share the budget: %d", r.status)
	}
}

// TestControlAPISetsServedProperties: POST /_sim/users takes the
// served-only properties (what scripts and the binary use).
func TestControlAPISetsServedProperties(t *testing.T) {
	s := New(Options{})
	body := `{"userPrincipalName":"ctl@contoso.com","signInActivity":{"lastSignInDateTime":"2024-02-03T04:05:06Z"},` +
		`"employeeLeaveDateTime":"2026-10-01T00:00:00Z","assignedLicenses":[{"skuId":"` + e3SkuID + `"}]}`
	req := httptest.NewRequest("POST", "https://graphsim.test/_sim/users", strings.NewReader(body))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 201 {
		t.Fatalf("control API: %d %s", rec.Code, rec.Body)
	}
	u, _ := s.GetUser("ctl@contoso.com")
	if u.SignInActivity == nil || u.SignInActivity.LastSignInDateTime.Year() != 2024 || u.EmployeeLeaveDateTime.Month() != 10 || len(u.AssignedLicenses) != 1 {
		t.Fatalf("control API user: %+v", u)
	}
	c := newRaw(t, s, "User.Read.All", "AuditLog.Read.All")
	r := c.do("GET", "/users?$filter=signInActivity/lastSignInDateTime le 2025-01-01T00:00:00Z", nil)
	if vals := r.json(t)["value"].([]any); len(vals) != 1 || vals[0].(map[string]any)["signInActivity"] == nil {
		t.Fatalf("filter without $select returns signInActivity: %s", r.body)
	}
}
