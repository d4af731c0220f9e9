package graphsim

import (
	"encoding/json"
	"strings"
	"testing"
)

// permSeed builds a small tenant and returns the ids the routes use.
func permSeed() (*Server, map[string]string) {
	s := New(Options{})
	boss := s.PutUser(User{UserPrincipalName: "boss@contoso.com", DisplayName: "Boss", MailNickname: "boss", AccountEnabled: true})
	u := s.PutUser(User{UserPrincipalName: "u@contoso.com", DisplayName: "U", MailNickname: "u", AccountEnabled: true, ManagerID: boss.ID, Mail: "u@contoso.com"})
	peer := s.PutUser(User{UserPrincipalName: "peer@contoso.com", DisplayName: "Peer", MailNickname: "peer", AccountEnabled: true})
	gone := s.PutUser(User{UserPrincipalName: "gone@contoso.com", DisplayName: "Gone", MailNickname: "gone", AccountEnabled: true})
	s.DeleteUser(gone.ID)
	g := s.PutGroup(Group{DisplayName: "G", MailNickname: "g", SecurityEnabled: true, Members: []string{u.ID}})
	dg := s.PutGroup(Group{DisplayName: "DG", MailNickname: "dg", MailEnabled: true, GroupTypes: []string{"Unified"}})
	s.DeleteGroup(dg.ID)
	return s, map[string]string{"{u}": u.ID, "{boss}": boss.ID, "{g}": g.ID, "{gone}": gone.ID, "{peer}": peer.ID, "{dg}": dg.ID, "{org}": s.TenantID()}
}

