// Package e2e runs the shipped binaries the way a cluster would: the
// kustomize deployment applied to a real kube-apiserver, the manager binary
// authenticated as the deployment's service account (so the generated
// least-privilege RBAC is what lets it work), and the graphsim binary as
// Microsoft Graph.
package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/directory-operator/directory-operator/internal/testenv"
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
	vars := readVars(t, sim.stdout, "GRAPHSIM_STARTUP")
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
	u, err := env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strings.NewReplacer(":", "_").Replace(name)+".kubeconfig")
	writeFile(t, path, string(b))
	return path
}

func buildBinaries(t *testing.T, root, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-o", bin+"/", "./cmd/manager", "./cmd/graphsim")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building binaries: %v\n%s", err, out)
	}
	return bin
}

type process struct {
	cmd    *exec.Cmd
	stdout io.Reader
	log    *lockedBuffer
	done   chan struct{}
}

func startProcess(t *testing.T, path string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	p := &process{cmd: cmd, log: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout = io.MultiWriter(pw, p.log)
	cmd.Stderr = p.log
	p.stdout = pr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	go func() { _ = cmd.Wait(); _ = pw.Close(); close(p.done) }()
	// Keep draining stdout after readVars so the process never blocks on a full pipe.
	t.Cleanup(p.stop)
	return p
}

func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) output() string { return p.log.String() }

// readVars reads KEY=VALUE lines until the line starting with last.
func readVars(t *testing.T, r io.Reader, last string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	sc := bufio.NewScanner(r)
	deadline := time.AfterFunc(30*time.Second, func() { t.Error("graphsim did not print its settings in 30s") })
	defer deadline.Stop()
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
			if k == last {
				go func() { _, _ = io.Copy(io.Discard, r) }()
				return vars
			}
		}
	}
	t.Fatalf("graphsim exited before printing %s", last)
	return nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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
