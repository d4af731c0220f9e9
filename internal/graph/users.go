package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// userFields is every User property the operator reads.
var userFields = []string{
	"id", "userPrincipalName", "displayName", "givenName", "surname", "mail", "mailNickname",
	"jobTitle", "department", "officeLocation", "usageLocation", "employeeId", "accountEnabled",
	"createdDateTime",
}

// managerExpand fetches the manager in the same request, keeping it small.
const managerExpand = "manager($select=id,userPrincipalName)"

// wireUser is a user as Graph serialises it. Strings are null or absent
// when unset or not selected, both of which decode to "".
type wireUser struct {
	ID                string   `json:"id"`
	UserPrincipalName string   `json:"userPrincipalName"`
	DisplayName       string   `json:"displayName"`
	GivenName         string   `json:"givenName"`
	Surname           string   `json:"surname"`
	Mail              string   `json:"mail"`
	MailNickname      string   `json:"mailNickname"`
	JobTitle          string   `json:"jobTitle"`
	Department        string   `json:"department"`
	OfficeLocation    string   `json:"officeLocation"`
	UsageLocation     string   `json:"usageLocation"`
	EmployeeID        string   `json:"employeeId"`
	AccountEnabled    *bool    `json:"accountEnabled"`
	CreatedDateTime   string   `json:"createdDateTime"`
	Manager           *wireRef `json:"manager"`
}

type wireRef struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
}

func (w *wireUser) toUser() User {
	u := User{
		ID: w.ID, UserPrincipalName: w.UserPrincipalName, DisplayName: w.DisplayName,
		GivenName: w.GivenName, Surname: w.Surname, Mail: w.Mail, MailNickname: w.MailNickname,
		JobTitle: w.JobTitle, Department: w.Department, OfficeLocation: w.OfficeLocation,
		UsageLocation: w.UsageLocation, EmployeeID: w.EmployeeID, AccountEnabled: w.AccountEnabled,
	}
	if w.CreatedDateTime != "" {
		// A malformed timestamp is not worth failing a read for.
		if t, err := time.Parse(time.RFC3339Nano, w.CreatedDateTime); err == nil {
			u.CreatedDateTime = &t
		}
	}
	if w.Manager != nil && w.Manager.ID != "" {
		u.Manager = &UserRef{ID: w.Manager.ID, UserPrincipalName: w.Manager.UserPrincipalName}
	}
	return u
}

func decodeUser(op string, body []byte) (User, error) {
	var w wireUser
	if err := json.Unmarshal(body, &w); err != nil {
		return User{}, decodeError(op, err)
	}
	return w.toUser(), nil
}

// GetUser reads one user by object id or UPN with every User field and its
// manager, in one request ($select + $expand=manager).
func (c *Client) GetUser(ctx context.Context, idOrUPN string) (User, error) {
	const op = "GET /users/{id}"
	q := query{{"$select", strings.Join(userFields, ",")}, {"$expand", managerExpand}}
	// Through the coalescer: concurrent reads of many reconciles share
	// $batch envelopes (see coalescer).
	r := c.reads.send(ctx, "", batchItem{op: op, method: http.MethodGet, url: userPath(idOrUPN) + q.encode(), ru: estimateRU(1, true, true, 0)})
	if r.err != nil {
		return User{}, r.err
	}
	return decodeUser(op, r.body)
}

// newUserBody is the POST /users body. Optional strings are omitted when
// empty: Graph rejects "" for several of them (usageLocation, employeeId).
type newUserBody struct {
	AccountEnabled    bool             `json:"accountEnabled"`
	DisplayName       string           `json:"displayName"`
	MailNickname      string           `json:"mailNickname"`
	UserPrincipalName string           `json:"userPrincipalName"`
	PasswordProfile   *passwordProfile `json:"passwordProfile,omitempty"`
	GivenName         string           `json:"givenName,omitempty"`
	Surname           string           `json:"surname,omitempty"`
	JobTitle          string           `json:"jobTitle,omitempty"`
	Department        string           `json:"department,omitempty"`
	OfficeLocation    string           `json:"officeLocation,omitempty"`
	UsageLocation     string           `json:"usageLocation,omitempty"`
	EmployeeID        string           `json:"employeeId,omitempty"`
}

type passwordProfile struct {
	Password                      string `json:"password"`
	ForceChangePasswordNextSignIn bool   `json:"forceChangePasswordNextSignIn"`
}