// TestPermissionsPerRoute checks every served route against the
// permissions table of its Microsoft Graph API reference page (application
// permissions): the least privileged set and each higher privileged
// alternative are accepted, an unrelated set is refused with 403.
func TestPermissionsPerRoute(t *testing.T) {
	type route struct {
		doc, method, path string
		body              any
		least             []string
		higher            [][]string
		denied            []string
	}
	rd := []string{"Group.Read.All"}
	userR := [][]string{{"User.ReadWrite.All"}, {"Directory.Read.All"}, {"Directory.ReadWrite.All"}}
	userW := [][]string{{"Directory.ReadWrite.All"}}
	groupR := [][]string{{"Group.Read.All"}, {"GroupMember.ReadWrite.All"}, {"Group.ReadWrite.All"}, {"Directory.Read.All"}, {"Directory.ReadWrite.All"}}
	mail := map[string]any{"message": map[string]any{"subject": "s", "toRecipients": []any{map[string]any{"emailAddress": map[string]any{"address": "a@contoso.com"}}}}}
	newUser := map[string]any{"accountEnabled": true, "displayName": "N", "mailNickname": "n", "userPrincipalName": "n@contoso.com",
		"passwordProfile": map[string]any{"password": "Aa1!aaaaaa"}}
	routes := []route{
		{"organization-list", "GET", "/organization", nil, []string{"Organization.Read.All"}, [][]string{{"Directory.Read.All"}, {"Organization.ReadWrite.All"}}, rd},
		{"organization-get", "GET", "/organization/{org}", nil, []string{"Organization.Read.All"}, [][]string{{"Directory.ReadWrite.All"}}, rd},
		{"user-list", "GET", "/users", nil, []string{"User.Read.All"}, userR, rd},
		{"user-list $count", "GET", "/users/$count", nil, []string{"User.Read.All"}, userR, rd},
		{"user-delta", "GET", "/users/delta", nil, []string{"User.Read.All"}, userR, rd},
		{"user-get", "GET", "/users/{u}", nil, []string{"User.Read.All"}, userR, rd},
		{"user-list signInActivity", "GET", "/users?$select=displayName,signInActivity", nil, []string{"User.Read.All", "AuditLog.Read.All"},
			[][]string{{"Directory.Read.All", "AuditLog.Read.All"}}, []string{"User.Read.All"}},
		{"user-list signInActivity filter", "GET", "/users?$filter=signInActivity/lastSignInDateTime le 2026-01-01T00:00:00Z", nil,
			[]string{"User.Read.All", "AuditLog.Read.All"}, nil, []string{"Directory.Read.All"}},
		{"user-get employeeLeaveDateTime", "GET", "/users/{u}?$select=employeeLeaveDateTime", nil, []string{"User.Read.All", "User-LifeCycleInfo.Read.All"},
			[][]string{{"User.Read.All", "User-LifeCycleInfo.ReadWrite.All"}}, []string{"User.ReadWrite.All"}},
		{"user-post-users", "POST", "/users", newUser, []string{"User.ReadWrite.All"}, userW, []string{"User.Read.All"}},
		{"user-update", "PATCH", "/users/{u}", map[string]any{"jobTitle": "x"}, []string{"User.ReadWrite.All"}, userW, []string{"User.EnableDisableAccount.All", "User.Read.All"}},
		{"user-update accountEnabled", "PATCH", "/users/{u}", map[string]any{"accountEnabled": false}, []string{"User.EnableDisableAccount.All", "User.Read.All"},
			[][]string{{"User.ReadWrite.All"}, {"Directory.ReadWrite.All"}}, []string{"User.EnableDisableAccount.All"}},
		{"user-update employeeLeaveDateTime", "PATCH", "/users/{u}", map[string]any{"employeeLeaveDateTime": "2027-01-31T00:00:00Z"},
			[]string{"User-LifeCycleInfo.ReadWrite.All"}, nil, []string{"User.ReadWrite.All"}},
		{"user-delete", "DELETE", "/users/{u}", nil, []string{"User.DeleteRestore.All"}, [][]string{{"User.ReadWrite.All"}, {"Directory.ReadWrite.All"}}, []string{"User.Read.All"}},
		{"user-list-manager", "GET", "/users/{u}/manager", nil, []string{"User.Read.All"}, userR, rd},
		{"user-list-manager $ref", "GET", "/users/{u}/manager/$ref", nil, []string{"User.Read.All"}, userR, rd},
		{"user-post-manager", "PUT", "/users/{boss}/manager/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/users/{peer}"},
			[]string{"User.ReadWrite.All"}, userW, []string{"User.Read.All"}},
		{"user-delete-manager", "DELETE", "/users/{u}/manager/$ref", nil, []string{"User.ReadWrite.All"}, userW, []string{"User.Read.All"}},
		{"user-revokesigninsessions", "POST", "/users/{u}/revokeSignInSessions", nil, []string{"User.RevokeSessions.All"},
			[][]string{{"User.ReadWrite.All"}, {"Directory.ReadWrite.All"}}, []string{"User.Read.All", "User.EnableDisableAccount.All"}},
		{"user-sendmail", "POST", "/users/{u}/sendMail", mail, []string{"Mail.Send"}, nil, []string{"User.ReadWrite.All"}},
		{"user-list-memberof", "GET", "/users/{u}/memberOf", nil, []string{"User.Read.All", "GroupMember.Read.All"}, [][]string{{"Directory.Read.All"}}, []string{"User.Read.All"}},
		{"user-list-transitivememberof", "GET", "/users/{u}/transitiveMemberOf", nil, []string{"User.Read.All", "GroupMember.Read.All"}, [][]string{{"User.Read.All", "Group.Read.All"}}, []string{"GroupMember.Read.All"}},
		{"group-list", "GET", "/groups", nil, []string{"GroupMember.Read.All"}, groupR, []string{"User.Read.All"}},
		{"group-list $count", "GET", "/groups/$count", nil, []string{"GroupMember.Read.All"}, groupR, []string{"User.Read.All"}},
		{"group-delta", "GET", "/groups/delta", nil, []string{"GroupMember.Read.All"}, groupR, []string{"User.Read.All"}},
		{"group-get", "GET", "/groups/{g}", nil, []string{"GroupMember.Read.All"}, groupR, []string{"User.Read.All"}},
		{"group-delete", "DELETE", "/groups/{g}", nil, []string{"Group.ReadWrite.All"}, [][]string{{"Directory.ReadWrite.All"}}, []string{"GroupMember.ReadWrite.All"}},
		{"group-list-members", "GET", "/groups/{g}/members", nil, []string{"GroupMember.Read.All"}, groupR, []string{"User.Read.All"}},
		{"group-list-members $count", "GET", "/groups/{g}/members/$count", nil, []string{"GroupMember.Read.All"}, groupR, []string{"User.Read.All"}},
		{"group-list-members cast", "GET", "/groups/{g}/members/microsoft.graph.user", nil, []string{"GroupMember.Read.All"}, groupR, []string{"User.Read.All"}},
		{"group-list-transitivemembers", "GET", "/groups/{g}/transitiveMembers", nil, []string{"GroupMember.Read.All"}, groupR, []string{"User.Read.All"}},
		{"group-post-members", "POST", "/groups/{g}/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{boss}"},
			[]string{"GroupMember.ReadWrite.All"}, [][]string{{"Group.ReadWrite.All"}, {"Directory.ReadWrite.All"}}, []string{"Group.Read.All"}},
		{"group-delete-members", "DELETE", "/groups/{g}/members/{u}/$ref", nil, []string{"GroupMember.ReadWrite.All"}, [][]string{{"Group.ReadWrite.All"}}, []string{"GroupMember.Read.All"}},
		{"directoryobject-getbyids", "POST", "/directoryObjects/getByIds", map[string]any{"ids": []string{"{u}"}}, []string{"Directory.Read.All"},
			[][]string{{"Directory.ReadWrite.All"}}, []string{"User.Read.All", "Group.Read.All"}},
		{"directoryobject-get", "GET", "/directoryObjects/{u}", nil, []string{"Directory.Read.All"}, [][]string{{"Directory.ReadWrite.All"}}, []string{"User.Read.All"}},
		{"directory-deleteditems-list users", "GET", "/directory/deletedItems/microsoft.graph.user", nil, []string{"User.Read.All"}, userR, rd},
		{"directory-deleteditems-list groups", "GET", "/directory/deletedItems/microsoft.graph.group", nil, []string{"Group.Read.All"}, [][]string{{"Directory.Read.All"}}, []string{"User.Read.All"}},
		{"directory-deleteditems-get", "GET", "/directory/deletedItems/{gone}", nil, []string{"User.Read.All"}, [][]string{{"Directory.Read.All"}}, []string{"Mail.Send"}},
		{"directory-deleteditems-restore", "POST", "/directory/deletedItems/{gone}/restore", nil, []string{"User.DeleteRestore.All"},
			[][]string{{"User.ReadWrite.All"}, {"Directory.ReadWrite.All"}}, []string{"User.Read.All"}},
		{"directory-deleteditems-restore group", "POST", "/directory/deletedItems/{dg}/restore", nil, []string{"Group.ReadWrite.All"}, nil, []string{"Group.Read.All"}},
		{"directory-deleteditems-delete", "DELETE", "/directory/deletedItems/{gone}", nil, []string{"User.DeleteRestore.All"}, [][]string{{"User.ReadWrite.All"}}, []string{"User.Read.All"}},
	}
	fill := func(s string, ids map[string]string) string {
		for k, v := range ids {
			s = strings.ReplaceAll(s, k, v)
		}
		return s
	}
	for _, rt := range routes {
		sets := append([][]string{rt.least}, rt.higher...)
		for i, perms := range append(sets, rt.denied) {
			s, ids := permSeed()
			c := newRaw(t, s, perms...)
			var body any
			if rt.body != nil {
				body = fill(mustJSON(rt.body), ids)
			}
			r := c.do(rt.method, fill(rt.path, ids), body, "ConsistencyLevel", "eventual")
			wantDenied := i == len(sets)
			if wantDenied != (r.status == 403) || r.status >= 500 || (r.status >= 400 && r.status != 403) {
				t.Errorf("%s (%s %s) with %v: %d %s", rt.doc, rt.method, rt.path, perms, r.status, r.body)
			}
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
