package plan

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// fakeGraph answers from a map of users (keys: lower-case id and UPN) and
// one group; it counts GetUsers calls. The emulator-backed tests are in
// internal/cli; these cover rules quickly.
type fakeGraph struct {
	users    map[string]graph.User
	managers map[string]*graph.UserRef
	members  []graph.User
	calls    int
}

func (f *fakeGraph) GetUsers(_ context.Context, keys []string, _ ...string) ([]graph.UserResult, error) {
	f.calls++
	out := make([]graph.UserResult, len(keys))
	for i, k := range keys {
		out[i].Key = k
		if u, ok := f.users[strings.ToLower(k)]; ok {
			out[i].User = u
		} else if strings.Contains(k, " ") {
			out[i].Err = &graph.Error{Kind: graph.Invalid, Code: "Request_BadRequest", Message: "invalid key"}
		} else {
			out[i].Err = &graph.Error{Kind: graph.NotFound}
		}
	}
	return out, nil
}

func (f *fakeGraph) GetGroup(context.Context, string) (graph.Group, error) {
	return graph.Group{ID: "g"}, nil
}
func (f *fakeGraph) FindGroups(context.Context, string) ([]graph.Group, error) {
	return []graph.Group{{ID: "g"}}, nil
}
func (f *fakeGraph) ListGroupMembers(context.Context, string, bool, ...string) ([]graph.User, error) {
	return f.members, nil
}
func (f *fakeGraph) GetManagers(_ context.Context, ids []string) ([]graph.ManagerResult, error) {
	f.calls++
	out := make([]graph.ManagerResult, len(ids))
	for i, id := range ids {
		out[i] = graph.ManagerResult{UserID: id, Manager: f.managers[id]}
	}
	return out, nil
}

func (f *fakeGraph) Usage() graph.Usage { return graph.Usage{Requests: int64(f.calls)} }

func newFake(users ...graph.User) *fakeGraph {
	f := &fakeGraph{users: map[string]graph.User{}}
	for _, u := range users {
		f.users[strings.ToLower(u.ID)] = u
		f.users[strings.ToLower(u.UserPrincipalName)] = u
	}
	return f
}

func user(id, upn string, enabled bool) graph.User {
	return graph.User{ID: id, UserPrincipalName: upn, DisplayName: upn, AccountEnabled: &enabled}
}

func dirObj(safety v1alpha1.SafetySpec) v1alpha1.Directory {
	return v1alpha1.Directory{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tenant"}, Spec: v1alpha1.DirectorySpec{Safety: safety}}
}

func du(name, upn string, mod ...func(*v1alpha1.DirectoryUser)) v1alpha1.DirectoryUser {
	d := v1alpha1.DirectoryUser{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: v1alpha1.DirectoryUserSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, UserPrincipalName: upn, DisplayName: upn}}
	for _, m := range mod {
		m(&d)
	}
	defaultUser(&d)
	return d
}

func bound(id string) func(*v1alpha1.DirectoryUser) {
	return func(d *v1alpha1.DirectoryUser) {
		d.Status.ID, d.Status.UserPrincipalName = id, d.Spec.UserPrincipalName
		d.CreationTimestamp = metav1.Now()
	}
}

func compute(t *testing.T, f *fakeGraph, desired, live *Objects) map[string]Item {
	t.Helper()
	p, err := Compute(context.Background(), Input{Desired: desired, Live: live, Prune: true,
		Connect: func(context.Context, *v1alpha1.Directory) (Graph, error) { return f, nil }})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Item{}
	for _, it := range p.Items {
		out[it.Kind+"/"+it.Name] = it
	}
	return out
}

