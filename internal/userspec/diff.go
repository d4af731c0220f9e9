// Package userspec maps a DirectoryUser's spec onto a Graph user. It is the
// one place that decides which fields an update changes, shared by the
// DirectoryUser controller (which PATCHes them) and `kubectl entra plan`
// (which shows them before a merge), so the plan cannot disagree with what
// the controller will do.
package userspec

import (
	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Diff returns the update that makes live match spec for the fields spec
// sets, and their JSON names.
func Diff(spec v1alpha1.DirectoryUserSpec, live graph.User) (graph.UserUpdate, []string) {
	var u graph.UserUpdate
	var fields []string
	str := func(name, want, have string, dst **string) {
		if want != "" && want != have {
			w := want
			*dst = &w
			fields = append(fields, name)
		}
	}
	ptr := func(name string, want *string, have string, dst **string) {
		if want != nil && *want != have {
			w := *want
			*dst = &w
			fields = append(fields, name)
		}
	}
	str("userPrincipalName", spec.UserPrincipalName, live.UserPrincipalName, &u.UserPrincipalName)
	str("displayName", spec.DisplayName, live.DisplayName, &u.DisplayName)
	str("givenName", spec.GivenName, live.GivenName, &u.GivenName)
	str("surname", spec.Surname, live.Surname, &u.Surname)
	str("mailNickname", spec.MailNickname, live.MailNickname, &u.MailNickname)
	ptr("jobTitle", spec.JobTitle, live.JobTitle, &u.JobTitle)
	ptr("department", spec.Department, live.Department, &u.Department)
	ptr("officeLocation", spec.OfficeLocation, live.OfficeLocation, &u.OfficeLocation)
	str("usageLocation", spec.UsageLocation, live.UsageLocation, &u.UsageLocation)
	ptr("employeeId", spec.EmployeeID, live.EmployeeID, &u.EmployeeID)
	if spec.AccountEnabled != nil && (live.AccountEnabled == nil || *live.AccountEnabled != *spec.AccountEnabled) {
		v := *spec.AccountEnabled
		u.AccountEnabled = &v
		fields = append(fields, "accountEnabled")
	}
	return u, fields
}
