package graphsim

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestResourceUnitTable: one subtest per row of GRAPH.md's cost table, in
// its order; the charge is read from x-ms-resource-unit and from the
// ResourceUnits/Writes counters.
func TestResourceUnitTable(t *testing.T) {
	s := New(Options{Throttling: true})
	res := s.Generate(GenerateOptions{Users: 60, GroupMembers: 30, ManagersEvery: 5, Seed: 1})
	c := newRaw(t, s, "User.ReadWrite.All", "Directory.Read.All", "GroupMember.Read.All")
	uid, gid := res.UserIDs[1], res.AllStaffGroupID
	type req struct {
		method, path string
		body         any
		ru, writes   int
	}
	rows := []struct {
		row  string
		reqs []req
	}{
		{"GET /users 2 RU", []req{{"GET", "/users", nil, 2, 0}}},
		{"any other identity GET 1 RU", []req{{"GET", "/users/" + uid, nil, 1, 0}, {"GET", "/groups/" + gid, nil, 1, 0},
			{"GET", "/users/" + uid + "/manager", nil, 1, 0}, {"GET", "/organization", nil, 1, 0}, {"GET", "/users/delta", nil, 1, 0}}},
		{"GET /groups/{id}/members 3 RU", []req{{"GET", "/groups/" + gid + "/members", nil, 3, 0}}},
		{"transitiveMembers 5 RU", []req{{"GET", "/groups/" + gid + "/transitiveMembers", nil, 5, 0}}},
		{"getByIds 5 RU", []req{{"POST", "/directoryObjects/getByIds", map[string]any{"ids": []string{uid}}, 5, 0}}},
		{"getByIds with $select 2 RU", []req{{"POST", "/directoryObjects/getByIds?$select=id,displayName", map[string]any{"ids": []string{uid}}, 2, 0}}},
		{"POST/PATCH/PUT/DELETE 1 RU and 1 write", []req{
			{"PATCH", "/users/" + uid, map[string]any{"jobTitle": "x"}, 1, 1},
			{"PUT", "/users/" + uid + "/manager/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/users/" + res.UserIDs[0]}, 1, 1},
			{"POST", "/users/" + uid + "/revokeSignInSessions", nil, 1, 1},
			{"DELETE", "/users/" + res.UserIDs[59], nil, 1, 1},
			{"PATCH", "/users/" + uid + "?$select=id&$top=1", map[string]any{"jobTitle": "y"}, 1, 1}}},
		{"$select -1", []req{{"GET", "/users?$select=id", nil, 1, 0}, {"GET", "/groups/" + gid + "/transitiveMembers?$select=id", nil, 4, 0}}},
		{"$expand +1", []req{{"GET", "/users?$expand=manager", nil, 3, 0}, {"GET", "/users/" + uid + "?$expand=manager", nil, 2, 0}}},
		{"$top < 20 -1", []req{{"GET", "/users?$top=19", nil, 1, 0}, {"GET", "/users?$top=20", nil, 2, 0},
			{"GET", "/groups/" + gid + "/members?$top=5", nil, 2, 0}}},
		{"never below 1", []req{{"GET", "/users/" + uid + "?$select=id", nil, 1, 0}, {"GET", "/users?$select=id&$top=1", nil, 1, 0},
			{"GET", "/groups/" + gid + "/members?$select=id&$top=1", nil, 1, 0}}},
	}
	for _, row := range rows {
		t.Run(row.row, func(t *testing.T) {
			for _, rq := range row.reqs {
				before := s.Counters()
				r := c.do(rq.method, rq.path, rq.body)
				after := s.Counters()
				if r.status >= 300 {
					t.Fatalf("%s %s: %d %s", rq.method, rq.path, r.status, r.body)
				}
				if h := r.hdr.Get("x-ms-resource-unit"); h != strconv.Itoa(rq.ru) {
					t.Errorf("%s %s: x-ms-resource-unit %q, want %d", rq.method, rq.path, h, rq.ru)
				}
				if ru, w := after.ResourceUnits-before.ResourceUnits, after.Writes-before.Writes; ru != int64(rq.ru) || w != int64(rq.writes) {
					t.Errorf("%s %s: charged %d RU %d writes, want %d/%d", rq.method, rq.path, ru, w, rq.ru, rq.writes)
				}
			}
		})
	}
}