func TestConflictAndHold(t *testing.T) {
	f := newFake(user("1", "a@contoso.com", false))
	held := du("held", "a@contoso.com", bound("1"), func(d *v1alpha1.DirectoryUser) {
		d.Annotations = map[string]string{v1alpha1.HoldAnnotation: "leavers"}
	})
	live := &Objects{Directories: []v1alpha1.Directory{dirObj(v1alpha1.SafetySpec{})}, Users: []v1alpha1.DirectoryUser{held}}
	desired := &Objects{Users: []v1alpha1.DirectoryUser{du("held", "a@contoso.com"), du("second", "A@contoso.com")}}
	got := compute(t, f, desired, live)
	if it := got["DirectoryUser/held"]; it.Action != ActionNoop || it.Changed || !strings.Contains(it.Message, "held by UserDisableBatch leavers") {
		t.Errorf("held user: %+v (a held account is not re-enabled)", it)
	}
	p, _ := Compute(context.Background(), Input{Desired: desired, Live: live,
		Connect: func(context.Context, *v1alpha1.Directory) (Graph, error) { return f, nil }})
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "Directory ns/tenant is not Ready (not checked yet)") {
		t.Errorf("warnings: %q", p.Warnings)
	}
	if it := got["DirectoryUser/second"]; it.Action != ActionStalled || it.Reason != v1alpha1.ReasonConflict || !strings.Contains(it.Message, `"held"`) {
		t.Errorf("second claimant: %+v", it)
	}
}

func TestBatchRules(t *testing.T) {
	f := newFake(user("1", "managed@contoso.com", true), user("2", "on@contoso.com", true))
	f.members = []graph.User{user("2", "on@contoso.com", true), user("3", "off@contoso.com", false)}
	batch := func(name string, mod func(*v1alpha1.UserDisableBatchSpec)) v1alpha1.UserDisableBatch {
		b := v1alpha1.UserDisableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: v1alpha1.UserDisableBatchSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, Users: []string{"managed@contoso.com", "on@contoso.com"}}}
		mod(&b.Spec)
		return b
	}
	desired := &Objects{Users: []v1alpha1.DirectoryUser{du("m", "managed@contoso.com", bound("1"))}, Batches: []v1alpha1.UserDisableBatch{
		batch("hold", func(s *v1alpha1.UserDisableBatchSpec) { s.DisableManaged = true }),
		batch("dry", func(s *v1alpha1.UserDisableBatchSpec) { s.DryRun = true }),
		batch("group", func(s *v1alpha1.UserDisableBatchSpec) {
			s.Users, s.Group = nil, &v1alpha1.BatchGroupSelector{GroupSelector: v1alpha1.GroupSelector{DisplayName: "Leavers"}}
		}),
		batch("twice", func(s *v1alpha1.UserDisableBatchSpec) { s.Users = []string{"x@contoso.com", "X@contoso.com"} }),
		batch("badkey", func(s *v1alpha1.UserDisableBatchSpec) { s.Users = []string{"not a user", "on@contoso.com"} }),
		batch("running", func(s *v1alpha1.UserDisableBatchSpec) { s.Reason = "edited" }),
	}}
	live := &Objects{Directories: []v1alpha1.Directory{dirObj(v1alpha1.SafetySpec{})},
		Users: []v1alpha1.DirectoryUser{du("m", "managed@contoso.com", bound("1"))}, Batches: []v1alpha1.UserDisableBatch{batch("running", func(*v1alpha1.UserDisableBatchSpec) {})}}
	got := compute(t, f, desired, live)
	counts := func(name string) map[Outcome]int { return got["UserDisableBatch/"+name].Batch.Counts }
	if c := counts("hold"); c[OutcomeDisable] != 2 || got["UserDisableBatch/hold"].Batch.Rows[0].Message != "held disabled through DirectoryUser m" {
		t.Errorf("disableManaged: %+v", got["UserDisableBatch/hold"].Batch)
	}
	if c := counts("dry"); c[OutcomeManaged] != 1 || c[OutcomeQueried] != 1 {
		t.Errorf("dry run: %v", c)
	}
	if c := counts("group"); c[OutcomeDisable] != 1 || c[OutcomeAlreadyDisabled] != 1 {
		t.Errorf("group batch: %v", c)
	}
	if c := counts("badkey"); c[OutcomeFailed] != 1 || c[OutcomeDisable] != 1 {
		t.Errorf("a key Graph refuses fails its row only: %v", c)
	}
	if it := got["UserDisableBatch/twice"]; it.Action != ActionStalled || it.Reason != v1alpha1.ReasonInvalidSpec {
		t.Errorf("user listed twice: %+v", it)
	}
	if it := got["UserDisableBatch/running"]; it.Action != ActionStalled || !strings.Contains(it.Message, "immutable") {
		t.Errorf("edited batch: %+v", it)
	}
	if f.calls != 1 {
		t.Errorf("%d GetUsers calls, want 1 for every user of every batch", f.calls)
	}
}

