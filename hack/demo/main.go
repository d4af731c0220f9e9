// Command demo runs directory-operator end to end on this machine: a local
// kube-apiserver + etcd (built into bin/k8s by `make envtest`), the Graph
// emulator with a generated tenant, the operator's manager, and the samples
// from config/samples. It prints `kubectl get` for every kind and keeps
// running until Ctrl-C, or exits at once with DEMO_EXIT=1.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/logging"
)

const (
	namespace = "demo"
	clientID  = "d3m0d3m0-0000-4000-8000-000000000001"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	workDir := filepath.Join(root, "demo")
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(workDir, "manager.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	logging.Install(logging.New(&zap.Options{DestWriter: logFile}))

	step("Starting kube-apiserver + etcd from bin/k8s")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: filepath.Join(root, "bin", "k8s"),
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting control plane (run `make envtest`): %w", err)
	}
	defer env.Stop()
	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(workDir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}

	step("Starting the Graph emulator with a generated 500-user tenant")
	sim := graphsim.New(graphsim.Options{OrgDisplayName: "Contoso (emulated)", Throttling: true})
	if err := sim.Start(); err != nil {
		return err
	}
	defer sim.Close()
	secret := randomSecret()
	sim.AddApp(clientID, secret, "User.ReadWrite.All", "User.EnableDisableAccount.All", "GroupMember.Read.All", "Group.Read.All", "Organization.Read.All")
	sim.Generate(graphsim.GenerateOptions{Users: 500, ManagersEvery: 8, GroupMembers: 120, DisabledShare: 0.05, Seed: 1})
	fmt.Printf("   Graph emulator at %s (tenant %s)\n", sim.URL(), sim.TenantID())

	step("Starting the directory-operator manager (logs: demo/manager.log)")
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Cache: connection.CacheOptions(nil, nil), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return err
	}
	resolver := &connection.Resolver{Kube: mgr.GetClient(), Live: mgr.GetAPIReader(), Registry: graph.NewRegistry(), Deletions: connection.NewDeletionLimiter(mgr.GetClient())}
	if err := controllers.Setup(mgr, resolver, controllers.Options{Concurrency: 4}); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()

	step("Creating namespace demo, the credential Secret and Directory 'tenant'")
	c := mgr.GetClient()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Secret{
		// Only Secrets labelled for the operator can be referenced.
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tenant-credentials",
			Labels: map[string]string{v1alpha1.LabelCredential: v1alpha1.LabelCredentialValue}},
		Data: map[string][]byte{"clientSecret": []byte(secret), "ca.crt": sim.CACertPEM()},
	}); err != nil {
		return err
	}
	if err := c.Create(ctx, &v1alpha1.Directory{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tenant"},
		Spec: v1alpha1.DirectorySpec{
			TenantID:   sim.TenantID(),
			ClientID:   clientID,
			Credential: v1alpha1.DirectoryCredential{ClientSecret: &v1alpha1.SecretKeySelector{Name: "tenant-credentials", Key: "clientSecret"}},
			Cloud: v1alpha1.CloudSpec{Name: v1alpha1.CloudCustom, AuthorityHost: sim.URL() + "/", GraphEndpoint: sim.URL(),
				CABundle: &v1alpha1.SecretKeySelector{Name: "tenant-credentials", Key: "ca.crt"}},
			Safety:  v1alpha1.SafetySpec{AllowedDomains: []string{"contoso.com"}},
			Exports: v1alpha1.DirectoryExports{Groups: true},
		},
	}); err != nil {
		return err
	}

	kubectl := kubectlPath(root)
	k := func(args ...string) error {
		fmt.Printf("\n$ kubectl %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfigPath}, args...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}
	step("Applying config/samples")
	if err := k("apply", "-n", namespace, "-k", filepath.Join(root, "config", "samples")); err != nil {
		return err
	}
	step("Waiting for every resource to be Ready")
	if err := k("wait", "-n", namespace, "--for=condition=Ready", "--timeout=180s",
		"directories", "--all"); err != nil {
		return err
	}
	for _, kind := range []string{"directoryusers", "userdisablebatches", "userenablebatches", "groupsyncs"} {
		if err := k("wait", "-n", namespace, "--for=condition=Ready", "--timeout=180s", kind, "--all"); err != nil {
			return err
		}
	}
	step("What kubectl shows")
	for _, kind := range []string{"directories", "directoryusers", "userdisablebatches", "userenablebatches", "groupsyncs"} {
		if err := k("get", "-n", namespace, kind); err != nil {
			return err
		}
	}
	step("Per-user rows of the dry-run batch (user, outcome, jobTitle, accountEnabled)")
	if err := k("get", "-n", namespace, "userdisablebatch", "offboarding-preview", "-o",
		`jsonpath={range .status.users[*]}{.user}{"\t"}{.outcome}{"\t"}{.jobTitle}{"\t"}{.accountEnabled}{"\n"}{end}`); err != nil {
		return err
	}
	step("First lines of the GroupSync CSV, read with the command in its status")
	if err := shell(ctx, root, kubeconfigPath, kubectl, namespace, "groupsync", "all-staff", "{.status.export.command}", 6); err != nil {
		return err
	}
	step("First lines of the Directory's groups.csv")
	if err := shell(ctx, root, kubeconfigPath, kubectl, namespace, "directory", "tenant", "{.status.groupsExport}", 6); err != nil {
		return err
	}
	fmt.Printf("\nThe kubeconfig is %s; try:\n  %s --kubeconfig %s get -n demo du,udb,gs,dir\n", kubeconfigPath, kubectl, kubeconfigPath)
	if os.Getenv("DEMO_EXIT") == "1" {
		step("DEMO_EXIT=1: stopping")
		return nil
	}
	step("Running; press Ctrl-C to stop everything")
	<-ctx.Done()
	return nil
}

// shell reads a kubectl command from an object's status and runs it the way
// a user would paste it, with the demo's kubeconfig and kubectl, showing the
// first lines of its output.
func shell(ctx context.Context, root, kubeconfig, kubectl, ns, kind, name, jsonpath string, lines int) error {
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "get", "-n", ns, kind, name, "-o", "jsonpath="+jsonpath).Output()
	if err != nil {
		return fmt.Errorf("reading %s/%s: %w", kind, name, err)
	}
	command := strings.TrimSpace(string(out))
	fmt.Printf("\n$ %s | head -%d\n", command, lines)
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", command+fmt.Sprintf(" | head -%d", lines))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+filepath.Dir(kubectl)+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }

// kubectlPath prefers the version-matched kubectl built into bin/k8s.
func kubectlPath(root string) string {
	p := filepath.Join(root, "bin", "k8s", "kubectl")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	return "kubectl"
}

// randomSecret makes the emulated app's client secret for this run only.
func randomSecret() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return "demo-" + hex.EncodeToString(b)
}
