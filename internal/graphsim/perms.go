package graphsim

import (
	"encoding/json"
	"strings"
)

// Application permissions per route, from the "Permissions" tables of
// Microsoft's Graph API reference (least privileged first, then the higher
// privileged alternatives). Any inner list fully granted suffices.
var (
	// user-list, user-get, user-delta, user-list-manager
	permReadUser = [][]string{{"User.Read.All"}, {"User.ReadWrite.All"}, {"Directory.Read.All"}, {"Directory.ReadWrite.All"}}
	// user-post-users, user-update, user-post-manager, user-delete-manager
	permWriteUser = [][]string{{"User.ReadWrite.All"}, {"Directory.ReadWrite.All"}}
	// user-delete: User.DeleteRestore.All is the least privileged.
	permDeleteUser = [][]string{{"User.DeleteRestore.All"}, {"User.ReadWrite.All"}, {"Directory.ReadWrite.All"}}
	// user-revokesigninsessions: User.RevokeSessions.All is the least privileged.
	permRevoke = [][]string{{"User.RevokeSessions.All"}, {"User.ReadWrite.All"}, {"Directory.ReadWrite.All"}}
	// user-update of accountEnabled alone.
	permEnable = [][]string{{"User.EnableDisableAccount.All", "User.Read.All"}, {"User.EnableDisableAccount.All", "Directory.Read.All"},
		{"User.ReadWrite.All"}, {"Directory.ReadWrite.All"}}
	// group-list, group-get, group-delta, group-list-members, group-list-transitivemembers
	permReadGroup = [][]string{{"GroupMember.Read.All"}, {"Group.Read.All"}, {"GroupMember.ReadWrite.All"}, {"Group.ReadWrite.All"},
		{"Directory.Read.All"}, {"Directory.ReadWrite.All"}}
	// group-delete
	permWriteGrp = [][]string{{"Group.ReadWrite.All"}, {"Directory.ReadWrite.All"}}
	// group-post-members, group-delete-members
	permMembers = [][]string{{"GroupMember.ReadWrite.All"}, {"Group.ReadWrite.All"}, {"Directory.ReadWrite.All"}}
	// user-list-memberof, user-list-transitivememberof
	permMemberOf = [][]string{{"User.Read.All", "GroupMember.Read.All"}, {"User.Read.All", "Group.Read.All"},
		{"User.ReadWrite.All", "GroupMember.Read.All"}, {"User.ReadWrite.All", "Group.Read.All"}, {"Directory.Read.All"}, {"Directory.ReadWrite.All"}}
	// organization-get/-list. Microsoft lists Organization.Read.All and
	// Directory.* for applications; User.Read.All is accepted as well
	// (lenient, see README) because the operator's health check relies on it.
	permReadOrg = [][]string{{"Organization.Read.All"}, {"Directory.Read.All"}, {"Organization.ReadWrite.All"}, {"Directory.ReadWrite.All"},
		{"User.Read.All"}, {"User.ReadWrite.All"}}
	// directoryobject-getbyids, directoryobject-get
	permDirObjects = [][]string{{"Directory.Read.All"}, {"Directory.ReadWrite.All"}}
	// directory-deleteditems-get (either kind)
	permReadDeleted = append(append([][]string{}, permReadUser...), permReadGroup...)
	// directory-deleteditems-restore / -delete: users need
	// User.DeleteRestore.All (least), groups Group.ReadWrite.All.
	permRestore = [][]string{{"User.DeleteRestore.All"}, {"User.ReadWrite.All"}, {"Group.ReadWrite.All"}, {"Directory.ReadWrite.All"}}
	// user-sendmail
	permMail = [][]string{{"Mail.Send"}}

	// Property-level requirements on top of the route's.
	permSignIn        = [][]string{{"AuditLog.Read.All"}}
	permLifecycleRead = [][]string{{"User-LifeCycleInfo.Read.All"}, {"User-LifeCycleInfo.ReadWrite.All"}}
	permLifecycleW    = [][]string{{"User-LifeCycleInfo.ReadWrite.All"}}
)

// lifecycleProps are written with User-LifeCycleInfo.ReadWrite.All.
var lifecycleProps = map[string]bool{"employeeLeaveDateTime": true}

// patchPerms prices a PATCH /users/{id} by the properties it writes.
func patchPerms(c *call) [][]string {
	var body map[string]any
	if json.Unmarshal(c.body, &body) != nil {
		return permWriteUser
	}
	enabledOnly, lifecycle, other := false, false, false
	for k := range body {
		switch {
		case strings.HasPrefix(k, "@odata."):
		case k == "accountEnabled":
			enabledOnly = true
		case lifecycleProps[k]:
			lifecycle = true
		default:
			other = true
		}
	}
	switch {
	case lifecycle && !other && !enabledOnly:
		return permLifecycleW
	case lifecycle:
		return both(permWriteUser, permLifecycleW)
	case enabledOnly && !other:
		return permEnable
	}
	return permWriteUser
}

// both returns alternatives satisfying a and b.
func both(a, b [][]string) [][]string {
	var out [][]string
	for _, x := range a {
		for _, y := range b {
			out = append(out, append(append([]string{}, x...), y...))
		}
	}
	return out
}

// propertyPerms returns the extra permission a read needs for the user
// properties it selects or filters on: signInActivity needs
// AuditLog.Read.All, employeeLeaveDateTime User-LifeCycleInfo.Read.All.
func propertyPerms(c *call) [][][]string {
	sel, filt := c.q.Get("$select"), c.q.Get("$filter")
	if sel == "" && filt == "" {
		return nil
	}
	var out [][][]string
	if containsFold(sel, "signInActivity") || containsFold(filt, "signInActivity") {
		out = append(out, permSignIn)
	}
	if containsFold(sel, "employeeLeaveDateTime") || containsFold(filt, "employeeLeaveDateTime") {
		out = append(out, permLifecycleRead)
	}
	return out
}

func containsFold(s, sub string) bool {
	return len(s) >= len(sub) && strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func fixed(p [][]string) func(*call) [][]string { return func(*call) [][]string { return p } }
