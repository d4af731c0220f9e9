package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Organization returns the tenant (GET /organization): the health check.
func (c *Client) Organization(ctx context.Context) (Organization, error) {
	const op = "GET /organization"
	q := query{{"$select", "id,displayName,verifiedDomains"}}
	body, err := c.getJSON(ctx, op, c.base+"/organization"+q.encode(), 1)
	if err != nil {
		return Organization{}, err
	}
	var p page[struct {
		ID              string `json:"id"`
		DisplayName     string `json:"displayName"`
		VerifiedDomains []struct {
			Name string `json:"name"`
		} `json:"verifiedDomains"`
	}]
	if err := json.Unmarshal(body, &p); err != nil {
		return Organization{}, decodeError(op, err)
	}
	if len(p.Value) == 0 {
		return Organization{}, &Error{Kind: NotFound, Op: op, Code: "NoOrganization", Message: "Graph returned no organization"}
	}
	o := p.Value[0]
	org := Organization{ID: o.ID, DisplayName: o.DisplayName}
	for _, d := range o.VerifiedDomains {
		org.VerifiedDomains = append(org.VerifiedDomains, d.Name)
	}
	return org, nil
}

// GrantedPermissions acquires a token (from the cache when possible) and
// returns the application permissions granted to the app, read from the
// token's `roles` claim. The signature is not checked: the token came
// straight from the authority over TLS and is only inspected, never trusted
// for access decisions. An empty list means no admin consent yet.
func (c *Client) GrantedPermissions(ctx context.Context) ([]string, error) {
	const op = "token"
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}, EnableCAE: true})
	if err != nil {
		return nil, classifyTransport(op, err, ctx, c.redact)
	}
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		return nil, &Error{Kind: Unknown, Op: op, Code: "InvalidToken", Message: "access token is not a JWT"}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, &Error{Kind: Unknown, Op: op, Code: "InvalidToken", Message: "access token payload is not base64url"}
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, &Error{Kind: Unknown, Op: op, Code: "InvalidToken", Message: "access token payload is not JSON"}
	}
	roles := append([]string{}, claims.Roles...)
	sort.Strings(roles)
	return roles, nil
}
