package graphsim

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestQueryGrammar covers Graph's query-string grammar: '&' separates
// parameters, ';' separates options nested in $expand parentheses and is
// an ordinary character elsewhere, '$' is optional on system options.
func TestQueryGrammar(t *testing.T) {
	s := New(Options{})
	us := seedUsers(s, 4)
	// a three-level chain: 0 -> 1 -> 2 -> 3
	for i := 0; i < 3; i++ {
		next := us[i+1].ID
		s.UpdateUser(us[i].ID, func(u *User) { u.ManagerID = next })
	}
	s.UpdateUser(us[3].ID, func(u *User) { u.DisplayName = "Semi;colon" })
	c := newRaw(t, s)
	ev := []string{"ConsistencyLevel", "eventual"}

	// user-list-manager.md example 2 (management chain).
	r := c.do("GET", "/users/"+us[0].ID+"?$expand=manager($levels=max;$select=id,displayName)&$select=id,displayName&$count=true", nil, ev...)
	if r.status != 200 {
		t.Fatalf("$levels=max: %d %s", r.status, r.body)
	}
	depth := 0
	for m := r.json(t); ; depth++ {
		next, ok := m["manager"].(map[string]any)
		if !ok {
			break
		}
		if _, extra := next["userPrincipalName"]; extra || next["displayName"] == nil {
			t.Fatalf("nested $select not applied: %v", next)
		}
		m = next
	}
	if depth != 3 {
		t.Fatalf("chain depth %d, want 3: %s", depth, r.body)
	}
	r = c.do("GET", "/users/"+us[0].ID+"?$expand=manager($select=displayName;$levels=2)", nil)
	var got struct {
		Manager struct {
			DisplayName string
			Manager     struct {
				DisplayName string
				Manager     any
			}
		}
	}
	_ = json.Unmarshal(r.body, &got)
	if r.status != 200 || got.Manager.Manager.DisplayName != us[2].DisplayName || got.Manager.Manager.Manager != nil {
		t.Fatalf("$levels=2: %d %s", r.status, r.body)
	}
	cases := []struct {
		path   string
		status int
		want   string // substring of the body
	}{
		{"/users?$filter=displayName eq 'Semi;colon'&$select=displayName", 200, "Semi;colon"},
		{"/users?filter=displayName eq 'Semi;colon'&select=displayName", 200, "Semi;colon"},
		{"/users?$select=id;displayName", 400, "Could not find a property"},
		{"/users?$expand=manager($levels=0)", 400, "$levels"},
		{"/users?$expand=manager($top=1)", 400, "not supported inside $expand"},
		{"/users?$expand=manager($select=id", 400, "unbalanced"},
		{"/users?$filter=displayName eq '%zz'", 400, "Invalid query string"},
	}
	for _, tc := range cases {
		r := c.do("GET", tc.path, nil)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("GET %s: %d %s", tc.path, r.status, r.body)
		}
	}
	// nextLinks carry the canonical ($-prefixed) names.
	r = c.do("GET", "/users?top=1&select=id", nil)
	if nl, _ := r.json(t)["@odata.nextLink"].(string); !strings.Contains(nl, "$top=1") || !strings.Contains(nl, "$select=id") {
		t.Fatalf("nextLink %q", nl)
	}
}

// TestMembersAdvancedQueries: $filter, $orderby, $search and $count on
// members/transitiveMembers, with and without an OData cast, and the 400s
// Graph gives without the advanced query parameters.
func TestMembersAdvancedQueries(t *testing.T) {
	s := New(Options{})
	alice := s.PutUser(User{UserPrincipalName: "alice@contoso.com", DisplayName: "Alice", MailNickname: "alice", AccountEnabled: true})
	bob := s.PutUser(User{UserPrincipalName: "bob@contoso.com", DisplayName: "Bob", MailNickname: "bob", AccountEnabled: true})
	inner := s.PutGroup(Group{DisplayName: "Admins", MailNickname: "admins", SecurityEnabled: true, Members: []string{bob.ID}})
	g := s.PutGroup(Group{DisplayName: "All", MailNickname: "all", SecurityEnabled: true, Members: []string{alice.ID, inner.ID}})
	c := newRaw(t, s, "GroupMember.Read.All")
	ev := []string{"ConsistencyLevel", "eventual"}
	base := "/groups/" + g.ID
	cases := []struct {
		path  string
		hdr   []string
		code  int
		count int // expected @odata.count (-1: absent), or value length for 200s
		names string
	}{
		{base + "/members?$filter=startswith(displayName,'a')", nil, 400, 0, ""},
		{base + "/members?$filter=startswith(displayName,'a')", ev, 400, 0, ""},
		{base + "/members?$filter=startswith(displayName,'a')&$count=true", ev, 200, 2, "Admins,Alice"},
		{base + "/members?$filter=securityEnabled eq true&$count=true&$select=displayName", ev, 200, 1, "Admins"},
		{base + "/transitiveMembers?$filter=startswith(displayName,'b')&$count=true", ev, 200, 1, "Bob"},
		{base + "/transitiveMembers/microsoft.graph.user?$filter=accountEnabled eq true&$count=true", ev, 200, 2, "Alice,Bob"},
		{base + "/members?$orderby=displayName desc", nil, 400, 0, ""},
		{base + "/members?$orderby=displayName desc&$count=true", ev, 200, 2, "Alice,Admins"},
		{base + "/members?$search=\"displayName:al\"", nil, 400, 0, ""},
		{base + "/transitiveMembers?$search=\"displayName:bo\"", ev, 200, -1, "Bob"},
		{base + "/members?$count=true", nil, 200, -1, "Alice,Admins"},
		{base + "/members?$filter=displayName ne 'Alice'&$count=true", ev, 200, 1, "Admins"},
	}
	for _, tc := range cases {
		r := c.do("GET", tc.path, nil, tc.hdr...)
		if r.status != tc.code {
			t.Errorf("GET %s %v: %d %s", tc.path, tc.hdr, r.status, r.body)
			continue
		}
		if r.status != 200 {
			if r.errCode(t) != "Request_UnsupportedQuery" {
				t.Errorf("GET %s: %s", tc.path, r.body)
			}
			continue
		}
		m := r.json(t)
		var names []string
		for _, v := range m["value"].([]any) {
			names = append(names, v.(map[string]any)["displayName"].(string))
		}
		n, has := m["@odata.count"].(float64)
		if tc.count >= 0 && (!has || int(n) != tc.count) || tc.count < 0 && has {
			t.Errorf("GET %s: @odata.count %v (%v), want %d", tc.path, n, has, tc.count)
		}
		ordered := strings.Contains(tc.path, "$orderby")
		if ordered && strings.Join(names, ",") != tc.names || !ordered && !sameSet(names, strings.Split(tc.names, ",")) {
			t.Errorf("GET %s: %v, want %s", tc.path, names, tc.names)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}
