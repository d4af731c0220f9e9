package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// DeltaLatest, passed as a delta link, asks Graph for a delta link that
// starts now ($deltatoken=latest) without enumerating the current state:
// one request, one resource unit, whatever the size of the tenant.
const DeltaLatest = "latest"

// deltaPageSize is asked for with Prefer: odata.maxpagesize. Delta pages
// cost the same whatever their size, so the largest page Graph serves is
// the cheapest (the default is 100).
const deltaPageSize = 999

// IsDeltaExpired reports a delta link Graph no longer honours (410 Gone,
// syncStateNotFound, resyncRequired …). The caller must drop the link and
// run one full sync; retrying the same link can never succeed.
func IsDeltaExpired(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.StatusCode == http.StatusGone {
		return true
	}
	switch strings.ToLower(e.Code) {
	case "syncstatenotfound", "resyncrequired", "syncstateinvalid":
		return true
	}
	return false
}

// UsersDeltaQuery starts or resumes GET /users/delta.
type UsersDeltaQuery struct {
	// Link is "" for a full enumeration, DeltaLatest for a link starting
	// now, or the DeltaLink of an earlier round (it carries the query).
	Link string
	// Select lists the properties to return (id is always returned).
	Select []string
	// ExpandManager reports manager changes (manager@delta).
	ExpandManager bool
}

// UserChange is one entry of a users/delta answer.
type UserChange struct {
	User User
	// Props names the properties the answer carried. Graph may send only
	// the properties that changed, so a property missing here is unchanged,
	// not cleared.
	Props map[string]bool
	// ManagerChanged is true when the answer carried manager@delta;
	// User.Manager is then the new manager (ID only), or nil when removed.
	ManagerChanged bool
	// Removed is true for a user deleted from the tenant (User.ID only).
	Removed bool
}

// UsersDelta runs one users/delta round: it follows every nextLink, hands
// each entry to fn as it arrives (a full enumeration of a 100,000-user
// tenant is never held in memory at once) and returns the deltaLink for the
// next round. An expired link fails with an error IsDeltaExpired reports.
func (c *Client) UsersDelta(ctx context.Context, q UsersDeltaQuery, fn func(UserChange) error) (string, error) {
	const op = "GET /users/delta"
	next := q.Link
	if next == "" || next == DeltaLatest {
		var qs query
		if len(q.Select) > 0 {
			qs = append(qs, [2]string{"$select", strings.Join(withID(q.Select), ",")})
		}
		if q.ExpandManager {
			qs = append(qs, [2]string{"$expand", "manager($select=id)"})
		}
		if next == DeltaLatest {
			qs = append(qs, [2]string{"$deltatoken", "latest"})
		}
		next = "/users/delta" + qs.encode()
	}
	for i := 0; i < maxPages; i++ {
		p, err := c.deltaPage(ctx, op, next)
		if err != nil {
			return "", err
		}
		for _, raw := range p.Value {
			ch, err := decodeUserChange(raw)
			if err != nil {
				return "", decodeError(op, err)
			}
			if err := fn(ch); err != nil {
				return "", err
			}
		}
		if p.NextLink == "" {
			if p.DeltaLink == "" {
				return "", &Error{Kind: Transient, Op: op, Code: "InvalidResponse", Message: "delta answer has neither nextLink nor deltaLink"}
			}
			return p.DeltaLink, nil
		}
		next = p.NextLink
	}
	return "", &Error{Kind: Transient, Op: op, Code: "TooManyPages", Message: "delta round did not end"}
}

// GroupMembersDelta is the outcome of one groups/delta round for one group.
type GroupMembersDelta struct {
	// Seen is true when the group was in the answer (it changed, or this
	// was a full enumeration).
	Seen bool
	// DisplayName is the group's name when Seen.
	DisplayName string
	// Deleted is true when the group itself was deleted.
	Deleted bool
	// Added and Removed are member user ids; AddedGroups and RemovedGroups
	// are nested groups. Each id appears once, in its final state.
	Added, Removed             []string
	AddedGroups, RemovedGroups []string
	DeltaLink                  string
}

