package groupsync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graph/graphfake"
)

// Unit tests of the sync steps against the fake port: no envtest.

var unitNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// deltaSyncer is a GroupSync synced before, with members a (manager of b)
// and b, and a cursor for a delta sync.
func deltaSyncer(t *testing.T, g *fakeGraph) *syncer {
	t.Helper()
	gs := &v1alpha1.GroupSync{Spec: v1alpha1.GroupSyncSpec{Group: v1alpha1.GroupSelector{ID: "g1"}}}
	gs.Status.GroupID, gs.Status.DisplayName = "g1", "Staff"
	gs.Status.Cursor = &v1alpha1.SyncCursor{Group: selector(gs.Spec.Group), IncludeManagers: true,
		GroupDeltaLink: "group-link-1", UsersDeltaLink: "users-link-1"}
	st := state{
		"a": {ID: "a", UPN: "a@contoso.com", JobTitle: "Lead", AccountEnabled: "true"},
		"b": {ID: "b", UPN: "b@contoso.com", JobTitle: "Dev", AccountEnabled: "true", ManagerID: "a", ManagerUPN: "a@contoso.com"},
	}
	return &syncer{gc: g, gs: gs, now: unitNow, st: st}
}

// A delta sync merges what changed and only that: c joins (read with its
// manager in $batch), b leaves (kept as it was, marked removed), a's title
// and UPN change, and the manager column of a's active reports follows the
// rename.
func TestUnitDeltaMerge(t *testing.T) {
	g := &fakeGraph{Recorder: graphfake.Recorder{T: t}}
	g.GroupMembersDeltaFunc = func(_ context.Context, link, id string) (graph.GroupMembersDelta, error) {
		if link != "group-link-1" || id != "g1" {
			t.Errorf("groups/delta(%q, %q)", link, id)
		}
		return graph.GroupMembersDelta{Seen: true, DisplayName: "Staff", Added: []string{"C"}, Removed: []string{"b"}, DeltaLink: "group-link-2"}, nil
	}
	g.UsersDeltaFunc = func(_ context.Context, q graph.UsersDeltaQuery, fn func(graph.UserChange) error) (string, error) {
		if q.Link != "users-link-1" {
			t.Errorf("users/delta link %q", q.Link)
		}
		_ = fn(graph.UserChange{User: graph.User{ID: "A", UserPrincipalName: "alice@contoso.com", JobTitle: "Director"},
			Props: map[string]bool{"userPrincipalName": true, "jobTitle": true}})
		// Not a member: ignored.
		_ = fn(graph.UserChange{User: graph.User{ID: "z", JobTitle: "x"}, Props: map[string]bool{"jobTitle": true}})
		return "users-link-2", nil
	}
	g.GetUsersFunc = func(_ context.Context, keys []string, _ ...string) ([]graph.UserResult, error) {
		if len(keys) != 1 || keys[0] != "c" {
			t.Errorf("GetUsers(%v)", keys)
		}
		return []graph.UserResult{{Key: "c", User: graph.User{ID: "c", UserPrincipalName: "c@contoso.com", AccountEnabled: ptr(false)}}}, nil
	}
	g.GetManagersFunc = func(_ context.Context, ids []string) ([]graph.ManagerResult, error) {
		return []graph.ManagerResult{{UserID: "c", Manager: &graph.UserRef{ID: "A", UserPrincipalName: "alice@contoso.com"}}}, nil
	}
	s := deltaSyncer(t, g)
	res, err := s.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.mode != v1alpha1.SyncDelta || res.added != 1 || res.removed != 1 || res.updated != 1 {
		t.Errorf("result %+v, want delta: 1 added, 1 removed, 1 updated", res)
	}
	a, b, c := s.st["a"], s.st["b"], s.st["c"]
	if a.UPN != "alice@contoso.com" || a.JobTitle != "Director" || a.AccountEnabled != "true" {
		t.Errorf("a = %+v: only the properties the delta carried change", a)
	}
	if !b.Removed || !b.RemovedAt.Equal(unitNow) || b.ManagerUPN != "a@contoso.com" {
		t.Errorf("b = %+v: kept as removed, as it was when it left", b)
	}
	if c == nil || c.UPN != "c@contoso.com" || c.AccountEnabled != "false" || c.ManagerID != "a" || c.ManagerUPN != "alice@contoso.com" {
		t.Errorf("c = %+v", c)
	}
	if s.cursor.GroupDeltaLink != "group-link-2" || s.cursor.UsersDeltaLink != "users-link-2" {
		t.Errorf("cursor %+v", s.cursor)
	}
	if _, ok := s.st["z"]; ok {
		t.Error("a non-member became a row")
	}
}

// An expired delta link costs one full sync, not a stuck resource.
func TestUnitExpiredDeltaLinkRunsFullSync(t *testing.T) {
	g := &fakeGraph{Recorder: graphfake.Recorder{T: t}}
	g.GroupMembersDeltaFunc = func(_ context.Context, link, _ string) (graph.GroupMembersDelta, error) {
		if link == "group-link-1" {
			return graph.GroupMembersDelta{}, &graph.Error{Kind: graph.Invalid, StatusCode: 410, Code: "syncStateNotFound"}
		}
		return graph.GroupMembersDelta{DeltaLink: "group-link-2"}, nil
	}
	g.GetGroupFunc = func(context.Context, string) (graph.Group, error) {
		return graph.Group{ID: "g1", DisplayName: "Staff"}, nil
	}
	g.CountGroupMembersFunc = func(context.Context, string, bool) (int, error) { return 1, nil }
	g.CountUsersFunc = func(context.Context) (int, error) { return 100000, nil }
	g.UsersDeltaFunc = func(context.Context, graph.UsersDeltaQuery, func(graph.UserChange) error) (string, error) {
		return "users-link-2", nil
	}
	g.ListGroupMembersFunc = func(context.Context, string, bool, ...string) ([]graph.User, error) {
		return []graph.User{{ID: "a", UserPrincipalName: "a@contoso.com", JobTitle: "Lead", AccountEnabled: ptr(true)}}, nil
	}
	g.GetManagersFunc = func(context.Context, []string) ([]graph.ManagerResult, error) {
		return []graph.ManagerResult{{UserID: "a"}}, nil
	}
	s := deltaSyncer(t, g)
	res, err := s.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.mode != v1alpha1.SyncFull || res.plan.Strategy != v1alpha1.ManagersPerMember || res.removed != 1 || !s.st["b"].Removed || s.st["a"].Removed {
		t.Errorf("result %+v, rows a %+v b %+v", res, s.st["a"], s.st["b"])
	}
}

// Graph errors leave the state as it was: the next sync reads the same
// changes again.
func TestUnitFailedDeltaLeavesStateAlone(t *testing.T) {
	g := &fakeGraph{Recorder: graphfake.Recorder{T: t}}
	g.GroupMembersDeltaFunc = func(context.Context, string, string) (graph.GroupMembersDelta, error) {
		return graph.GroupMembersDelta{Seen: true, Removed: []string{"b"}, DeltaLink: "group-link-2"}, nil
	}
	boom := &graph.Error{Kind: graph.Transient, StatusCode: 503, Code: "serviceUnavailable"}
	g.UsersDeltaFunc = func(context.Context, graph.UsersDeltaQuery, func(graph.UserChange) error) (string, error) {
		return "", boom
	}
	s := deltaSyncer(t, g)
	if _, err := s.run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if s.st["b"].Removed {
		t.Error("a failed sync changed the state")
	}
}