// CreateUser creates a user (POST /users) and returns it as Graph created
// it, including its object id. A taken UPN is a Conflict. The password
// never appears in errors.
func (c *Client) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	const op = "POST /users"
	b := newUserBody{
		AccountEnabled: nu.AccountEnabled, DisplayName: nu.DisplayName, MailNickname: nu.MailNickname,
		UserPrincipalName: nu.UserPrincipalName, GivenName: nu.GivenName, Surname: nu.Surname,
		JobTitle: nu.JobTitle, Department: nu.Department, OfficeLocation: nu.OfficeLocation,
		UsageLocation: nu.UsageLocation, EmployeeID: nu.EmployeeID,
	}
	if nu.Password != "" {
		b.PasswordProfile = &passwordProfile{Password: nu.Password, ForceChangePasswordNextSignIn: nu.ForceChangeNextSignIn}
	}
	body, err := json.Marshal(b)
	if err != nil {
		return User{}, &Error{Kind: Invalid, Op: op, Code: "InvalidRequest", Message: "cannot encode user"}
	}
	resp, err := c.do(ctx, call{op: op, method: abs.POST, url: c.base + "/users", body: body, ru: 1, w: 1})
	if err != nil {
		if e, ok := err.(*Error); ok && nu.Password != "" {
			e.Message = redactor(nu.Password)(e.Message)
		}
		return User{}, err
	}
	return decodeUser(op, resp.body)
}

// updateBody renders the PATCH body: only the non-nil fields, "" as null
// (Graph clears the property).
func updateBody(u UserUpdate) map[string]any {
	m := map[string]any{}
	str := func(name string, v *string) {
		if v == nil {
			return
		}
		if *v == "" {
			m[name] = nil
		} else {
			m[name] = *v
		}
	}
	str("userPrincipalName", u.UserPrincipalName)
	str("displayName", u.DisplayName)
	str("givenName", u.GivenName)
	str("surname", u.Surname)
	str("mailNickname", u.MailNickname)
	str("jobTitle", u.JobTitle)
	str("department", u.Department)
	str("officeLocation", u.OfficeLocation)
	str("usageLocation", u.UsageLocation)
	str("employeeId", u.EmployeeID)
	if u.AccountEnabled != nil {
		m["accountEnabled"] = *u.AccountEnabled
	}
	return m
}

// UpdateUser PATCHes only the fields set in u (a nil pointer is left alone,
// "" clears). An empty update sends nothing.
func (c *Client) UpdateUser(ctx context.Context, id string, u UserUpdate) error {
	if u.Empty() {
		return nil
	}
	body, _ := json.Marshal(updateBody(u))
	// Through the write coalescer: concurrent updates of different users
	// share $batch envelopes; two of one user never do (see coalescer).
	return c.userWrites.send(ctx, id, batchItem{op: "PATCH /users/{id}", method: http.MethodPatch,
		url: userPath(id), body: body, ru: 1, w: 1}).err
}

// DeleteUser soft-deletes a user (restorable for 30 days). A 404 comes back
// as NotFound; callers deleting treat it as done.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{op: "DELETE /users/{id}", method: abs.DELETE, url: c.base + userPath(id), ru: 1, w: 1})
	return err
}

// SetManager makes managerID the manager of userID (PUT manager/$ref).
func (c *Client) SetManager(ctx context.Context, userID, managerID string) error {
	body, _ := json.Marshal(map[string]string{"@odata.id": c.base + "/users/" + url.PathEscape(managerID)})
	// Coalesced like UpdateUser, with the user as key: a PATCH and a
	// manager change of one user never share an envelope.
	return c.userWrites.send(ctx, userID, batchItem{op: "PUT /users/{id}/manager/$ref", method: http.MethodPut,
		url: userPath(userID) + "/manager/$ref", body: body, ru: 1, w: 1}).err
}

// RemoveManager removes the manager of userID. NotFound when there is none.
func (c *Client) RemoveManager(ctx context.Context, userID string) error {
	_, err := c.do(ctx, call{op: "DELETE /users/{id}/manager/$ref", method: abs.DELETE,
		url: c.base + userPath(userID) + "/manager/$ref", ru: 1, w: 1})
	return err
}

// RevokeSignInSessions invalidates the user's refresh tokens and session
// cookies (POST revokeSignInSessions).
func (c *Client) RevokeSignInSessions(ctx context.Context, userID string) error {
	_, err := c.do(ctx, call{op: "POST /users/{id}/revokeSignInSessions", method: abs.POST,
		url: c.base + userPath(userID) + "/revokeSignInSessions", ru: 1, w: 1})
	return err
}

// ListUsers returns every user in the tenant ($top=999, all pages), with
// selectProps (default: every User field) and optionally the manager.
func (c *Client) ListUsers(ctx context.Context, expandManager bool, selectProps ...string) ([]User, error) {
	const op = "GET /users"
	if len(selectProps) == 0 {
		selectProps = userFields
	}
	q := query{{"$select", strings.Join(selectProps, ",")}, {"$top", "999"}}
	if expandManager {
		q = append(q, [2]string{"$expand", managerExpand})
	}
	ws, err := listAll[wireUser](ctx, c, op, c.base+"/users"+q.encode(), estimateRU(2, true, expandManager, 999))
	if err != nil {
		return nil, err
	}
	return toUsers(ws), nil
}

func toUsers(ws []wireUser) []User {
	out := make([]User, len(ws))
	for i := range ws {
		out[i] = ws[i].toUser()
	}
	return out
}