// GroupMembersDelta runs one round of
// groups/delta?$filter=id eq '{id}'&$select=members,displayName: with link
// "" the current members (all reported as Added) and a deltaLink; with
// DeltaLatest only a deltaLink starting now; with an earlier deltaLink the
// member changes since. Large groups arrive as the same group repeated over
// several pages; the chunks are merged.
func (c *Client) GroupMembersDelta(ctx context.Context, link, groupID string) (GroupMembersDelta, error) {
	const op = "GET /groups/delta"
	next := link
	if next == "" || next == DeltaLatest {
		qs := query{{"$filter", "id eq " + odataString(groupID)}, {"$select", "members,displayName"}}
		if next == DeltaLatest {
			qs = append(qs, [2]string{"$deltatoken", "latest"})
		}
		next = "/groups/delta" + qs.encode()
	}
	var out GroupMembersDelta
	final := map[string]memberState{}
	for i := 0; i < maxPages; i++ {
		p, err := c.deltaPage(ctx, op, next)
		if err != nil {
			return out, err
		}
		for _, raw := range p.Value {
			var g struct {
				ID          string          `json:"id"`
				DisplayName *string         `json:"displayName"`
				Removed     json.RawMessage `json:"@removed"`
				Members     []struct {
					Type    string          `json:"@odata.type"`
					ID      string          `json:"id"`
					Removed json.RawMessage `json:"@removed"`
				} `json:"members@delta"`
			}
			if err := json.Unmarshal(raw, &g); err != nil {
				return out, decodeError(op, err)
			}
			if !strings.EqualFold(g.ID, groupID) {
				continue
			}
			out.Seen = true
			if g.DisplayName != nil {
				out.DisplayName = *g.DisplayName
			}
			if len(g.Removed) > 0 {
				out.Deleted = true
			}
			for _, m := range g.Members {
				final[m.ID] = memberState{
					group:   strings.EqualFold(m.Type, "#microsoft.graph.group"),
					removed: len(m.Removed) > 0,
				}
			}
		}
		if p.NextLink == "" {
			if p.DeltaLink == "" {
				return out, &Error{Kind: Transient, Op: op, Code: "InvalidResponse", Message: "delta answer has neither nextLink nor deltaLink"}
			}
			out.DeltaLink = p.DeltaLink
			break
		}
		next = p.NextLink
	}
	if out.DeltaLink == "" {
		return out, &Error{Kind: Transient, Op: op, Code: "TooManyPages", Message: "delta round did not end"}
	}
	for id, st := range final {
		switch {
		case st.group && st.removed:
			out.RemovedGroups = append(out.RemovedGroups, id)
		case st.group:
			out.AddedGroups = append(out.AddedGroups, id)
		case st.removed:
			out.Removed = append(out.Removed, id)
		default:
			out.Added = append(out.Added, id)
		}
	}
	for _, s := range [][]string{out.Added, out.Removed, out.AddedGroups, out.RemovedGroups} {
		sort.Strings(s)
	}
	return out, nil
}

type memberState struct{ group, removed bool }

// CountUsers returns the number of users in the tenant
// (GET /users/$count, 1 RU), e.g. to price a tenant-wide sweep.
func (c *Client) CountUsers(ctx context.Context) (int, error) {
	return c.count(ctx, "GET /users/$count", "/users/$count")
}

// CountGroupMembers returns a group's direct (or transitive) member count
// (1 RU).
func (c *Client) CountGroupMembers(ctx context.Context, groupID string, transitive bool) (int, error) {
	rel := "members"
	if transitive {
		rel = "transitiveMembers"
	}
	return c.count(ctx, "GET /groups/{id}/"+rel+"/$count", "/groups/"+url.PathEscape(groupID)+"/"+rel+"/$count")
}

func (c *Client) count(ctx context.Context, op, path string) (int, error) {
	// $count is an advanced query: Graph refuses it without eventual consistency.
	resp, err := c.do(ctx, call{op: op, method: abs.GET, url: c.base + path, ru: 1,
		header: map[string]string{"ConsistencyLevel": "eventual"}})
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(resp.body), "\ufeff")))
	if err != nil {
		return 0, decodeError(op, err)
	}
	return n, nil
}

type deltaEnvelope struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
}