// TestThrottleScopes: one subtest per row of GRAPH.md's throttling table
// (limits overridden to small numbers), checking which bucket answers 429.
func TestThrottleScopes(t *testing.T) {
	patch := func(c *rawClient, id string) rawResp {
		return c.do("PATCH", "/users/"+id, map[string]any{"jobTitle": "t"})
	}
	expect429 := func(t *testing.T, r rawResp, scope, info string) {
		t.Helper()
		if r.status != 429 || !strings.HasPrefix(r.hdr.Get("x-ms-throttle-scope"), scope) || r.hdr.Get("x-ms-throttle-information") != info {
			t.Fatalf("want 429 %s %s, got %d %q %q", scope, info, r.status, r.hdr.Get("x-ms-throttle-scope"), r.hdr.Get("x-ms-throttle-information"))
		}
	}
	tenant := func(id string, o Options) (*Server, *rawClient, string) {
		o.TenantID, o.Throttling = id, true
		s := New(o)
		u := seedUsers(s, 1)[0]
		return s, newRaw(t, s, "User.ReadWrite.All"), u.ID
	}
	const tA, tB = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
	t.Run("app+tenant RU", func(t *testing.T) {
		_, c, id := tenant(tA, Options{RUPer10s: 3})
		for i := 0; i < 3; i++ {
			c.do("GET", "/users/"+id, nil)
		}
		expect429(t, c.do("GET", "/users/"+id, nil), "Tenant_Application/", "ResourceUnitLimitExceeded")
	})
	t.Run("app+tenant writes", func(t *testing.T) {
		_, c, id := tenant(tA, Options{WritesPer150s: 2})
		patch(c, id)
		patch(c, id)
		expect429(t, patch(c, id), "Tenant_Application/", "WriteLimitExceeded")
	})
	t.Run("app, all tenants RU", func(t *testing.T) {
		b := NewAppBudgets()
		b.RUPer20s = 4
		_, ca, ida := tenant(tA, Options{AppBudgets: b})
		_, cb, idb := tenant(tB, Options{AppBudgets: b})
		ca.do("GET", "/users/"+ida, nil)
		ca.do("GET", "/users/"+ida, nil)
		cb.do("GET", "/users/"+idb, nil)
		if r := cb.do("GET", "/users/"+idb, nil); r.status != 200 {
			t.Fatalf("4th RU refused: %d", r.status)
		}
		expect429(t, ca.do("GET", "/users/"+ida, nil), "Application/", "ResourceUnitLimitExceeded")
	})
	t.Run("app, all tenants writes", func(t *testing.T) {
		b := NewAppBudgets()
		b.WritesPer5Min = 3
		_, ca, ida := tenant(tA, Options{AppBudgets: b})
		_, cb, idb := tenant(tB, Options{AppBudgets: b})
		patch(ca, ida)
		patch(ca, ida)
		patch(cb, idb)
		expect429(t, patch(cb, idb), "Application/", "WriteLimitExceeded")
	})
	t.Run("tenant, all apps writes", func(t *testing.T) {
		s, c1, id := tenant(tA, Options{TenantWritesPer5Min: 2})
		patch(c1, id)
		s.AddApp("22222222-2222-3333-4444-555555555555", "other", "User.ReadWrite.All")
		c2 := &rawClient{t: t, s: s, token: fetchToken(t, s, "22222222-2222-3333-4444-555555555555", "other")}
		patch(c2, id)
		expect429(t, patch(c2, id), "Tenant/", "WriteLimitExceeded")
	})
}

// A charge timed before the bucket's last refill (it waited for the lock
// behind a later request) must not move the refill clock back: the
// interval would be credited twice.
func TestBucketRefillNeverCreditsAnIntervalTwice(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &bucket{tokens: 0, cap: 1000, rate: 100, last: t0}
	b.refill(t0.Add(2 * time.Second)) // a later request first: 200
	b.refill(t0.Add(time.Second))     // then one that read the clock earlier
	b.refill(t0.Add(3 * time.Second))
	if b.tokens != 300 {
		t.Fatalf("tokens after 3 s at 100/s = %v, want 300", b.tokens)
	}
}
