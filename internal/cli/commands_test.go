package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/export"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/plan"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// finishedBatch creates a UserDisableBatch with the rows its controller
// would have recorded.
func finishedBatch(t *testing.T, ns, name string) *v1alpha1.UserDisableBatch {
	t.Helper()
	ctx := context.Background()
	b := &v1alpha1.UserDisableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.UserDisableBatchSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"},
			Users: []string{"a@contoso.com", "b@contoso.com", "c@contoso.com"}}}
	if err := env.Client.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.Status.Phase = v1alpha1.BatchCompletedWithErrors
	b.Status.Users = []v1alpha1.BatchUserResult{
		{User: "a@contoso.com", ID: "id-a", JobTitle: "Clerk", Outcome: v1alpha1.OutcomeDisabled},
		{User: "b@contoso.com", ID: "id-b", Outcome: v1alpha1.OutcomeFailed, AccountEnabled: ptrTo(true), Message: "serviceNotAvailable"},
		{User: "c@contoso.com", ID: "id-c", Outcome: v1alpha1.OutcomeManaged, AccountEnabled: ptrTo(true), Message: "managed by DirectoryUser c"},
	}
	if err := env.Client.Status().Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func ptrTo[T any](v T) *T { return &v }

func TestRows(t *testing.T) {
	namespace(t, "cmd-rows", v1alpha1.SafetySpec{})
	finishedBatch(t, "cmd-rows", "leavers")
	out, stderr, code := run(t, "", "-n", "cmd-rows", "rows", "leavers")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"USER", "a@contoso.com  id-a  Disabled  true            false        Clerk", "b@contoso.com", "serviceNotAvailable", "c@contoso.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("rows output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = run(t, "", "-n", "cmd-rows", "rows", "leavers", "--outcome", "failed")
	if code != 0 || strings.Contains(out, "a@contoso.com") || !strings.Contains(out, "b@contoso.com") {
		t.Errorf("--outcome failed (exit %d):\n%s", code, out)
	}
	if _, stderr, code := run(t, "", "-n", "cmd-rows", "rows", "leavers", "--outcome", "Gone"); code != 1 || !strings.Contains(stderr, "unknown outcome") {
		t.Errorf("unknown outcome: exit %d, %s", code, stderr)
	}
}

// TestExport reads a sharded gzip GroupSync export and the audit export of
// a batch that no longer exists, as the README's commands would.
func TestExport(t *testing.T) {
	ctx := context.Background()
	ns := "cmd-export"
	namespace(t, ns, v1alpha1.SafetySpec{})
	gs := &v1alpha1.GroupSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "staff"},
		Spec: v1alpha1.GroupSyncSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, Group: v1alpha1.GroupSelector{ID: "g1"}}}
	if err := env.Client.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	saved := export.MaxPayload
	export.MaxPayload = 4 << 10 // forces gzip and shards
	defer func() { export.MaxPayload = saved }()
	var rows [][]string
	for i := range 2000 {
		rows = append(rows, []string{fmt.Sprintf("id-%d-%x", i, i*7919), fmt.Sprintf("user%d@contoso.com", i)})
	}
	csv := export.CSV([]string{"id", "userPrincipalName"}, rows)
	res, err := export.Write(ctx, env.Client, env.Client, env.Scheme, gs, "staff-members", "users.csv", csv)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ConfigMaps) < 2 || res.Encoding != export.EncodingGzip {
		t.Fatalf("export not sharded: %+v", res)
	}
	out, stderr, code := run(t, "", "-n", ns, "export", "staff")
	if code != 0 || out != string(csv) {
		t.Errorf("export staff: exit %d (%s), %d bytes, want %d", code, stderr, len(out), len(csv))
	}

	dir := &v1alpha1.Directory{}
	if err := env.Client.Get(ctx, clientKey(ns, "tenant"), dir); err != nil {
		t.Fatal(err)
	}
	audit := export.CSV([]string{"user", "outcome"}, [][]string{{"a@contoso.com", "Disabled"}})
	if _, err := export.Write(ctx, env.Client, env.Client, env.Scheme, dir, "gone-audit", "audit.csv", audit); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = run(t, "", "-n", ns, "export", "gone")
	if code != 0 || out != string(audit) {
		t.Errorf("export gone (batch deleted): exit %d (%s): %q", code, stderr, out)
	}
	if _, stderr, code := run(t, "", "-n", ns, "export", "nothing"); code != 1 || !strings.Contains(stderr, "no GroupSync or batch audit export") {
		t.Errorf("export nothing: exit %d: %s", code, stderr)
	}
}

