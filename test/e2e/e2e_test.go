// Package e2e runs the shipped binaries the way a cluster would: the
// kustomize deployment applied to a real kube-apiserver, the manager binary
// authenticated as the deployment's service account (so the generated
// least-privilege RBAC is what lets it work), and the graphsim binary as
// Microsoft Graph.
package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/directory-operator/directory-operator/internal/testenv"
	"github.com/directory-operator/directory-operator/internal/testenv/proc"
)

const (
	serviceAccount = "system:serviceaccount:directory-operator-system:directory-operator-controller-manager"
	clientID       = "e2e00000-0000-4000-8000-000000000001"
	clientSecret   = "e2e-secret-never-logged-5f2a"
)

func TestDeployedManagerWithGraphsim(t *testing.T) {
	deployed(t, "default", "e2e")
}

// Namespaced mode: a RoleBinding in the watched namespace only, no
// ClusterRoleBinding, and --watch-namespaces (config/namespaced).
func TestDeployedManagerNamespaced(t *testing.T) {
	deployed(t, "namespaced", "team-a", "--watch-namespaces=team-a")
}

// deployed installs config/<overlay> as users do, runs the manager binary
// with the shipped RBAC at the most verbose log level against the emulator
// binary, and checks a Directory and a DirectoryUser in namespace ns turn
// Ready with no RBAC denial and no secret in the manager's log.
func deployed(t *testing.T, overlay, ns string, managerArgs ...string) {
	root := testenv.Root()
	tmp := t.TempDir()
	kubectl := filepath.Join(root, "bin", "k8s", "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("kubectl missing (run `make envtest`): %v", err)
	}

	env := &envtest.Environment{BinaryAssetsDirectory: filepath.Join(root, "bin", "k8s")}
	if _, err := env.Start(); err != nil {
		t.Fatalf("starting control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin := kubeconfigFor(t, env, tmp, "admin", "system:masters")
	operator := kubeconfigFor(t, env, tmp, serviceAccount, "system:serviceaccounts")

	k := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(kubectl, append([]string{"--kubeconfig", admin}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The deployment as users install it: CRDs, namespace, RBAC, Deployment.
	if overlay == "namespaced" {
		// The overlay's RoleBinding lives in the watched namespace.
		k("create", "namespace", ns)
	}
	k("apply", "-k", filepath.Join(root, "config", overlay))
	k("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")

	bin := buildBinaries(t, root, tmp)

	sim := startProcess(t, filepath.Join(bin, "graphsim"), nil, "--addr", "127.0.0.1:0", "--generate-users", "50",
		"--group-members", "10", "--cert-dir", tmp, "--client-id", clientID, "--client-secret", clientSecret)
	vars := readVars(t, sim, "GRAPHSIM_STARTUP")
	url, caFile, tenant := vars["GRAPHSIM_URL"], vars["GRAPHSIM_CA_FILE"], vars["GRAPHSIM_TENANT_ID"]

	metricsAddr := freeAddr(t)
	// --zap-log-level=10: client-go dumps every body; none may hold a secret.
	mgr := startProcess(t, filepath.Join(bin, "manager"), []string{"KUBECONFIG=" + operator},
		append([]string{"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", freeAddr(t), "--leader-elect",
			"--leader-election-namespace", "directory-operator-system", "--zap-log-level=10"}, managerArgs...)...)

	if overlay != "namespaced" {
		k("create", "namespace", ns)
	}
	k("-n", ns, "create", "secret", "generic", "tenant-credentials",
		"--from-literal=clientSecret="+clientSecret, "--from-file=ca.crt="+caFile)
	// The operator reads only Secrets labelled for it.
	k("-n", ns, "label", "secret", "tenant-credentials", "entra.directory-operator.io/credential=true")
	manifest := filepath.Join(tmp, "tenant.yaml")
	writeFile(t, manifest, fmt.Sprintf(`apiVersion: entra.directory-operator.io/v1alpha1
kind: Directory
metadata: {name: tenant}
spec:
  tenantID: %s
  clientID: %s
  credential: {clientSecret: {name: tenant-credentials, key: clientSecret}}
  cloud: {name: Custom, authorityHost: %s/, graphEndpoint: %s, caBundle: {name: tenant-credentials, key: ca.crt}}
  safety: {allowedDomains: [contoso.com]}
---
apiVersion: entra.directory-operator.io/v1alpha1
kind: DirectoryUser
metadata: {name: e2e-user}
spec:
  directoryRef: {name: tenant}
  userPrincipalName: e2e.user@contoso.com
  jobTitle: Tester
`, tenant, clientID, url, url))
	k("-n", ns, "apply", "-f", manifest)
	k("-n", ns, "wait", "--for=condition=Ready", "--timeout=120s", "directory/tenant", "directoryuser/e2e-user")
	got := k("-n", ns, "get", "directoryusers")
	if !strings.Contains(got, "e2e.user@contoso.com") || !strings.Contains(got, "Tester") {
		t.Errorf("kubectl get does not show the live user:\n%s", got)
	}

	metrics := httpGet(t, "http://"+metricsAddr+"/metrics")
	for _, m := range []string{"directory_operator_graph_requests_total", "controller_runtime_reconcile_total"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metric %s missing from /metrics", m)
		}
	}
	password := k("-n", ns, "get", "secret", "e2e-user-initial-password", "-o", "jsonpath={.data.password}")
	mgr.stop()
	checkManagerLog(t, mgr.output(), password)
}

// checkManagerLog asserts the most verbose log really dumped bodies, holds
// neither the client secret nor the generated password (base64 is how a
// Secret's data travels), and shows no RBAC denial.
func checkManagerLog(t *testing.T, out, passwordB64 string) {
	t.Helper()
	if !strings.Contains(out, "Request Body") {
		t.Error("no client-go body dump in the log at --zap-log-level=10")
	}
	decoded, _ := base64.StdEncoding.DecodeString(passwordB64)
	for what, s := range map[string]string{"client secret": clientSecret, "generated password": string(decoded), "password (base64)": passwordB64} {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("the %s appeared in the manager's log", what)
		}
	}
	if strings.Contains(out, "forbidden") {
		t.Errorf("the manager hit RBAC denials with the shipped role:\n%s", grep(out, "forbidden"))
	}
}

func kubeconfigFor(t *testing.T, env *envtest.Environment, dir, name string, groups ...string) string {
	t.Helper()
	path, err := proc.Kubeconfig(env, dir, name, groups...)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func buildBinaries(t *testing.T, root, dir string) string {
	t.Helper()
	bin, err := proc.Build(root, dir, "./cmd/manager", "./cmd/graphsim")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

type process struct{ *proc.Process }

func startProcess(t *testing.T, path string, env []string, args ...string) *process {
	t.Helper()
	p, err := proc.Start(path, env, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &process{p}
}

func (p *process) stop()          { p.Stop() }
func (p *process) output() string { return p.Output() }

// readVars reads KEY=VALUE lines until the line starting with last.
func readVars(t *testing.T, p *process, last string) map[string]string {
	t.Helper()
	vars, err := proc.ReadVars(p.Stdout, last, 30*time.Second)
	if err != nil {
		t.Fatalf("graphsim settings: %v", err)
	}
	return vars
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func grep(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
