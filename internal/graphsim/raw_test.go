package graphsim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func seedUsers(s *Server, n int) []User {
	var out []User
	for i := 0; i < n; i++ {
		out = append(out, s.PutUser(User{UserPrincipalName: fmt.Sprintf("user%03d@contoso.com", i), DisplayName: fmt.Sprintf("User %03d", i),
			MailNickname: fmt.Sprintf("user%03d", i), AccountEnabled: i%2 == 0, Department: []string{"Sales", "Legal"}[i%2]}))
	}
	return out
}

func TestRawErrorsAndQueryRules(t *testing.T) {
	s := New(Options{})
	seedUsers(s, 5)
	c := newRaw(t, s)

	noTok := &rawClient{t: t, s: s}
	r := noTok.do("GET", "/users", nil, "client-request-id", "abc-123")
	if r.status != 401 || r.errCode(t) != "InvalidAuthenticationToken" {
		t.Fatalf("no token: %d %s", r.status, r.body)
	}
	e := r.json(t)["error"].(map[string]any)
	inner := e["innerError"].(map[string]any)
	if inner["client-request-id"] != "abc-123" || inner["request-id"] == "" || inner["date"] == "" || r.hdr.Get("client-request-id") != "abc-123" || r.hdr.Get("request-id") == "" {
		t.Fatalf("error envelope: %s / %v", r.body, r.hdr)
	}
	bad := &rawClient{t: t, s: s, token: c.token[:len(c.token)-4] + "AAAA"}
	if r := bad.do("GET", "/users", nil); r.status != 401 {
		t.Fatalf("tampered token: %d", r.status)
	}
	s.Advance(2 * time.Hour)
	if r := c.do("GET", "/users", nil); r.status != 401 || !strings.Contains(string(r.body), "expired") {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
	c = newRaw(t, s)

	cases := []struct {
		path   string
		hdr    []string
		status int
		code   string
	}{
		{"/users?$skip=5", nil, 400, "Request_UnsupportedQuery"},
		{"/users?$top=1000", nil, 400, "Request_UnsupportedQuery"},
		{"/users?$top=999", nil, 200, ""},
		// aad-advanced-queries.md: without the header $count=true is
		// silently ignored; ne/endsWith need the header and $count=true.
		{"/users?$count=true", nil, 200, ""},
		{"/users?$count=true", []string{"ConsistencyLevel", "eventual"}, 200, ""},
		{"/users?$filter=department ne 'Sales'", nil, 400, "Request_UnsupportedQuery"},
		{"/users?$filter=department ne 'Sales'", []string{"ConsistencyLevel", "eventual"}, 400, "Request_UnsupportedQuery"},
		{"/users?$filter=department ne 'Sales'&$count=true", []string{"ConsistencyLevel", "eventual"}, 200, ""},
		{"/users?$filter=endswith(mail,'x.com')", nil, 400, "Request_UnsupportedQuery"},
		{"/users?$select=nosuchprop", nil, 400, "BadRequest"},
		{"/users?$search=\"displayName:User\"", nil, 400, "Request_UnsupportedQuery"},
		{"/users/nobody@contoso.com", nil, 404, "Request_ResourceNotFound"},
		{"/users/$count", nil, 400, "Request_BadRequest"},
		{"/frobnicate", nil, 400, "BadRequest"},
		{"/me", nil, 400, "BadRequest"},
	}
	for _, tc := range cases {
		r := c.do("GET", tc.path, nil, tc.hdr...)
		if r.status != tc.status || (tc.code != "" && r.errCode(t) != tc.code) {
			t.Errorf("GET %s %v: %d %s", tc.path, tc.hdr, r.status, r.body)
		}
	}
	r = c.do("GET", "/users?$filter=department eq 'sales' and accountEnabled eq true&$count=true&$select=id,displayName", nil, "ConsistencyLevel", "eventual")
	m := r.json(t)
	if m["@odata.count"].(float64) != 3 || len(m["value"].([]any)) != 3 || !strings.HasSuffix(m["@odata.context"].(string), "/v1.0/$metadata#users(id,displayName)") {
		t.Fatalf("filter+count: %s", r.body)
	}
	r = c.do("GET", "/users?$filter=userPrincipalName in ('user001@contoso.com','USER002@contoso.com') or displayName eq 'User ''quoted'''&$select=userPrincipalName", nil)
	if n := len(r.json(t)["value"].([]any)); n != 2 {
		t.Fatalf("in(): %d %s", n, r.body)
	}
	// default projection has no accountEnabled; id comes last
	r = c.do("GET", "/users?$top=1", nil)
	u := r.json(t)["value"].([]any)[0].(map[string]any)
	if _, ok := u["accountEnabled"]; ok || u["businessPhones"] == nil || u["id"] == nil {
		t.Fatalf("default projection: %v", u)
	}
	if nl, _ := r.json(t)["@odata.nextLink"].(string); !strings.HasPrefix(nl, "https://graphsim.test/v1.0/users?$top=1&$skiptoken=") {
		t.Fatalf("nextLink: %q", nl)
	}
	// create errors
	body := map[string]any{"accountEnabled": true, "displayName": "X", "mailNickname": "x", "userPrincipalName": "user001@contoso.com",
		"passwordProfile": map[string]any{"password": "Aa1!aaaaaa"}}
	r = c.do("POST", "/users", body)
	e = r.json(t)["error"].(map[string]any)
	if r.status != 400 || e["message"] != "Another object with the same value for property userPrincipalName already exists." || e["details"] == nil {
		t.Fatalf("conflict: %s", r.body)
	}
	delete(body, "mailNickname")
	body["userPrincipalName"] = "new@contoso.com"
	if r = c.do("POST", "/users", body); r.status != 400 || !strings.Contains(string(r.body), "mailNickname") {
		t.Fatalf("missing mailNickname: %s", r.body)
	}
	// PATCH UPN to an unverified domain / taken UPN
	if r = c.do("PATCH", "/users/user001@contoso.com", map[string]any{"userPrincipalName": "a@evil.com"}); r.status != 400 {
		t.Fatalf("patch bad domain: %s", r.body)
	}
	if r = c.do("PATCH", "/users/user001@contoso.com", map[string]any{"userPrincipalName": "user002@contoso.com"}); r.status != 400 {
		t.Fatalf("patch taken UPN: %s", r.body)
	}
	if r = c.do("PATCH", "/users/user001@contoso.com", map[string]any{"id": "x"}); r.status != 400 {
		t.Fatalf("patch id: %s", r.body)
	}
	if r = c.do("DELETE", "/users/00000000-0000-0000-0000-000000000000", nil); r.status != 404 {
		t.Fatalf("delete missing: %d", r.status)
	}
	if r = c.do("PUT", "/users/user001@contoso.com/manager/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/users/00000000-0000-0000-0000-000000000000"}); r.status != 404 {
		t.Fatalf("manager missing: %d", r.status)
	}
}

