package directory

import (
	"context"
	"testing"

	"github.com/directory-operator/directory-operator/internal/graph"
)

// fakeGraph is this controller's Graph port for unit tests: each method
// calls its func field; a method the test did not set fails the test.
type fakeGraph struct {
	t                      testing.TB
	GrantedPermissionsFunc func(ctx context.Context) ([]string, error)
	OrganizationFunc       func(ctx context.Context) (graph.Organization, error)
	ListGroupsFunc         func(ctx context.Context) ([]graph.Group, error)
	budget                 *graph.Budget
}

var _ Graph = (*fakeGraph)(nil)

func (f *fakeGraph) unset(method string) error {
	f.t.Helper()
	f.t.Errorf("unexpected Graph call %s (no %sFunc set)", method, method)
	return &graph.Error{Kind: graph.Invalid, Code: "UnexpectedCall", Message: method}
}

func (f *fakeGraph) GrantedPermissions(ctx context.Context) ([]string, error) {
	if f.GrantedPermissionsFunc == nil {
		return nil, f.unset("GrantedPermissions")
	}
	return f.GrantedPermissionsFunc(ctx)
}

func (f *fakeGraph) Organization(ctx context.Context) (graph.Organization, error) {
	if f.OrganizationFunc == nil {
		return graph.Organization{}, f.unset("Organization")
	}
	return f.OrganizationFunc(ctx)
}

func (f *fakeGraph) ListGroups(ctx context.Context) ([]graph.Group, error) {
	if f.ListGroupsFunc == nil {
		return nil, f.unset("ListGroups")
	}
	return f.ListGroupsFunc(ctx)
}

func (f *fakeGraph) Budget() *graph.Budget {
	if f.budget == nil {
		f.budget = graph.NewBudget(graph.BudgetForTenantSize("S"))
	}
	return f.budget
}

// fakeClients records what the health check asked the client cache.
type fakeClients struct{ forgot, dropped []string }

func (c *fakeClients) Forget(key string) { c.forgot = append(c.forgot, key) }
func (c *fakeClients) Drop(key string)   { c.dropped = append(c.dropped, key) }
func (c *fakeClients) Throttle(string) (graph.ThrottleReport, bool) {
	return graph.ThrottleReport{}, false
}
