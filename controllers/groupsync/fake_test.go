package groupsync

import (
	"context"

	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graph/graphfake"
)

// fakeGraph is this controller's Graph port for unit tests: each method
// calls its func field; a method the test did not set fails the test.
type fakeGraph struct {
	graphfake.Recorder
	GetGroupFunc          func(ctx context.Context, id string) (graph.Group, error)
	FindGroupsFunc        func(ctx context.Context, displayName string) ([]graph.Group, error)
	ListGroupMembersFunc  func(ctx context.Context, groupID string, transitive bool, selectProps ...string) ([]graph.User, error)
	GetUsersFunc          func(ctx context.Context, keys []string, selectProps ...string) ([]graph.UserResult, error)
	GetManagersFunc       func(ctx context.Context, userIDs []string) ([]graph.ManagerResult, error)
	GroupMembersDeltaFunc func(ctx context.Context, link, groupID string) (graph.GroupMembersDelta, error)
	UsersDeltaFunc        func(ctx context.Context, q graph.UsersDeltaQuery, fn func(graph.UserChange) error) (string, error)
	CountUsersFunc        func(ctx context.Context) (int, error)
	CountGroupMembersFunc func(ctx context.Context, groupID string, transitive bool) (int, error)
}

var _ Graph = (*fakeGraph)(nil)

func (f *fakeGraph) GetGroup(ctx context.Context, id string) (graph.Group, error) {
	f.Record("GetGroup %s", id)
	if f.GetGroupFunc == nil {
		return graph.Group{}, f.Unset("GetGroup")
	}
	return f.GetGroupFunc(ctx, id)
}

func (f *fakeGraph) FindGroups(ctx context.Context, displayName string) ([]graph.Group, error) {
	f.Record("FindGroups %s", displayName)
	if f.FindGroupsFunc == nil {
		return nil, f.Unset("FindGroups")
	}
	return f.FindGroupsFunc(ctx, displayName)
}

func (f *fakeGraph) ListGroupMembers(ctx context.Context, groupID string, transitive bool, selectProps ...string) ([]graph.User, error) {
	f.Record("ListGroupMembers %s %v", groupID, transitive)
	if f.ListGroupMembersFunc == nil {
		return nil, f.Unset("ListGroupMembers")
	}
	return f.ListGroupMembersFunc(ctx, groupID, transitive, selectProps...)
}

func (f *fakeGraph) GetUsers(ctx context.Context, keys []string, selectProps ...string) ([]graph.UserResult, error) {
	f.Record("GetUsers %v", keys)
	if f.GetUsersFunc == nil {
		return nil, f.Unset("GetUsers")
	}
	return f.GetUsersFunc(ctx, keys, selectProps...)
}

func (f *fakeGraph) GetManagers(ctx context.Context, userIDs []string) ([]graph.ManagerResult, error) {
	f.Record("GetManagers %v", userIDs)
	if f.GetManagersFunc == nil {
		return nil, f.Unset("GetManagers")
	}
	return f.GetManagersFunc(ctx, userIDs)
}

func (f *fakeGraph) GroupMembersDelta(ctx context.Context, link, groupID string) (graph.GroupMembersDelta, error) {
	f.Record("GroupMembersDelta %s", link)
	if f.GroupMembersDeltaFunc == nil {
		return graph.GroupMembersDelta{}, f.Unset("GroupMembersDelta")
	}
	return f.GroupMembersDeltaFunc(ctx, link, groupID)
}

func (f *fakeGraph) UsersDelta(ctx context.Context, q graph.UsersDeltaQuery, fn func(graph.UserChange) error) (string, error) {
	f.Record("UsersDelta %s", q.Link)
	if f.UsersDeltaFunc == nil {
		return "", f.Unset("UsersDelta")
	}
	return f.UsersDeltaFunc(ctx, q, fn)
}

func (f *fakeGraph) CountUsers(ctx context.Context) (int, error) {
	f.Record("CountUsers")
	if f.CountUsersFunc == nil {
		return 0, f.Unset("CountUsers")
	}
	return f.CountUsersFunc(ctx)
}

func (f *fakeGraph) CountGroupMembers(ctx context.Context, groupID string, transitive bool) (int, error) {
	f.Record("CountGroupMembers %s", groupID)
	if f.CountGroupMembersFunc == nil {
		return 0, f.Unset("CountGroupMembers")
	}
	return f.CountGroupMembersFunc(ctx, groupID, transitive)
}
