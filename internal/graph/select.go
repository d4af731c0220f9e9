package graph

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// SignInActivity is a user's signInActivity (needs AuditLog.Read.All).
// Nil times mean "never".
type SignInActivity struct {
	LastSignIn           *time.Time
	LastSuccessfulSignIn *time.Time
}

// UserQuery selects users from GET /users.
type UserQuery struct {
	// Filter is an OData $filter ("" lists every user).
	Filter string
	// Select lists the properties to read (default: every User field).
	Select []string
	// Advanced sends the request as an advanced query (ConsistencyLevel:
	// eventual and $count=true), which Graph needs for ne, not, endsWith
	// and filters on some properties; it accepts it for every filter.
	Advanced bool
	// PageSize is $top (default 999; Graph serves at most 500 users a page
	// when signInActivity is selected or filtered on).
	PageSize int
}

// SignInPageSize is the largest page Graph serves with signInActivity.
const SignInPageSize = 500

// QueryUsers returns every user q selects (all pages). The selected
// lifecycle properties (employeeLeaveDateTime, signInActivity) are decoded
// into User.Lifecycle.
func (c *Client) QueryUsers(ctx context.Context, q UserQuery) ([]User, error) {
	const op = "GET /users"
	sel := q.Select
	if len(sel) == 0 {
		sel = userFields
	}
	top := q.PageSize
	if top <= 0 {
		top = 999
	}
	qs := query{{"$select", strings.Join(sel, ",")}, {"$top", strconv.Itoa(top)}}
	var header map[string]string
	if q.Filter != "" {
		qs = append(qs, [2]string{"$filter", q.Filter})
	}
	if q.Advanced {
		qs = append(qs, [2]string{"$count", "true"})
		header = map[string]string{"ConsistencyLevel": "eventual"}
	}
	next := c.base + "/users" + qs.encode()
	ru := estimateRU(2, true, false, top)
	var out []User
	for i := 0; next != "" && i < maxPages; i++ {
		resp, err := c.pageRetryingThrottle(ctx, call{op: op, method: abs.GET, url: next, ru: ru, header: header})
		if err != nil {
			return nil, err
		}
		var p page[wireLifecycleUser]
		var raw page[map[string]any]
		if err := json.Unmarshal(resp.body, &p); err != nil {
			return nil, decodeError(op, err)
		}
		if err := json.Unmarshal(resp.body, &raw); err != nil || len(raw.Value) != len(p.Value) {
			return nil, decodeError(op, err)
		}
		for j := range p.Value {
			u := p.Value[j].toUser()
			u.Lifecycle.Props = scalarProps(raw.Value[j])
			out = append(out, u)
		}
		next = p.NextLink
	}
	return out, nil
}

// Lifecycle holds what a query selected beyond the User fields.
type Lifecycle struct {
	EmployeeLeaveDateTime *time.Time
	SignInActivity        *SignInActivity
	// Props are the selected scalar properties as text, by lower-cased
	// name ("" for null).
	Props map[string]string
}

// scalarProps renders the scalar properties of a user object.
func scalarProps(o map[string]any) map[string]string {
	out := make(map[string]string, len(o))
	for k, v := range o {
		switch x := v.(type) {
		case nil:
			out[strings.ToLower(k)] = ""
		case string:
			out[strings.ToLower(k)] = x
		case bool:
			out[strings.ToLower(k)] = strconv.FormatBool(x)
		case float64:
			out[strings.ToLower(k)] = strconv.FormatFloat(x, 'f', -1, 64)
		}
	}
	return out
}

type wireLifecycleUser struct {
	wireUser
	EmployeeLeaveDateTime string `json:"employeeLeaveDateTime"`
	SignInActivity        *struct {
		LastSignInDateTime           string `json:"lastSignInDateTime"`
		LastSuccessfulSignInDateTime string `json:"lastSuccessfulSignInDateTime"`
	} `json:"signInActivity"`
}

func (w *wireLifecycleUser) toUser() User {
	u := w.wireUser.toUser()
	lc := &Lifecycle{EmployeeLeaveDateTime: parseTime(w.EmployeeLeaveDateTime)}
	if s := w.SignInActivity; s != nil {
		lc.SignInActivity = &SignInActivity{LastSignIn: parseTime(s.LastSignInDateTime), LastSuccessfulSignIn: parseTime(s.LastSuccessfulSignInDateTime)}
	}
	u.Lifecycle = lc
	return u
}

// parseTime reads a Graph timestamp; empty or malformed is nil (not worth
// failing a read for).
func parseTime(s string) *time.Time {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}

// Throttled pages of a listing are waited out and asked again, up to
// maxPageThrottles times a page and maxPageThrottleWait each: a listing of
// a whole tenant (signInActivity: 500 users a page, throttled far below
// other reads) would otherwise start over from its first page after every
// 429 and never finish.
const (
	maxPageThrottles    = 30
	maxPageThrottleWait = 30 * time.Second
)

func (c *Client) pageRetryingThrottle(ctx context.Context, k call) (*rawResponse, error) {
	for attempt := 0; ; attempt++ {
		resp, err := c.do(ctx, k)
		wait, throttled := IsThrottled(err)
		if !throttled || attempt >= maxPageThrottles || wait > maxPageThrottleWait {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(max(wait, 10*time.Millisecond)):
		}
	}
}
