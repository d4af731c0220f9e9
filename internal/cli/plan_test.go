package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/plan"
)

func id(suffix string) string { return "00000000-0000-4000-8000-0000000000" + suffix }

// seedGraph puts the tenant the golden plan is computed against.
func seedGraph() {
	users := []graphsim.User{
		{ID: id("a1"), UserPrincipalName: "alice@contoso.com", DisplayName: "Alice Anders", JobTitle: "Engineer", AccountEnabled: true},
		{ID: id("b1"), UserPrincipalName: "bob@contoso.com", DisplayName: "Bob Brown", JobTitle: "Engineer", AccountEnabled: true},
		{ID: id("c1"), UserPrincipalName: "ceo@contoso.com", DisplayName: "Chief Executive", AccountEnabled: true},
		{ID: id("d1"), UserPrincipalName: "dave@contoso.com", DisplayName: "David Davis", AccountEnabled: true},
		{ID: id("e1"), UserPrincipalName: "erin@contoso.com", DisplayName: "Erin Evans", AccountEnabled: true},
		{ID: id("01"), UserPrincipalName: "olivia@contoso.com", DisplayName: "Olivia", JobTitle: "Sales", AccountEnabled: true},
		{ID: id("f1"), UserPrincipalName: "frank@contoso.com", DisplayName: "frank", AccountEnabled: true},
		{ID: id("f2"), UserPrincipalName: "grace@contoso.com", DisplayName: "grace", AccountEnabled: true},
		{ID: id("f3"), UserPrincipalName: "heidi@contoso.com", DisplayName: "heidi", AccountEnabled: true},
		{ID: id("11"), UserPrincipalName: "ivan@contoso.com", DisplayName: "Ivan", JobTitle: "Intern", AccountEnabled: true},
		{ID: id("12"), UserPrincipalName: "judy@contoso.com", DisplayName: "Judy", AccountEnabled: false},
		{ID: id("13"), UserPrincipalName: "ext@fabrikam.com", DisplayName: "External", AccountEnabled: true},
	}
	for _, u := range users {
		env.Sim.PutUser(u)
	}
	env.Sim.PutGroup(graphsim.Group{ID: id("9a"), DisplayName: "All Staff", SecurityEnabled: true})
}

var goldenSafety = v1alpha1.SafetySpec{AllowedDomains: []string{"contoso.com"}, ProtectedUsers: []string{"ceo@contoso.com"}}

// TestPlanChanges: a folder with updates, creates, an adoption, a removal
// per deletionPolicy, a protected user, a disallowed domain and a batch
// with every outcome gives exactly the golden plan, exit status 2, and
// writes nothing to Graph.
func TestPlanChanges(t *testing.T) {
	seedGraph()
	namespace(t, "plan-changes", goldenSafety)
	applyCluster(t, "plan-changes", "testdata/plan/cluster")
	env.Sim.ResetCounters()

	for _, format := range plan.Formats {
		out, stderr, code := run(t, "", "-n", "plan-changes", "plan", "-f", "testdata/plan/changes", "-o", format)
		if code != plan.ExitChanges {
			t.Fatalf("-o %s: exit status %d, want %d; stderr: %s", format, code, plan.ExitChanges, stderr)
		}
		golden(t, "plan/changes."+format+".golden", out)
	}
	c := env.Sim.Counters()
	if c.Writes != 0 || c.Posts != 0 {
		t.Errorf("plan wrote to Graph: %d writes, %d creates", c.Writes, c.Posts)
	}
	// Per plan: one $batch for the users (8 DirectoryUsers before the
	// rails, 6 batch users, 2 shared) and one group lookup per GroupSync.
	if c.Requests > int64(3*len(plan.Formats)) {
		t.Errorf("%d Graph requests for %d plans, want 3 each", c.Requests, len(plan.Formats))
	}
}

// TestPlanUnchanged: a folder equal to the cluster and to Graph exits 0,
// with at most ceil(N/20) Graph requests for N users and no write.
func TestPlanUnchanged(t *testing.T) {
	const n = 45
	ns := "plan-unchanged"
	namespace(t, ns, v1alpha1.SafetySpec{})
	dir := t.TempDir()
	var folder, cluster strings.Builder
	for i := range n {
		upn := fmt.Sprintf("same%02d@contoso.com", i)
		uid := fmt.Sprintf("11111111-0000-4000-8000-%012d", i)
		env.Sim.PutUser(graphsim.User{ID: uid, UserPrincipalName: upn, DisplayName: fmt.Sprintf("Same %d", i), JobTitle: "Clerk", AccountEnabled: true})
		spec := fmt.Sprintf(`apiVersion: entra.directory-operator.io/v1alpha1
kind: DirectoryUser
metadata: {name: same%02d}
spec:
  directoryRef: {name: tenant}
  userPrincipalName: %s
  displayName: Same %d
  jobTitle: Clerk
`, i, upn, i)
		folder.WriteString(spec + "---\n")
		cluster.WriteString(spec + fmt.Sprintf("status: {id: %s, userPrincipalName: %s, accountEnabled: true}\n---\n", uid, upn))
	}
	writeFile(t, filepath.Join(dir, "folder", "users.yaml"), folder.String())
	writeFile(t, filepath.Join(dir, "cluster", "users.yaml"), cluster.String())
	applyCluster(t, ns, filepath.Join(dir, "cluster"))
	env.Sim.ResetCounters()

	out, stderr, code := run(t, "", "-n", ns, "plan", "-f", filepath.Join(dir, "folder"), "-o", "json")
	if code != plan.ExitNoChanges {
		t.Fatalf("exit status %d, want 0; stderr: %s\n%s", code, stderr, out)
	}
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	c := env.Sim.Counters()
	limit := int64((n + 19) / 20)
	if c.Requests > limit || p.GraphRequests > limit {
		t.Errorf("Graph requests: emulator %d, plan %d; want ≤ ceil(%d/20) = %d", c.Requests, p.GraphRequests, n, limit)
	}
	if c.Writes != 0 || c.Posts != 0 {
		t.Errorf("plan wrote to Graph: %d writes, %d creates", c.Writes, c.Posts)
	}
	if len(p.Items) != n {
		t.Errorf("%d items, want %d", len(p.Items), n)
	}
	for _, it := range p.Items {
		if it.Action != plan.ActionNoop || it.Changed {
			t.Errorf("%s: %s (changed %v), want no-op: %+v", it.Name, it.Action, it.Changed, it)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