func TestRawGzipBody(t *testing.T) {
	s := New(Options{})
	c := newRaw(t, s)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"accountEnabled":true,"displayName":"Zip","mailNickname":"zip","userPrincipalName":"zip@contoso.com","passwordProfile":{"password":"Zz9!zzzzzz"}}`))
	_ = zw.Close()
	r := c.do("POST", "/users", buf.Bytes(), "Content-Encoding", "gzip")
	if r.status != 201 || r.json(t)["id"] == nil {
		t.Fatalf("gzip create: %d %s", r.status, r.body)
	}
	if _, ok := s.GetUser("zip@contoso.com"); !ok {
		t.Fatal("user not created")
	}
}

func TestRawBatch(t *testing.T) {
	s := New(Options{})
	us := seedUsers(s, 3)
	c := newRaw(t, s)
	var reqs []map[string]any
	for i := 0; i < 21; i++ {
		reqs = append(reqs, map[string]any{"id": strconv.Itoa(i), "method": "GET", "url": "/users"})
	}
	if r := c.do("POST", "/$batch", map[string]any{"requests": reqs}); r.status != 400 {
		t.Fatalf("21 items: %d", r.status)
	}
	if r := c.do("POST", "/$batch", map[string]any{"requests": []map[string]any{{"id": "1", "method": "GET", "url": "/users"}, {"id": "1", "method": "GET", "url": "/users"}}}); r.status != 400 {
		t.Fatalf("duplicate ids: %d", r.status)
	}
	if r := c.do("POST", "/$batch", map[string]any{"requests": []map[string]any{{"id": "1", "method": "PATCH", "url": "/users/" + us[0].ID, "body": map[string]any{"jobTitle": "x"}}}}); r.status != 400 || !strings.Contains(string(r.body), "Content-Type") {
		t.Fatalf("body without content-type: %d %s", r.status, r.body)
	}
	before := s.Counters()
	r := c.do("POST", "/$batch", map[string]any{"requests": []map[string]any{
		{"id": "a", "method": "GET", "url": "users/" + us[0].ID + "?$select=id,accountEnabled"},
		{"id": "b", "method": "PATCH", "url": "/users/" + us[1].ID, "headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"accountEnabled": false}},
		{"id": "c", "method": "GET", "url": "/users/missing@contoso.com"},
		{"id": "d", "method": "GET", "url": "/users/" + us[2].ID, "dependsOn": []string{"c"}},
		{"id": "e", "method": "GET", "url": "/users/$count", "headers": map[string]string{"ConsistencyLevel": "eventual"}},
	}})
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	got := map[string]map[string]any{}
	for _, it := range r.json(t)["responses"].([]any) {
		m := it.(map[string]any)
		got[m["id"].(string)] = m
	}
	want := map[string]float64{"a": 200, "b": 204, "c": 404, "d": 424, "e": 200}
	for id, st := range want {
		if got[id]["status"] != st {
			t.Errorf("item %s: %v", id, got[id])
		}
	}
	if h := got["a"]["headers"].(map[string]any); h["x-ms-resource-unit"] != "1" {
		t.Errorf("item a headers: %v", h)
	}
	if b := got["a"]["body"].(map[string]any); b["accountEnabled"] != true {
		t.Errorf("item a body: %v", b)
	}
	after := s.Counters()
	if after.Requests-before.Requests != 1 || after.BatchItems-before.BatchItems != 5 || after.UserWrites[us[1].ID] != 1 {
		t.Fatalf("counters: %+v", after)
	}
	// the envelope costs no RU: 1 (GET by id, $select floors at 1) + 1 (PATCH) + 1 + 1 ($count)
	if ru := after.ResourceUnits - before.ResourceUnits; ru != 4 {
		t.Fatalf("RU charged: %d", ru)
	}
}

func TestThrottleCostTable(t *testing.T) {
	s := New(Options{Throttling: true})
	res := s.Generate(GenerateOptions{Users: 60, GroupMembers: 30, Seed: 1})
	c := newRaw(t, s, append([]string{"Directory.Read.All"}, allPerms...)...)
	uid := res.UserIDs[0]
	cases := []struct {
		method, path string
		body         any
		ru           string
	}{
		{"GET", "/users", nil, "2"},
		{"GET", "/users?$select=id", nil, "1"},
		{"GET", "/users?$top=10", nil, "1"},
		{"GET", "/users?$top=10&$select=id", nil, "1"},
		{"GET", "/users?$expand=manager", nil, "3"},
		{"GET", "/users/" + uid, nil, "1"},
		{"GET", "/users/" + uid + "?$expand=manager", nil, "2"},
		{"GET", "/groups/" + res.AllStaffGroupID + "/members", nil, "3"},
		{"GET", "/groups/" + res.AllStaffGroupID + "/members?$select=id", nil, "2"},
		{"GET", "/groups/" + res.AllStaffGroupID + "/transitiveMembers", nil, "5"},
		{"POST", "/directoryObjects/getByIds", map[string]any{"ids": []string{uid}}, "5"},
		{"POST", "/directoryObjects/getByIds?$select=id", map[string]any{"ids": []string{uid}}, "2"},
		{"PATCH", "/users/" + uid, map[string]any{"jobTitle": "x"}, "1"},
		{"GET", "/organization", nil, "1"},
	}
	for _, tc := range cases {
		before := s.Counters()
		r := c.do(tc.method, tc.path, tc.body)
		if r.status >= 300 || r.hdr.Get("x-ms-resource-unit") != tc.ru {
			t.Errorf("%s %s: status %d RU %q want %s", tc.method, tc.path, r.status, r.hdr.Get("x-ms-resource-unit"), tc.ru)
		}
		after := s.Counters()
		if got := after.ResourceUnits - before.ResourceUnits; strconv.FormatInt(got, 10) != tc.ru {
			t.Errorf("%s %s: charged %d", tc.method, tc.path, got)
		}
		if w := after.Writes - before.Writes; (tc.method == "PATCH") != (w == 1) {
			t.Errorf("%s %s: writes %d", tc.method, tc.path, w)
		}
	}
}

func TestThrottle429Headers(t *testing.T) {
	fixed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // refill only via Advance
	s := New(Options{Throttling: true, RUPer10s: 10, Now: func() time.Time { return fixed }})
	us := seedUsers(s, 2)
	c := newRaw(t, s)
	var last rawResp
	sawPct := false
	for i := 0; i < 11; i++ {
		last = c.do("GET", "/users/"+us[0].ID, nil)
		if last.hdr.Get("x-ms-throttle-limit-percentage") != "" {
			sawPct = true
		}
	}
	if last.status != 429 || last.errCode(t) != "TooManyRequests" {
		t.Fatalf("expected 429, got %d %s", last.status, last.body)
	}
	ra, err := strconv.ParseFloat(last.hdr.Get("Retry-After"), 64)
	if err != nil || ra <= 0 || ra > 1.01 {
		t.Fatalf("Retry-After %q", last.hdr.Get("Retry-After"))
	}
	if last.hdr.Get("x-ms-throttle-information") != "ResourceUnitLimitExceeded" ||
		last.hdr.Get("x-ms-throttle-scope") != "Tenant_Application/ReadWrite/"+testClient+"/"+s.TenantID() || !sawPct {
		t.Fatalf("throttle headers: %v", last.hdr)
	}
	if s.Counters().Throttled != 1 {
		t.Fatalf("throttled counter: %d", s.Counters().Throttled)
	}
	if by := s.Counters().ThrottledBy; by["ResourceUnitLimitExceeded Tenant_Application"] != 1 || len(by) != 1 {
		t.Fatalf("429s by bucket: %v, want the app+tenant RU bucket's one", by)
	}
	// inside a batch, items are throttled one by one with their own Retry-After
	var reqs []map[string]any
	for i := 0; i < 3; i++ {
		reqs = append(reqs, map[string]any{"id": strconv.Itoa(i), "method": "GET", "url": "/users/" + us[1].ID})
	}
	r := c.do("POST", "/$batch", map[string]any{"requests": reqs})
	if r.status != 200 {
		t.Fatalf("batch envelope: %d", r.status)
	}
	for _, it := range r.json(t)["responses"].([]any) {
		m := it.(map[string]any)
		h := m["headers"].(map[string]any)
		if m["status"] != float64(429) || h["Retry-After"] == nil {
			t.Fatalf("batch item: %v", m)
		}
	}
	// refill: after the advertised wait, requests pass again
	s.Advance(time.Duration(ra*float64(time.Second)) + 10*time.Millisecond)
	if r := c.do("GET", "/users/"+us[0].ID, nil); r.status != 200 {
		t.Fatalf("after Retry-After: %d", r.status)
	}
}

// TestThrottleWriterConvergence: a sustained writer that honours Retry-After
// converges to 3,000 writes per 150 s (±5 %), here with time compressed 100x
// through the emulator clock.
func TestThrottleWriterConvergence(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Throttling: true, TimeScale: 100, Now: func() time.Time { return clock }})
	us := seedUsers(s, 600) // L tenant: RU is not the bottleneck
	c := newRaw(t, s)
	window := 150 * time.Second / 100
	// drain the initial burst
	for i := 0; ; i++ {
		r := c.do("PATCH", "/users/"+us[i%len(us)].ID, map[string]any{"jobTitle": "t"})
		if r.status == 429 {
			break
		}
	}
	start := clock
	ok := 0
	step := time.Millisecond
	for clock.Sub(start) < 4*window {
		r := c.do("PATCH", "/users/"+us[ok%len(us)].ID, map[string]any{"jobTitle": "t"})
		switch r.status {
		case 204:
			ok++
			clock = clock.Add(step / 10)
		case 429:
			ra, _ := strconv.ParseFloat(r.hdr.Get("Retry-After"), 64)
			clock = clock.Add(time.Duration(ra * float64(time.Second)))
		default:
			t.Fatalf("unexpected %d %s", r.status, r.body)
		}
	}
	perWindow := float64(ok) / 4
	if perWindow < 2850 || perWindow > 3150 {
		t.Fatalf("sustained writer: %.0f writes per (compressed) 150 s, want 3000 ±5%%", perWindow)
	}
	t.Logf("sustained writer: %.0f writes per 150 s window", perWindow)
}

func TestGenerateLargeTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("large tenant")
	}
	s := New(Options{})
	// CPU time, not wall time: this machine's other builds must not make the
	// budget (2 s for 100k users) flaky.
	cpu0 := cpuTime()
	res := s.Generate(GenerateOptions{Users: 100000, ManagersEvery: 8, GroupMembers: 50000, NestedGroups: true, DisabledShare: 0.05, Seed: 42})
	if d := cpuTime() - cpu0; d > 2*time.Second {
		t.Fatalf("100k users took %v of CPU (%v wall)", d, res.Duration)
	}
	t.Logf("generated 100k users: %v CPU, %v wall", cpuTime()-cpu0, res.Duration)
	if len(s.Users()) != 100000 {
		t.Fatal("user count")
	}
	g, ok := s.GetGroup(res.AllStaffGroupID)
	if !ok || len(g.Members) != 50000 {
		t.Fatal("All Staff")
	}
	// deterministic
	s2 := New(Options{})
	res2 := s2.Generate(GenerateOptions{Users: 100, ManagersEvery: 8, Seed: 42})
	if res2.UserIDs[99] != res.UserIDs[99] {
		t.Fatal("not deterministic")
	}
	// paging the big group at 999 per page
	c := newRaw(t, s)
	pages, n := 0, 0
	next := "/groups/" + res.AllStaffGroupID + "/members?$top=999&$select=id"
	for next != "" {
		r := c.do("GET", next, nil)
		m := r.json(t)
		n += len(m["value"].([]any))
		pages++
		nl, _ := m["@odata.nextLink"].(string)
		next = strings.TrimPrefix(nl, "https://graphsim.test/v1.0")
	}
	if n != 50000 || pages != 51 {
		t.Fatalf("members paging: %d in %d pages", n, pages)
	}
}

func TestDeltaGroupsMembers(t *testing.T) {
	s := New(Options{})
	us := seedUsers(s, 5)
	g := s.PutGroup(Group{DisplayName: "Team", SecurityEnabled: true, Members: []string{us[0].ID, us[1].ID}})
	other := s.PutGroup(Group{DisplayName: "Other", SecurityEnabled: true})
	c := newRaw(t, s)
	r := c.do("GET", "/groups/delta?$select=displayName,members&$filter=id eq '"+g.ID+"'", nil)
	m := r.json(t)
	vals := m["value"].([]any)
	if len(vals) != 1 || len(vals[0].(map[string]any)["members@delta"].([]any)) != 2 {
		t.Fatalf("initial group delta: %s", r.body)
	}
	dl := m["@odata.deltaLink"].(string)
	s.AddMember(g.ID, us[2].ID)
	s.RemoveMember(g.ID, us[0].ID)
	s.AddMember(other.ID, us[3].ID)
	r = c.do("GET", strings.TrimPrefix(dl, "https://graphsim.test/v1.0"), nil)
	m = r.json(t)
	vals = m["value"].([]any)
	if len(vals) != 1 {
		t.Fatalf("filtered delta: %s", r.body)
	}
	md := vals[0].(map[string]any)["members@delta"].([]any)
	added, removed := 0, 0
	for _, x := range md {
		e := x.(map[string]any)
		if e["@removed"] != nil {
			removed++
			if e["id"] != us[0].ID || e["@removed"].(map[string]any)["reason"] != "deleted" {
				t.Fatalf("removed: %v", e)
			}
		} else {
			added++
		}
		if e["@odata.type"] != "#microsoft.graph.user" {
			t.Fatalf("member type: %v", e)
		}
	}
	if added != 1 || removed != 1 {
		t.Fatalf("members@delta: %s", r.body)
	}
	// latest + TTL expiry
	r = c.do("GET", "/users/delta?$deltatoken=latest", nil)
	m = r.json(t)
	if len(m["value"].([]any)) != 0 || m["@odata.deltaLink"] == nil {
		t.Fatalf("latest: %s", r.body)
	}
	s.SetDeltaTokenTTL(time.Hour)
	s.Advance(2 * time.Hour)
	c = newRaw(t, s)
	r = c.do("GET", strings.TrimPrefix(m["@odata.deltaLink"].(string), "https://graphsim.test/v1.0"), nil)
	if r.status != 410 || r.errCode(t) != "syncStateNotFound" {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
}

func TestDeletedItemsExpiryAndRestoreConflict(t *testing.T) {
	s := New(Options{})
	us := seedUsers(s, 2)
	c := newRaw(t, s)
	if r := c.do("DELETE", "/users/"+us[0].ID, nil); r.status != 204 {
		t.Fatal(r.status)
	}
	// the UPN is free again; take it, then restore must conflict
	body := map[string]any{"accountEnabled": true, "displayName": "Again", "mailNickname": "again", "userPrincipalName": us[0].UserPrincipalName,
		"passwordProfile": map[string]any{"password": "Aa1!aaaaaa"}}
	r := c.do("POST", "/users", body)
	if r.status != 201 {
		t.Fatalf("reuse UPN: %s", r.body)
	}
	if r := c.do("POST", "/directory/deletedItems/"+us[0].ID+"/restore", nil); r.status != 400 {
		t.Fatalf("restore conflict: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/directory/deletedItems/"+us[0].ID, nil); r.status != 200 || r.json(t)["@odata.type"] != "#microsoft.graph.user" {
		t.Fatalf("deleted get: %d %s", r.status, r.body)
	}
	s.Advance(31 * 24 * time.Hour)
	c = newRaw(t, s)
	if r := c.do("GET", "/directory/deletedItems/"+us[0].ID, nil); r.status != 404 {
		t.Fatalf("expired deleted item: %d", r.status)
	}
	if len(s.DeletedUsers()) != 0 {
		t.Fatal("expired item still listed")
	}
}

func TestRealismSwitches(t *testing.T) {
	fixed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{ReplicationLag: 2 * time.Second, Seed: 5, Now: func() time.Time { return fixed }})
	c := newRaw(t, s)
	body := map[string]any{"accountEnabled": true, "displayName": "New", "mailNickname": "new", "userPrincipalName": "new@contoso.com",
		"passwordProfile": map[string]any{"password": "Aa1!aaaaaa"}}
	r := c.do("POST", "/users", body)
	id := r.json(t)["id"].(string)
	if r := c.do("GET", "/users/"+id, nil); r.status != 404 {
		t.Fatalf("new user visible during lag: %d", r.status)
	}
	batch := map[string]any{"requests": []map[string]any{{"id": "1", "method": "GET", "url": "/users/" + id}}}
	if r := c.do("POST", "/$batch", batch); !strings.Contains(string(r.body), `"status":404`) {
		t.Fatalf("lag in batch: %s", r.body)
	}
	s.Advance(3 * time.Second)
	if r := c.do("GET", "/users/"+id, nil); r.status != 200 {
		t.Fatalf("after lag: %d", r.status)
	}
	c.do("PATCH", "/users/"+id, map[string]any{"displayName": "Changed"})
	if r := c.do("GET", "/users/"+id, nil); r.json(t)["displayName"] != "New" {
		t.Fatalf("stale read expected: %s", r.body)
	}
	s.Advance(3 * time.Second)
	if r := c.do("GET", "/users/"+id, nil); r.json(t)["displayName"] != "Changed" {
		t.Fatalf("fresh read expected: %s", r.body)
	}

	s.SetFailureRate(1)
	r = c.do("GET", "/users/"+id, nil)
	if (r.status != 503 && r.status != 504) || r.errCode(t) != "generalException" {
		t.Fatalf("failure injection: %d %s", r.status, r.body)
	}
	s.SetFailureRate(0)
}

func TestFixturesYAML(t *testing.T) {
	s := New(Options{})
	doc := `
