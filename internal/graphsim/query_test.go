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
