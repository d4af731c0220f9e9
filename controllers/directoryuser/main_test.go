package directoryuser_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/directory"
	"github.com/directory-operator/directory-operator/controllers/directoryuser"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

var (
	env *testenv.Env
	// reconciles counts DirectoryUser reconciles per namespace, to prove
	// that waiting (throttling, lag) requeues instead of spinning.
	reconciles = &counter{n: map[string]int{}}
)

// timeScale compresses the emulator's throttle windows and Retry-After, and
// the client-side budget with them.
const timeScale = 10

// writesPer150s is the emulator's write budget while a test switches
// throttling on (it stays off otherwise).
const writesPer150s = 30

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{
		Sim: graphsim.Options{
			// fabrikam.com is verified in the tenant but kept out of
			// allowedDomains, so only the operator's own check stops a write.
			Domains:       []string{"contoso.com", "fabrikam.com"},
			TimeScale:     timeScale,
			WritesPer150s: writesPer150s,
		},
		TimeScale: timeScale,
		Setup: func(mgr ctrl.Manager, res *connection.Resolver) error {
			if err := (&directory.Reconciler{Client: mgr.GetClient(), Dialer: connection.Port[directory.Graph](res), Clients: res.Registry, Recorder: mgr.GetEventRecorder("directory-operator")}).SetupWithManager(mgr); err != nil {
				return err
			}
			if err := (&directory.ClusterReconciler{Client: mgr.GetClient(), Dialer: connection.Port[directory.Graph](res), Clients: res.Registry}).SetupWithManager(mgr); err != nil {
				return err
			}
			r := &directoryuser.Reconciler{
				Client:                  mgr.GetClient(),
				APIReader:               mgr.GetAPIReader(),
				Connector:               connection.Port[directoryuser.Graph](res),
				Deletions:               res.Deletions,
				Recorder:                mgr.GetEventRecorder("directory-operator"),
				MaxConcurrentReconciles: 8,
				ManagerRetry:            time.Second,
				LagRetry:                500 * time.Millisecond,
				CreateSettle:            createSettle,
				Filter:                  ownedBy(""),
			}
			return r.SetupWithManagerAs(mgr, &countingReconciler{inner: r, c: reconciles})
		},
	}, &env))
}

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) get(ns string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[ns]
}

type countingReconciler struct {
	inner reconcile.Reconciler
	c     *counter
}

func (r *countingReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r.c.mu.Lock()
	r.c.n[req.Namespace]++
	r.c.mu.Unlock()
	return r.inner.Reconcile(ctx, req)
}

// --- helpers ---

func ctx() context.Context { return context.Background() }

// newUser returns a DirectoryUser for the Directory "tenant" with a long
// interval (tests that need resyncs shorten it), so finished tests stay quiet.
func newUser(ns, name, upn string) *v1alpha1.DirectoryUser {
	return &v1alpha1.DirectoryUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.DirectoryUserSpec{
			DirectoryRef:      v1alpha1.DirectoryReference{Name: "tenant"},
			UserPrincipalName: upn,
			Interval:          &metav1.Duration{Duration: time.Hour},
		},
	}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(ctx(), o); err != nil {
			t.Fatalf("creating %s: %v", o.GetName(), err)
		}
	}
}

// update re-reads du, applies f and writes it, retrying on conflicts.
func update(t *testing.T, du *v1alpha1.DirectoryUser, f func(*v1alpha1.DirectoryUser)) {
	t.Helper()
	for i := 0; ; i++ {
		env.Get(t, du)
		f(du)
		err := env.Client.Update(ctx(), du)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) || i > 10 {
			t.Fatalf("updating %s: %v", du.Name, err)
		}
	}
}

func str(s string) *string { return &s }
func boolp(b bool) *bool   { return &b }

// condition returns du's condition of type ct for its current generation.
func condition(t *testing.T, du *v1alpha1.DirectoryUser, ct string) *metav1.Condition {
	t.Helper()
	env.Get(t, du)
	c := meta.FindStatusCondition(du.Status.Conditions, ct)
	if c == nil || c.ObservedGeneration != du.Generation {
		return nil
	}
	return c
}

// waitCondition waits until du has condition ct with status and reason.
func waitCondition(t *testing.T, du *v1alpha1.DirectoryUser, ct string, status metav1.ConditionStatus, reason string, timeout time.Duration) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	deadline := time.Now().Add(timeout)
	for {
		c = condition(t, du, ct)
		if c != nil && c.Status == status && c.Reason == reason {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out after %s waiting for %s=%s/%s; last: %+v", du.Name, timeout, ct, status, reason, c)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitReady(t *testing.T, du *v1alpha1.DirectoryUser) {
	t.Helper()
	waitCondition(t, du, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, 30*time.Second)
}

// readyDirectory creates the Directory "tenant" in ns and waits until it is Ready.
func readyDirectory(t *testing.T, ns string, o testenv.DirectoryOptions) *v1alpha1.Directory {
	t.Helper()
	dir := env.CreateDirectory(t, ns, o)
	testenv.Eventually(t, 30*time.Second, "Directory Ready", func() bool {
		env.Get(t, dir)
		return meta.IsStatusConditionTrue(dir.Status.Conditions, v1alpha1.ConditionReady)
	})
	return dir
}

// simUser returns the emulator's user, failing when it does not exist.
func simUser(t *testing.T, idOrUPN string) graphsim.User {
	t.Helper()
	u, ok := env.Sim.GetUser(idOrUPN)
	if !ok {
		t.Fatalf("user %s not in the emulator", idOrUPN)
	}
	return u
}

func gone(t *testing.T, du *v1alpha1.DirectoryUser) bool {
	t.Helper()
	err := env.Client.Get(ctx(), client.ObjectKeyFromObject(du), &v1alpha1.DirectoryUser{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return apierrors.IsNotFound(err)
}

// cleanup deletes the DirectoryUsers when the test ends so their resyncs
// and Graph traffic do not disturb later tests' counters.
func cleanup(t *testing.T, dus ...*v1alpha1.DirectoryUser) {
	t.Cleanup(func() {
		for _, du := range dus {
			_ = env.Client.Delete(ctx(), du)
		}
	})
}

func statusText(t *testing.T, objs ...client.Object) string {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		env.Get(t, o)
		y, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(y)
	}
	return b.String()
}

func secretValue(t *testing.T, ns, name, key string) string {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(ctx(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatalf("reading Secret %s: %v", name, err)
	}
	return string(s.Data[key])
}

type graphsimCounters = graphsim.Counters

func endpoint(c graphsim.Counters, name string) int64 { return c.ByEndpoint[name] }

func describe(c graphsim.Counters) string {
	return fmt.Sprintf("%d HTTP requests (%d batch items), %d writes, %d throttled, %d RU", c.Requests, c.BatchItems, c.Writes, c.Throttled, c.ResourceUnits)
}