// TestUndo: the confirmation, --dry-run's object, and the UserEnableBatch
// --yes creates.
func TestUndo(t *testing.T) {
	ns := "cmd-undo"
	namespace(t, ns, v1alpha1.SafetySpec{})
	finishedBatch(t, ns, "leavers")
	out, stderr, code := run(t, "", "-n", ns, "undo", "leavers", "--dry-run")
	want := "apiVersion: entra.directory-operator.io/v1alpha1\nkind: UserEnableBatch\nmetadata:\n  name: leavers-undo\n  namespace: cmd-undo\nspec:\n  directoryRef:\n    name: tenant\n  fromBatch: leavers\n"
	if code != 0 || out != want {
		t.Errorf("--dry-run: exit %d (%s):\n%s\nwant:\n%s", code, stderr, out, want)
	}
	_, stderr, code = run(t, "n\n", "-n", ns, "undo", "leavers")
	if code != 1 || !strings.Contains(stderr, "re-enabling the 1 users UserDisableBatch leavers disabled (a@contoso.com)? [y/N]") ||
		!strings.Contains(stderr, "not confirmed") {
		t.Errorf("declined: exit %d: %s", code, stderr)
	}
	_, stderr, code = run(t, "", "-n", ns, "undo", "leavers", "--yes")
	ueb := &v1alpha1.UserEnableBatch{}
	if code != 0 {
		t.Fatalf("--yes: exit %d: %s", code, stderr)
	}
	if err := env.Client.Get(context.Background(), clientKey(ns, "leavers-undo"), ueb); err != nil || ueb.Spec.FromBatch != "leavers" || ueb.Spec.DirectoryRef.Name != "tenant" {
		t.Errorf("--yes created %+v, %v; want leavers-undo from batch leavers", ueb.Spec, err)
	}
}

func TestStatusAndCompletion(t *testing.T) {
	ctx := context.Background()
	ns := "cmd-status"
	namespace(t, ns, v1alpha1.SafetySpec{})
	dir := &v1alpha1.Directory{}
	if err := env.Client.Get(ctx, clientKey(ns, "tenant"), dir); err != nil {
		t.Fatal(err)
	}
	dir.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonThrottled,
		Message: "Graph answered 429", LastTransitionTime: metav1.Now()}}
	dir.Status.Throttling = &v1alpha1.ThrottlingStatus{WindowSeconds: 60, Requests: 120, ResourceUnits: 300, Writes: 40, Throttled: 3}
	if err := env.Client.Status().Update(ctx, dir); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, "", "-n", ns, "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"cmd-status", "tenant", "False", "Throttled", "60s", "120", "300", "8000", "3000", "0/100", "Graph answered 429"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out, _, code = run(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_kubectl-entra") {
		t.Errorf("completion bash: exit %d, %d bytes", code, len(out))
	}
	out, _, code = run(t, "", "-n", "cmd-rows", "__complete", "rows", "--outcome", "")
	if code != 0 || !strings.Contains(out, "AlreadyDisabled") {
		t.Errorf("completion of --outcome: exit %d:\n%s", code, out)
	}
}

// TestPlanWithoutCluster: CI without cluster access reads the Directory
// from the manifests and the credential from the environment.
func TestPlanWithoutCluster(t *testing.T) {
	env.Sim.PutUser(graphsim.User{ID: id("99"), UserPrincipalName: "ci@contoso.com", DisplayName: "CI", JobTitle: "Old", AccountEnabled: true})
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeFile(t, ca, string(env.Sim.CACertPEM()))
	writeFile(t, filepath.Join(dir, "m", "all.yaml"), fmt.Sprintf(`apiVersion: entra.directory-operator.io/v1alpha1
kind: Directory
metadata: {name: tenant, namespace: ci}
spec:
  tenantID: %s
  clientID: %s
  credential: {clientSecret: {name: unused, key: clientSecret}}
  cloud: {name: Custom, authorityHost: %s/, graphEndpoint: %s}
  safety: {protectedUsers: [ci@contoso.com]}
---
apiVersion: entra.directory-operator.io/v1alpha1
kind: DirectoryUser
metadata: {name: ci, namespace: ci}
spec:
  directoryRef: {name: tenant}
  userPrincipalName: ci@contoso.com
  jobTitle: New
`, env.Sim.TenantID(), testenv.ClientID, env.Sim.URL(), env.Sim.URL()))
	t.Setenv("AZURE_CLIENT_SECRET", "")
	_, stderr, code := run(t, "", "plan", "--no-cluster", "-f", filepath.Join(dir, "m"), "--ca-file", ca)
	if code != 1 || !strings.Contains(stderr, "AZURE_CLIENT_SECRET") {
		t.Errorf("no credential: exit %d: %s", code, stderr)
	}
	t.Setenv("AZURE_CLIENT_SECRET", testenv.ClientSecret)
	out, stderr, code := run(t, "", "plan", "--no-cluster", "-f", filepath.Join(dir, "m"), "--ca-file", ca)
	if code != plan.ExitChanges || !strings.Contains(out, `jobTitle: "Old" → "New"`) || !strings.Contains(out, "the cluster was not consulted") {
		t.Errorf("exit %d (%s):\n%s", code, stderr, out)
	}
	if strings.Contains(out+stderr, testenv.ClientSecret) {
		t.Error("the client secret appears in the output")
	}
	if _, err := os.Stat(ca); err != nil {
		t.Fatal(err)
	}
}
