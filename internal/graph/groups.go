package graph

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
)

var groupFields = "id,displayName,mail,securityEnabled,mailEnabled,groupTypes"

// wireGroup is a group as Graph serialises it.
type wireGroup struct {
	ID              string   `json:"id"`
	DisplayName     string   `json:"displayName"`
	Mail            string   `json:"mail"`
	SecurityEnabled *bool    `json:"securityEnabled"`
	MailEnabled     *bool    `json:"mailEnabled"`
	GroupTypes      []string `json:"groupTypes"`
}

func (w *wireGroup) toGroup() Group {
	return Group{
		ID: w.ID, DisplayName: w.DisplayName, Mail: w.Mail,
		SecurityEnabled: w.SecurityEnabled != nil && *w.SecurityEnabled,
		MailEnabled:     w.MailEnabled != nil && *w.MailEnabled,
		GroupTypes:      w.GroupTypes,
	}
}

func toGroups(ws []wireGroup) []Group {
	out := make([]Group, len(ws))
	for i := range ws {
		out[i] = ws[i].toGroup()
	}
	return out
}

// GetGroup reads one group by object id.
func (c *Client) GetGroup(ctx context.Context, id string) (Group, error) {
	const op = "GET /groups/{id}"
	q := query{{"$select", groupFields}}
	body, err := c.getJSON(ctx, op, c.base+"/groups/"+url.PathEscape(id)+q.encode(), 1)
	if err != nil {
		return Group{}, err
	}
	var w wireGroup
	if err := json.Unmarshal(body, &w); err != nil {
		return Group{}, decodeError(op, err)
	}
	return w.toGroup(), nil
}

// FindGroups returns the groups whose displayName equals displayName
// exactly. Display names are not unique: callers refuse to pick when
// several match.
func (c *Client) FindGroups(ctx context.Context, displayName string) ([]Group, error) {
	q := query{{"$filter", "displayName eq " + odataString(displayName)}, {"$select", groupFields}}
	ws, err := listAll[wireGroup](ctx, c, "GET /groups?$filter", c.base+"/groups"+q.encode(), 1)
	if err != nil {
		return nil, err
	}
	return toGroups(ws), nil
}

// ListGroups returns every group in the tenant ($top=999, all pages).
func (c *Client) ListGroups(ctx context.Context) ([]Group, error) {
	q := query{{"$select", groupFields}, {"$top", "999"}}
	ws, err := listAll[wireGroup](ctx, c, "GET /groups", c.base+"/groups"+q.encode(), 1)
	if err != nil {
		return nil, err
	}
	return toGroups(ws), nil
}

// ListGroupMembers returns the users among a group's direct (or, with
// transitive, nested) members, through the microsoft.graph.user cast so
// devices, contacts and nested groups are skipped by Graph itself. All pages
// of $top=999 are read; selectProps defaults to every User field (no
// manager: resolve managers separately, see GetManagers and ListUsers).
func (c *Client) ListGroupMembers(ctx context.Context, groupID string, transitive bool, selectProps ...string) ([]User, error) {
	rel, cost := "members", 3
	if transitive {
		rel, cost = "transitiveMembers", 5
	}
	op := "GET /groups/{id}/" + rel
	if len(selectProps) == 0 {
		selectProps = userFields
	}
	q := query{{"$select", strings.Join(selectProps, ",")}, {"$top", "999"}}
	u := c.base + "/groups/" + url.PathEscape(groupID) + "/" + rel + "/microsoft.graph.user" + q.encode()
	ws, err := listAll[wireUser](ctx, c, op, u, estimateRU(cost, true, false, 999))
	if err != nil {
		return nil, err
	}
	return toUsers(ws), nil
}
