package graphsim

import (
	"strings"
	"testing"
)

// TestBetaAliases: the user and group paths served at v1.0 answer at /beta
// with the same semantics, links pointing back to /beta.
func TestBetaAliases(t *testing.T) {
	s := New(Options{})
	us := seedUsers(s, 3)
	g := s.PutGroup(Group{DisplayName: "G", MailNickname: "g", SecurityEnabled: true, Members: []string{us[0].ID, us[1].ID}})
	v1 := newRaw(t, s, "User.ReadWrite.All", "Group.ReadWrite.All", "GroupMember.ReadWrite.All")
	b := *v1
	b.ver = "beta"
	r := b.do("GET", "/users/"+us[0].ID, nil)
	if r.status != 200 || !strings.HasPrefix(r.json(t)["@odata.context"].(string), "https://graphsim.test/beta/$metadata#users") {
		t.Fatalf("GET /beta/users/{id}: %d %s", r.status, r.body)
	}
	rv := v1.do("GET", "/users/"+us[0].ID, nil)
	if strings.ReplaceAll(string(r.body), "/beta/", "/v1.0/") != string(rv.body) {
		t.Fatalf("beta and v1.0 differ:\n%s\n%s", r.body, rv.body)
	}
	if nl, _ := b.do("GET", "/users?$top=1", nil).json(t)["@odata.nextLink"].(string); !strings.HasPrefix(nl, "https://graphsim.test/beta/users?") {
		t.Fatalf("beta nextLink %q", nl)
	}
	body := map[string]any{"accountEnabled": true, "displayName": "B", "mailNickname": "b", "userPrincipalName": "b@contoso.com",
		"passwordProfile": map[string]any{"password": "Aa1!aaaaaa"}}
	steps := []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/users", body, 201},
		{"PATCH", "/users/b@contoso.com", map[string]any{"jobTitle": "x"}, 204},
		{"PUT", "/users/b@contoso.com/manager/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/beta/users/" + us[0].ID}, 204},
		{"GET", "/users/b@contoso.com/manager", nil, 200},
		{"GET", "/groups/" + g.ID, nil, 200},
		{"GET", "/groups?$filter=displayName eq 'G'", nil, 200},
		{"GET", "/groups/" + g.ID + "/members", nil, 200},
		{"GET", "/groups/" + g.ID + "/transitiveMembers", nil, 200},
		{"POST", "/groups/" + g.ID + "/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/beta/directoryObjects/" + us[2].ID}, 204},
		{"DELETE", "/groups/" + g.ID + "/members/" + us[2].ID + "/$ref", nil, 204},
		{"GET", "/users/delta", nil, 200},
		{"GET", "/groups/delta", nil, 200},
		{"POST", "/$batch", map[string]any{"requests": []any{map[string]any{"id": "1", "method": "GET", "url": "/users/" + us[1].ID}}}, 200},
		{"DELETE", "/users/b@contoso.com", nil, 204},
	}
	for _, st := range steps {
		if r := b.do(st.method, st.path, st.body); r.status != st.status {
			t.Errorf("%s /beta%s: %d %s", st.method, st.path, r.status, r.body)
		} else if strings.Contains(string(r.body), "/v1.0/") {
			t.Errorf("%s /beta%s links to v1.0: %s", st.method, st.path, r.body)
		}
	}
	if n := s.Counters().BetaRequests; n != int64(len(steps)+2) {
		t.Fatalf("BetaRequests %d", n)
	}
}