func TestRemovals(t *testing.T) {
	f := newFake()
	max1 := int32(1)
	live := &Objects{Directories: []v1alpha1.Directory{dirObj(v1alpha1.SafetySpec{ProtectedUsers: []string{"boss@contoso.com"}, MaxDeletionsPerHour: &max1})},
		Users: []v1alpha1.DirectoryUser{
			du("boss", "boss@contoso.com", bound("b")),
			du("d1", "d1@contoso.com", bound("d1")),
			du("d2", "d2@contoso.com", bound("d2")),
			du("never", "never@contoso.com"),
			du("watch", "w@contoso.com", bound("w"), func(d *v1alpha1.DirectoryUser) { d.Spec.ManagementPolicy = v1alpha1.ManagementObserveOnly }),
		}}
	desired := &Objects{Users: []v1alpha1.DirectoryUser{du("kept", "kept@contoso.com")}}
	got := compute(t, f, desired, live)
	want := map[string]Action{"boss": ActionOrphan, "d1": ActionDelete, "d2": ActionDelete, "never": ActionRemove, "watch": ActionOrphan, "kept": ActionCreate}
	for name, a := range want {
		if it := got["DirectoryUser/"+name]; it.Action != a {
			t.Errorf("%s: %s, want %s (%s)", name, it.Action, a, it.Message)
		}
	}
	if it := got["DirectoryUser/boss"]; it.Reason != v1alpha1.ReasonProtectedUser {
		t.Errorf("protected removal: %+v", it)
	}
	if !strings.Contains(got["DirectoryUser/d2"].Message, "DeletionRateLimited") {
		t.Errorf("second deletion over maxDeletionsPerHour 1: %s", got["DirectoryUser/d2"].Message)
	}
	if _, ok := got["Directory/tenant"]; ok {
		t.Error("a folder without Directories removes the Directory")
	}
}

func TestWithoutCluster(t *testing.T) {
	f := newFake(user("1", "a@contoso.com", true))
	d := dirObj(v1alpha1.SafetySpec{})
	desired := &Objects{Directories: []v1alpha1.Directory{d}, Users: []v1alpha1.DirectoryUser{du("a", "a@contoso.com")}}
	got := compute(t, f, desired, nil)
	if it := got["DirectoryUser/a"]; it.Action != ActionNoop || it.Changed {
		t.Errorf("managed user without cluster: %+v", it)
	}
	if it := got["Directory/tenant"]; it.Action != ActionNoop || it.Changed {
		t.Errorf("Directory without cluster: %+v", it)
	}
}

// TestAdoptManager: the manager of a user the cluster knows nothing about
// is read from Graph, so adopting a user who already has the wanted
// manager changes nothing there.
func TestAdoptManager(t *testing.T) {
	f := newFake(user("1", "same@contoso.com", true), user("2", "other@contoso.com", true))
	f.managers = map[string]*graph.UserRef{"1": {ID: "m", UserPrincipalName: "boss@contoso.com"}}
	mgr := func(d *v1alpha1.DirectoryUser) {
		d.Spec.Adopt = true
		d.Spec.Manager = &v1alpha1.ManagerReference{UserPrincipalName: "boss@contoso.com"}
	}
	live := &Objects{Directories: []v1alpha1.Directory{dirObj(v1alpha1.SafetySpec{})}}
	desired := &Objects{Users: []v1alpha1.DirectoryUser{du("same", "same@contoso.com", mgr), du("other", "other@contoso.com", mgr)}}
	got := compute(t, f, desired, live)
	if it := got["DirectoryUser/same"]; it.Action != ActionAdopt || len(it.Changes) != 0 {
		t.Errorf("adopting a user with the wanted manager: %+v", it)
	}
	if it := got["DirectoryUser/other"]; len(it.Changes) != 1 || it.Changes[0] != (Change{Field: "manager", New: "boss@contoso.com"}) {
		t.Errorf("adopting a user without a manager: %+v", it.Changes)
	}
	if f.calls != 2 {
		t.Errorf("%d Graph calls, want 2 (users, then managers)", f.calls)
	}
}
