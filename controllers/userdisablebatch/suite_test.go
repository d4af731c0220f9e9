package userdisablebatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/directory"
	"github.com/directory-operator/directory-operator/controllers/directoryuser"
	"github.com/directory-operator/directory-operator/controllers/userdisablebatch"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// timeScale compresses Graph's throttle windows in the emulator and in the
// operator's budget alike: at 10, the L tenant's 3,000 writes per 150 s
// become 3,000 per 15 s.
const timeScale = 10

// ownerLabel marks batches run by a test's own manager (restart tests); the
// shared manager leaves them alone.
const ownerLabel = "test.directory-operator.io/manager"

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{
		Sim:       graphsim.Options{Throttling: true, TenantSize: "L", TimeScale: timeScale},
		TimeScale: timeScale,
		Setup: func(mgr ctrl.Manager, res *connection.Resolver) error {
			if err := (&directory.Reconciler{
				Client: mgr.GetClient(), Dialer: connection.Port[directory.Graph](res), Clients: res.Registry,
				Recorder: mgr.GetEventRecorder("directory-operator"),
			}).SetupWithManager(mgr); err != nil {
				return err
			}
			// DirectoryUsers run too: batches must never fight them.
			if err := (&directoryuser.Reconciler{
				Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
				Connector: connection.Port[directoryuser.Graph](res), Deletions: res.Deletions,
				Recorder: mgr.GetEventRecorder("directory-operator"), DriftPoll: time.Second,
			}).SetupWithManager(mgr); err != nil {
				return err
			}
			if err := (&userdisablebatch.Reconciler{
				Client: mgr.GetClient(), Connector: connection.Port[userdisablebatch.Graph](res), Recorder: mgr.GetEventRecorder("directory-operator"),
				Concurrency: 2,
				Filter:      ownedBy(""),
			}).SetupWithManager(mgr); err != nil {
				return err
			}
			return (&userdisablebatch.Reconciler{
				Enable: true, Client: mgr.GetClient(), Connector: connection.Port[userdisablebatch.Graph](res), Recorder: mgr.GetEventRecorder("directory-operator"),
				Concurrency: 2,
				Filter:      ownedBy(""),
			}).SetupWithManager(mgr)
		},
	}, &env))
}

// ownedBy passes batches whose owner label equals owner ("" = unlabelled)
// and every other object (Directories).
func ownedBy(owner string) predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool {
		switch o.(type) {
		case *v1alpha1.UserDisableBatch, *v1alpha1.UserEnableBatch:
		default:
			return true
		}
		return o.GetLabels()[ownerLabel] == owner
	})
}

// startManager runs another manager in this process, as a restarted
// operator would be: a new cache, the Graph client registry (and budget) of
// res, and a reconciler with no memory, handling only batches labelled owner.
// The returned stop function cancels it and waits until it has stopped.
// The emulator has no replication lag unless a test sets one, so the
// reconciler waits out almost none; configure may change that.
func startManager(t *testing.T, owner string, res *connection.Resolver, configure ...func(*userdisablebatch.Reconciler)) (stop func()) {
	t.Helper()
	return env.StartManager(t, owner, func(mgr ctrl.Manager) error {
		rec := &userdisablebatch.Reconciler{
			Client: mgr.GetClient(), Connector: connection.Port[userdisablebatch.Graph](res), Recorder: mgr.GetEventRecorder("directory-operator"),
			Name: "userdisablebatch-" + owner, Filter: ownedBy(owner), ReplicationLag: time.Millisecond,
		}
		for _, c := range configure {
			c(rec)
		}
		return rec.SetupWithManager(mgr)
	})
}

// slowResolver is a connection resolver with its own Graph client registry,
// whose budget runs in real time (20 writes/s at the L quota) and starts
// empty, so that a batch of a few hundred users takes seconds: long enough
// to act on it mid-run.
func slowResolver(t *testing.T, ns string) *connection.Resolver {
	t.Helper()
	dir := &v1alpha1.Directory{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "tenant"}, dir); err != nil {
		t.Fatal(err)
	}
	res := &connection.Resolver{Kube: env.Client, Registry: graph.NewRegistry(), TimeScale: 1}
	gc, err := connection.Port[*graph.Client](res).Dial(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	gc.Budget().Reserve(0, 3000)
	return res
}

