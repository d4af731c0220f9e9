// Package testenv starts what controller tests run against: a real
// kube-apiserver + etcd (envtest, binaries built into bin/k8s by
// `make envtest`), the Graph emulator on a TLS listener, and a
// controller-runtime manager whose logs are captured so tests can assert that
// no secret ever reaches them.
package testenv

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/logging"
	"github.com/directory-operator/directory-operator/internal/testenv/proc"
)

// Test credentials of the emulator's seeded app. They are test material,
// and tests assert they never appear in logs, events or status.
const (
	ClientID     = "11111111-2222-3333-4444-555555555555"
	ClientSecret = "sim-secret-Do-Not-Log-7c1f"
)

// AllPermissions is what the seeded app is granted by default.
var AllPermissions = []string{"User.ReadWrite.All", "User.EnableDisableAccount.All", "GroupMember.Read.All", "Group.Read.All", "Organization.Read.All"}

// Options tune the environment.
type Options struct {
	Sim graphsim.Options
	// TimeScale compresses the operator's client-side budget, matching Sim.TimeScale.
	TimeScale float64
	// Setup registers the reconcilers under test with the manager.
	Setup func(mgr ctrl.Manager, res *connection.Resolver) error
	// Shard, when set, is the in-process manager's --label-selector: the
	// bench leaves objects labelled for its shard processes to them.
	Shard labels.Selector
	// LogVerbosity is the manager's log verbosity, as --zap-log-level=N
	// (default 1, debug). 10 turns on client-go's full request and
	// response body dumps.
	LogVerbosity int
}

// Env is a running test environment.
type Env struct {
	Config   *rest.Config
	Client   client.Client
	Scheme   *runtime.Scheme
	Sim      *graphsim.Server
	Resolver *connection.Resolver
	Manager  ctrl.Manager

	env    *envtest.Environment
	cancel context.CancelFunc
	done   chan struct{}
	logs   *syncBuffer
}

// Root is the repository root (for CRDs and bin/k8s).
func Root() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Start brings everything up. A missing control-plane binary is an error,
// never a skip: run `make envtest`.
func Start(opts Options) (*Env, error) {
	root := Root()
	assets := filepath.Join(root, "bin", "k8s")
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, fmt.Errorf("control-plane binary %s missing in %s: run `make envtest`: %w", b, assets, err)
		}
	}
	logs := &syncBuffer{}
	out := io.MultiWriter(logs, logSink())
	// The manager's own logger (redacting), at the requested verbosity.
	verbosity := max(opts.LogVerbosity, 1)
	logf.SetLogger(logging.New(&zap.Options{DestWriter: out, Level: zapcore.Level(-verbosity), TimeEncoder: zapcore.RFC3339NanoTimeEncoder}))

	e := &Env{logs: logs, done: make(chan struct{})}
	e.env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := e.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	e.Config = cfg
	e.Scheme = runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(e.Scheme)
	_ = v1alpha1.AddToScheme(e.Scheme)

	e.Sim = graphsim.New(opts.Sim)
	if err := e.Sim.Start(); err != nil {
		e.Stop()
		return nil, err
	}
	e.Sim.AddApp(ClientID, ClientSecret, AllPermissions...)

	// The production cache selection: only labelled Secrets and exports.
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  e.Scheme,
		Cache:   connection.CacheOptions(nil, opts.Shard),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Logger:  logf.Log,
	})
	if err != nil {
		e.Stop()
		return nil, err
	}
	e.Manager = mgr
	// Tests read through a direct client: the manager's cache lags behind
	// writes, and a test must see what it just created.
	if e.Client, err = client.New(cfg, client.Options{Scheme: e.Scheme}); err != nil {
		e.Stop()
		return nil, err
	}
	e.Resolver = &connection.Resolver{Kube: mgr.GetClient(), Live: mgr.GetAPIReader(), Registry: graph.NewRegistry(),
		TimeScale: opts.TimeScale, Deletions: connection.NewDeletionLimiter(mgr.GetClient())}
	if opts.Setup != nil {
		if err := opts.Setup(mgr, e.Resolver); err != nil {
			e.Stop()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() {
		defer close(e.done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		e.Stop()
		return nil, fmt.Errorf("cache did not sync")
	}
	return e, nil
}

// Run is the body of a TestMain: start, run the tests, stop. When the -run
// pattern selects only unit tests (see UnitOnly), nothing is started and
// *env stays nil: `go test ./controllers/... -run Unit` needs no
// kube-apiserver, etcd or emulator.
func Run(m *testing.M, opts Options, env **Env) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if UnitOnly() {
		return m.Run()
	}
	e, err := Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test environment:", err)
		return 1
	}
	*env = e
	code := m.Run()
	e.Stop()
	return code
}

