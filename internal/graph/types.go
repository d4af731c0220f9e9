// Package graph is the operator's only door to Microsoft Graph. It wraps
// the Microsoft Graph Go SDK (msgraph-sdk-go-core and its kiota runtime)
// and azidentity so controllers see plain Go types, typed errors and a
// shared per-app+tenant budget, never SDK plumbing. See doc.go for the
// retry, pacing and accounting design.
package graph

import "time"

// User is the subset of a Graph user the operator reads. Empty strings mean
// "not set" (Graph's null) or "not selected".
type User struct {
	ID                string
	UserPrincipalName string
	DisplayName       string
	GivenName         string
	Surname           string
	Mail              string
	MailNickname      string
	JobTitle          string
	Department        string
	OfficeLocation    string
	UsageLocation     string
	EmployeeID        string
	AccountEnabled    *bool
	CreatedDateTime   *time.Time
	// Manager is filled only by calls that expand or fetch the manager.
	Manager *UserRef
	// Lifecycle is filled only by QueryUsers.
	Lifecycle *Lifecycle
}

// UserRef is the minimal identity of a user (e.g. a manager).
type UserRef struct {
	ID                string
	UserPrincipalName string
}

// NewUser is the body of a user creation.
type NewUser struct {
	UserPrincipalName     string
	DisplayName           string
	MailNickname          string
	GivenName             string
	Surname               string
	JobTitle              string
	Department            string
	OfficeLocation        string
	UsageLocation         string
	EmployeeID            string
	AccountEnabled        bool
	Password              string
	ForceChangeNextSignIn bool
}

// UserUpdate carries only the properties to change: a nil pointer is left
// alone, so the operator never clobbers a field it does not manage. A
// pointer to "" clears the property (Graph null).
type UserUpdate struct {
	UserPrincipalName *string
	DisplayName       *string
	GivenName         *string
	Surname           *string
	MailNickname      *string
	JobTitle          *string
	Department        *string
	OfficeLocation    *string
	UsageLocation     *string
	EmployeeID        *string
	AccountEnabled    *bool
}

// Empty reports whether the update changes nothing.
func (u UserUpdate) Empty() bool { return u == (UserUpdate{}) }

// Organization is the tenant as GET /organization describes it.
type Organization struct {
	ID              string
	DisplayName     string
	VerifiedDomains []string
}

// Group is the subset of a Graph group the operator reads.
type Group struct {
	ID              string
	DisplayName     string
	Mail            string
	SecurityEnabled bool
	MailEnabled     bool
	GroupTypes      []string
}