// readyDirectory creates the Directory "tenant" and waits until it is Ready.
func readyDirectory(t *testing.T, ns string, o testenv.DirectoryOptions) {
	t.Helper()
	dir := env.CreateDirectory(t, ns, o)
	testenv.Eventually(t, 30*time.Second, "Directory Ready", func() bool {
		env.Get(t, dir)
		for _, c := range dir.Status.Conditions {
			if c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
				return true
			}
		}
		return false
	})
}

// putUsers creates n users named <prefix><i>@contoso.com in the emulator.
func putUsers(prefix string, n int, edit func(i int, u *graphsim.User)) []graphsim.User {
	titles := []string{"Account Executive", "Software Engineer", "Marketing Manager", "Sales Representative", "HR Generalist"}
	out := make([]graphsim.User, n)
	for i := range n {
		nick := fmt.Sprintf("%s%04d", prefix, i)
		u := graphsim.User{
			UserPrincipalName: nick + "@contoso.com", DisplayName: nick, MailNickname: nick,
			JobTitle: titles[i%len(titles)], AccountEnabled: true,
		}
		if edit != nil {
			edit(i, &u)
		}
		out[i] = env.Sim.PutUser(u)
	}
	return out
}

func newBatch(ns, name string, spec v1alpha1.UserDisableBatchSpec) *v1alpha1.UserDisableBatch {
	spec.DirectoryRef = v1alpha1.DirectoryReference{Name: "tenant"}
	return &v1alpha1.UserDisableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

// waitFinished polls the batch (every interval: a 5,000-row object is not
// free to read) until its phase is terminal.
func waitFinished(t *testing.T, b *v1alpha1.UserDisableBatch, timeout, interval time.Duration) {
	t.Helper()
	waitFor(t, b, timeout, interval, "batch finished", func() bool {
		switch b.Status.Phase {
		case v1alpha1.BatchCompleted, v1alpha1.BatchCompletedWithErrors, v1alpha1.BatchFailed:
			return true
		}
		return false
	})
}

func waitFor(t *testing.T, b *v1alpha1.UserDisableBatch, timeout, interval time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// Read around the cache: it is the API server's view that counts.
		if err := env.Manager.GetAPIReader().Get(context.Background(), client.ObjectKeyFromObject(b), b); err != nil {
			t.Fatalf("get %s: %v", b.Name, err)
		}
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; phase %q, counts %+v, conditions %+v",
				timeout, what, b.Status.Phase, counts(b), b.Status.Conditions)
		}
		time.Sleep(interval)
	}
}

// writeStoppedStatus writes the status a manager stopped mid-run leaves
// behind: Running since a minute ago, with rows.
func writeStoppedStatus(t *testing.T, b *v1alpha1.UserDisableBatch, rows []v1alpha1.BatchUserResult) {
	t.Helper()
	started := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	b.Status.Phase, b.Status.StartedAt, b.Status.Users = v1alpha1.BatchRunning, &started, rows
	if err := env.Client.Status().Update(context.Background(), b); err != nil {
		t.Fatalf("writing the stopped manager's status: %v", err)
	}
}

func condition(b *v1alpha1.UserDisableBatch, typ string) *metav1.Condition {
	for i := range b.Status.Conditions {
		if b.Status.Conditions[i].Type == typ {
			return &b.Status.Conditions[i]
		}
	}
	return nil
}

// objectSize is the batch's size as the API server stores and serves it,
// managedFields included.
func objectSize(t *testing.T, b *v1alpha1.UserDisableBatch) int {
	t.Helper()
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return len(raw)
}

func eventsContaining(t *testing.T, ns, substr string) []string {
	var out []string
	for _, e := range env.Events(t, ns) {
		if strings.Contains(e, substr) {
			out = append(out, e)
		}
	}
	return out
}

func boolp(v bool) *bool { return &v }

func counts(b *v1alpha1.UserDisableBatch) v1alpha1.BatchCounts {
	if b.Status.Counts == nil {
		return v1alpha1.BatchCounts{}
	}
	return *b.Status.Counts
}

// batchCounters are the emulator's counters without the Directories' own
// health checks (GET /organization): writing a batch's audit export, a
// ConfigMap the Directory owns, makes the Directory reconcile and check.
func batchCounters() graphsim.Counters {
	c := env.Sim.Counters()
	c.Requests -= c.ByEndpoint["GET /organization"]
	return c
}