// deltaPage GETs one delta page. Every delta page costs 1 RU (a non-list
// read; $select and $expand cancel out), so pages are asked for as large
// as Graph serves them.
func (c *Client) deltaPage(ctx context.Context, op, rawURL string) (deltaEnvelope, error) {
	if strings.HasPrefix(rawURL, "/") {
		rawURL = c.base + rawURL
	}
	resp, err := c.do(ctx, call{op: op, method: abs.GET, url: rawURL, ru: 1,
		header: map[string]string{"Prefer": "odata.maxpagesize=" + strconv.Itoa(deltaPageSize)}})
	if err != nil {
		return deltaEnvelope{}, err
	}
	var p deltaEnvelope
	if err := json.Unmarshal(resp.body, &p); err != nil {
		return p, decodeError(op, err)
	}
	return p, nil
}

// decodeUserChange reads one users/delta entry, noting which properties it
// carried so absent ones are not mistaken for cleared ones.
func decodeUserChange(raw json.RawMessage) (UserChange, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return UserChange{}, err
	}
	var ch UserChange
	str := func(name string, dst *string) error {
		v, ok := fields[name]
		if !ok {
			return nil
		}
		ch.Props[name] = true
		if bytes.Equal(v, []byte("null")) {
			*dst = ""
			return nil
		}
		return json.Unmarshal(v, dst)
	}
	ch.Props = make(map[string]bool, len(fields))
	if err := str("id", &ch.User.ID); err != nil {
		return ch, err
	}
	if _, ok := fields["@removed"]; ok {
		ch.Removed = true
		return ch, nil
	}
	for name, dst := range map[string]*string{
		"userPrincipalName": &ch.User.UserPrincipalName, "displayName": &ch.User.DisplayName,
		"givenName": &ch.User.GivenName, "surname": &ch.User.Surname, "mail": &ch.User.Mail,
		"mailNickname": &ch.User.MailNickname, "jobTitle": &ch.User.JobTitle, "department": &ch.User.Department,
		"officeLocation": &ch.User.OfficeLocation, "usageLocation": &ch.User.UsageLocation, "employeeId": &ch.User.EmployeeID,
	} {
		if err := str(name, dst); err != nil {
			return ch, err
		}
	}
	if v, ok := fields["accountEnabled"]; ok {
		ch.Props["accountEnabled"] = true
		if !bytes.Equal(v, []byte("null")) {
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return ch, err
			}
			ch.User.AccountEnabled = &b
		}
	}
	if v, ok := fields["createdDateTime"]; ok && !bytes.Equal(v, []byte("null")) {
		var t time.Time
		if err := json.Unmarshal(v, &t); err != nil {
			return ch, err
		}
		ch.User.CreatedDateTime = &t
	}
	if err := decodeManagerChange(fields, &ch); err != nil {
		return ch, err
	}
	return ch, nil
}

// decodeManagerChange reads the manager of a users/delta entry:
// manager@delta, or the expanded manager some answers carry instead.
func decodeManagerChange(fields map[string]json.RawMessage, ch *UserChange) error {
	if v, ok := fields["manager@delta"]; ok {
		ch.ManagerChanged = true
		var refs []struct {
			ID      string          `json:"id"`
			Removed json.RawMessage `json:"@removed"`
		}
		if err := json.Unmarshal(v, &refs); err != nil {
			return err
		}
		for _, r := range refs {
			if len(r.Removed) == 0 && r.ID != "" {
				ch.User.Manager = &UserRef{ID: r.ID}
			}
		}
	} else if v, ok := fields["manager"]; ok {
		// Some answers carry the expanded object instead of manager@delta.
		ch.ManagerChanged = true
		if !bytes.Equal(v, []byte("null")) {
			var m struct {
				ID  string `json:"id"`
				UPN string `json:"userPrincipalName"`
			}
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			if m.ID != "" {
				ch.User.Manager = &UserRef{ID: m.ID, UserPrincipalName: m.UPN}
			}
		}
	}
	return nil
}

func withID(sel []string) []string {
	for _, s := range sel {
		if s == "id" {
			return sel
		}
	}
	return append([]string{"id"}, sel...)
}