users:
  - userPrincipalName: boss@contoso.com
    displayName: Boss
  - userPrincipalName: worker@contoso.com
    displayName: Worker
    manager: boss@contoso.com
    accountEnabled: false
groups:
  - displayName: Staff
    members: [worker@contoso.com, Leads]
  - displayName: Leads
    members: [boss@contoso.com]
`
	if err := s.LoadFixtures(strings.NewReader(doc)); err != nil {
		t.Fatal(err)
	}
	w, _ := s.GetUser("worker@contoso.com")
	b, _ := s.GetUser("boss@contoso.com")
	if w.ManagerID != b.ID || w.AccountEnabled || !b.AccountEnabled {
		t.Fatalf("fixture users: %+v %+v", w, b)
	}
	c := newRaw(t, s)
	var staff string
	for _, g := range s.Groups() {
		if g.DisplayName == "Staff" {
			staff = g.ID
		}
	}
	r := c.do("GET", "/groups/"+staff+"/transitiveMembers/microsoft.graph.user?$count=true&$select=userPrincipalName", nil, "ConsistencyLevel", "eventual")
	if r.json(t)["@odata.count"] != float64(2) {
		t.Fatalf("transitive users: %s", r.body)
	}
	var js bytes.Buffer
	_ = json.NewEncoder(&js).Encode(map[string]any{"users": []map[string]any{{"userPrincipalName": "j@contoso.com"}}})
	if err := s.LoadFixtures(&js); err != nil {
		t.Fatal(err)
	}
}

func TestDroppedConnectionsAndLatency(t *testing.T) {
	s, hc := startTLS(t, Options{DropRate: 1, Latency: 20 * time.Millisecond})
	s.AddApp(testClient, testSecret, "User.Read.All")
	start := time.Now()
	resp, err := hc.Get(s.URL() + "/v1.0/users")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("expected a dropped connection, got %d", resp.StatusCode)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("latency not applied")
	}
	if s.Counters().Dropped != 1 {
		t.Fatalf("dropped counter: %d", s.Counters().Dropped)
	}
}

func BenchmarkGenerate100k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		s := New(Options{})
		s.Generate(GenerateOptions{Users: 100000, ManagersEvery: 8, GroupMembers: 50000, NestedGroups: true, Seed: int64(i)})
	}
}

func BenchmarkListUsersPage(b *testing.B) {
	s := New(Options{})
	s.Generate(GenerateOptions{Users: 100000, ManagersEvery: 8, Seed: 1})
	c := newRaw(b, s)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.do("GET", "/users?$top=999&$select=id,userPrincipalName,accountEnabled", nil); r.status != 200 {
			b.Fatal(r.status)
		}
	}
}

// TestConcurrentClients exercises the server from many goroutines (run with
// -race): reads, writes, batch and delta at once, throttling on.
func TestConcurrentClients(t *testing.T) {
	s := New(Options{Throttling: true, TimeScale: 50, ReplicationLag: time.Millisecond})
	res := s.Generate(GenerateOptions{Users: 300, ManagersEvery: 5, GroupMembers: 100, Seed: 9})
	c := newRaw(t, s)
	done := make(chan struct{})
	for w := 0; w < 8; w++ {
		go func(w int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 50; i++ {
				id := res.UserIDs[(w*50+i)%len(res.UserIDs)]
				switch i % 5 {
				case 0:
					c.do("PATCH", "/users/"+id, map[string]any{"jobTitle": fmt.Sprint(i)})
				case 1:
					c.do("GET", "/users?$top=50&$expand=manager", nil)
				case 2:
					c.do("POST", "/$batch", map[string]any{"requests": []map[string]any{{"id": "1", "method": "GET", "url": "/users/" + id}}})
				case 3:
					c.do("GET", "/users/delta?$select=displayName", nil)
				case 4:
					s.UpdateUser(id, func(u *User) { u.Department = "X" })
					_ = s.Counters()
				}
			}
		}(w)
	}
	for w := 0; w < 8; w++ {
		<-done
	}
	if s.Counters().Requests != 8*40 {
		t.Fatalf("requests: %d", s.Counters().Requests)
	}
}

func TestGroupsRaw(t *testing.T) {
	s := New(Options{})
	us := seedUsers(s, 4)
	inner := s.PutGroup(Group{DisplayName: "Inner", SecurityEnabled: true, Members: []string{us[2].ID}})
	outer := s.PutGroup(Group{DisplayName: "Outer's", SecurityEnabled: true, Members: []string{us[0].ID, inner.ID}})
	c := newRaw(t, s, "User.Read.All", "GroupMember.ReadWrite.All", "Group.Read.All", "Directory.Read.All")

	r := c.do("GET", "/groups?$filter=displayName eq 'Outer''s'&$select=id,displayName", nil)
	if v := r.json(t)["value"].([]any); len(v) != 1 || v[0].(map[string]any)["id"] != outer.ID {
		t.Fatalf("filter groups: %s", r.body)
	}
	r = c.do("GET", "/groups/"+outer.ID+"/members", nil)
	types := map[string]int{}
	for _, m := range r.json(t)["value"].([]any) {
		types[m.(map[string]any)["@odata.type"].(string)]++
	}
	if types["#microsoft.graph.user"] != 1 || types["#microsoft.graph.group"] != 1 {
		t.Fatalf("members: %s", r.body)
	}
	r = c.do("GET", "/groups/"+outer.ID+"/transitiveMembers/microsoft.graph.user/$count", nil, "ConsistencyLevel", "eventual")
	if string(r.body) != "2" {
		t.Fatalf("transitive user count: %s", r.body)
	}
	if r = c.do("POST", "/groups/"+outer.ID+"/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + us[1].ID}); r.status != 204 {
		t.Fatalf("add member: %d %s", r.status, r.body)
	}
	if r = c.do("POST", "/groups/"+outer.ID+"/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + us[1].ID}); r.status != 400 {
		t.Fatalf("duplicate member: %d", r.status)
	}
	if r = c.do("DELETE", "/groups/"+outer.ID+"/members/"+us[0].ID+"/$ref", nil); r.status != 204 {
		t.Fatalf("remove member: %d %s", r.status, r.body)
	}
	r = c.do("GET", "/users/"+us[2].ID+"/transitiveMemberOf", nil)
	if v := r.json(t)["value"].([]any); len(v) != 2 {
		t.Fatalf("transitiveMemberOf: %s", r.body)
	}
	r = c.do("POST", "/directoryObjects/getByIds", map[string]any{"ids": []string{us[1].ID, inner.ID, "00000000-0000-0000-0000-000000000000"}})
	if v := r.json(t)["value"].([]any); len(v) != 2 {
		t.Fatalf("getByIds: %s", r.body)
	}
	if r = c.do("GET", "/groups/"+outer.ID+"/members", nil); len(r.json(t)["value"].([]any)) != 2 {
		t.Fatalf("members after changes: %s", r.body)
	}
	// reading members with only GroupMember.Read.All is allowed; writing users is not
	if r = c.do("PATCH", "/users/"+us[0].ID, map[string]any{"jobTitle": "x"}); r.status != 403 {
		t.Fatalf("patch without permission: %d", r.status)
	}
}

func TestDeltaLargeGroupChunksAndManager(t *testing.T) {
	s := New(Options{})
	res := s.Generate(GenerateOptions{Users: 2500, ManagersEvery: 10, GroupMembers: 2500, Seed: 4})
	c := newRaw(t, s)
	total, appearances := 0, 0
	next := "/groups/delta?$select=displayName,members&$filter=id eq '" + res.AllStaffGroupID + "'"
	var deltaLink string
	for next != "" {
		m := c.do("GET", next, nil).json(t)
		for _, v := range m["value"].([]any) {
			appearances++
			total += len(v.(map[string]any)["members@delta"].([]any))
		}
		nl, _ := m["@odata.nextLink"].(string)
		next = strings.TrimPrefix(nl, "https://graphsim.test/v1.0")
		if dl, _ := m["@odata.deltaLink"].(string); dl != "" {
			deltaLink = dl
		}
	}
	if total != 2500 || appearances != 3 || deltaLink == "" {
		t.Fatalf("chunked members: %d members over %d appearances", total, appearances)
	}
	// users delta with $expand=manager reports manager@delta
	m := c.do("GET", "/users/delta?$select=displayName&$expand=manager&$filter=id eq '"+res.UserIDs[11]+"'", nil).json(t)
	u := m["value"].([]any)[0].(map[string]any)
	md, _ := u["manager@delta"].([]any)
	if len(md) != 1 || md[0].(map[string]any)["id"] != res.UserIDs[1] {
		t.Fatalf("manager@delta: %v", u)
	}
	dl := strings.TrimPrefix(m["@odata.deltaLink"].(string), "https://graphsim.test/v1.0")
	s.UpdateUser(res.UserIDs[11], func(u *User) { u.ManagerID = "" })
	m = c.do("GET", dl, nil).json(t)
	u = m["value"].([]any)[0].(map[string]any)
	md, _ = u["manager@delta"].([]any)
	if len(md) != 1 || md[0].(map[string]any)["@removed"] == nil {
		t.Fatalf("manager removal: %v", u)
	}
}