// Stop tears everything down.
func (e *Env) Stop() {
	if e.cancel != nil {
		e.cancel()
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
		}
	}
	if e.Sim != nil {
		e.Sim.Close()
	}
	if e.env != nil {
		_ = e.env.Stop()
	}
}

// Kubeconfig writes a kubeconfig for a new user of the test API server
// into dir (for a manager run as a process, see internal/testenv/proc).
func (e *Env) Kubeconfig(dir, name string, groups ...string) (string, error) {
	return proc.Kubeconfig(e.env, dir, name, groups...)
}

// Logs returns everything the manager logged so far.
func (e *Env) Logs() string { return e.logs.String() }

// Namespace creates a fresh namespace for one test.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// DirectoryOptions tune CreateDirectory.
type DirectoryOptions struct {
	Name         string // default "tenant"
	Labels       map[string]string
	ClientID     string // default ClientID
	ClientSecret string // default ClientSecret
	Safety       v1alpha1.SafetySpec
	Throttle     v1alpha1.ThrottleSpec
	Exports      v1alpha1.DirectoryExports
	Interval     time.Duration
}

// CreateDirectory creates the credential Secret, the CA bundle Secret and a
// Directory pointing at the emulator, and returns the Directory.
func (e *Env) CreateDirectory(t testing.TB, ns string, o DirectoryOptions) *v1alpha1.Directory {
	t.Helper()
	ctx := context.Background()
	if o.Name == "" {
		o.Name = "tenant"
	}
	if o.ClientID == "" {
		o.ClientID = ClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = ClientSecret
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.Name + "-credentials", Labels: CredentialLabels()},
		Data:       map[string][]byte{"clientSecret": []byte(o.ClientSecret), "ca.crt": e.Sim.CACertPEM()},
	}
	if err := e.Client.Create(ctx, secret); err != nil {
		t.Fatalf("creating Secret: %v", err)
	}
	dir := &v1alpha1.Directory{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.Name, Labels: o.Labels},
		Spec: v1alpha1.DirectorySpec{
			TenantID:   e.Sim.TenantID(),
			ClientID:   o.ClientID,
			Credential: v1alpha1.DirectoryCredential{ClientSecret: &v1alpha1.SecretKeySelector{Name: secret.Name, Key: "clientSecret"}},
			Cloud: v1alpha1.CloudSpec{
				Name: v1alpha1.CloudCustom, AuthorityHost: e.Sim.URL() + "/", GraphEndpoint: e.Sim.URL(),
				CABundle: &v1alpha1.SecretKeySelector{Name: secret.Name, Key: "ca.crt"},
			},
			Safety:   o.Safety,
			Throttle: o.Throttle,
			Exports:  o.Exports,
		},
	}
	if o.Interval > 0 {
		dir.Spec.Interval = &metav1.Duration{Duration: o.Interval}
	}
	if err := e.Client.Create(ctx, dir); err != nil {
		t.Fatalf("creating Directory: %v", err)
	}
	return dir
}

// CredentialLabels are the labels a Secret needs before a Directory or
// DirectoryUser may reference it.
func CredentialLabels() map[string]string {
	return map[string]string{v1alpha1.LabelCredential: v1alpha1.LabelCredentialValue}
}

// Eventually polls cond until it is true or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Get reads obj's latest state by its key, failing the test on error.
func (e *Env) Get(t testing.TB, obj client.Object) client.Object {
	t.Helper()
	if err := e.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatalf("get %s: %v", obj.GetName(), err)
	}
	return obj
}

// Events lists the events.k8s.io Events regarding objects in a namespace, as
// "reason: note" lines, for assertions.
func (e *Env) Events(t testing.TB, ns string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := e.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing events: %v", err)
	}
	out := make([]string, 0, len(list.Items))
	for _, ev := range list.Items {
		out = append(out, ev.Reason+": "+ev.Note)
	}
	return out
}

// AssertNoSecrets fails if any of the secrets appears in the captured logs,
// the namespace's events, or the given status text.
func (e *Env) AssertNoSecrets(t testing.TB, ns string, statusText string, secrets ...string) {
	t.Helper()
	logs := e.Logs()
	events := strings.Join(e.Events(t, ns), "\n")
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for where, text := range map[string]string{"logs": logs, "events": events, "status": statusText} {
			if strings.Contains(text, s) {
				t.Errorf("secret value found in %s", where)
			}
		}
	}
}

// logSink is where the manager's logs go besides the capture buffer: stderr
// when TESTENV_LOGS=1, else nowhere (the buffer is still asserted on).
func logSink() io.Writer {
	if os.Getenv("TESTENV_LOGS") == "1" {
		return os.Stderr
	}
	return io.Discard
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
