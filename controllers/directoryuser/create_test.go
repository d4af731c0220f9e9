package directoryuser_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/directoryuser"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// createSettle is the tests' window for a lost create to become readable.
const createSettle = 5 * time.Second

// ownerLabel marks DirectoryUsers reconciled by a test's own manager
// (restart tests); the shared manager leaves them alone.
const ownerLabel = "test.directory-operator.io/manager"

func ownedBy(owner string) predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool {
		if _, ok := o.(*v1alpha1.DirectoryUser); !ok {
			return true
		}
		return o.GetLabels()[ownerLabel] == owner
	})
}

// loseFirstPost makes the emulator apply the first POST /users and lose its
// answer, calling before() first (e.g. to kill the manager that sent it).
func loseFirstPost(t *testing.T, before func()) {
	var once sync.Once
	env.Sim.LoseAnswers(func(method, path string, status int) bool {
		lose := false
		if method == "POST" && strings.HasSuffix(path, "/users") && status == 201 {
			once.Do(func() {
				if before != nil {
					before()
				}
				lose = true
			})
		}
		return lose
	})
	t.Cleanup(func() { env.Sim.LoseAnswers(nil) })
}

// A POST whose answer is lost after Graph applied it (a 504 from the
// gateway, a dropped connection), under replication lag: the operator
// resolves it by UPN and binds its own user, with no second POST and no
// UserExists stall.
func TestLostCreateAnswerIsBoundNotStalled(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	env.Sim.SetReplicationLag(2 * time.Second)
	t.Cleanup(func() { env.Sim.SetReplicationLag(0) })
	loseFirstPost(t, nil)
	posts := env.Sim.Counters().Posts

	du := newUser(ns, "lost-answer", "lost.answer@contoso.com")
	create(t, du)
	cleanup(t, du)
	waitReady(t, du)

	if n := env.Sim.Counters().Posts - posts; n != 1 {
		t.Errorf("POST /users sent %d times, want exactly 1", n)
	}
	env.Get(t, du)
	if u := simUser(t, "lost.answer@contoso.com"); du.Status.ID != u.ID {
		t.Errorf("status.id = %q, want the emulator's user %q", du.Status.ID, u.ID)
	}
	if du.Status.CreatePending != nil || du.Status.Adopted {
		t.Errorf("createPending %+v, adopted %v: want the record cleared and the user counted as created", du.Status.CreatePending, du.Status.Adopted)
	}
	for _, e := range env.Events(t, ns) {
		if strings.Contains(e, v1alpha1.ReasonUserExists) {
			t.Errorf("event %q: the operator's own user was taken for someone else's", e)
		}
	}
}

// The manager is killed after Graph applied the POST and before the ID
// reached status; under replication lag the restarted manager (no memory
// of the first) finds the pending record, waits for the user to become
// readable and binds it: one POST, Ready.
func TestManagerKilledBetweenCreateAndStatusWrite(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	env.Sim.SetReplicationLag(3 * time.Second)
	t.Cleanup(func() { env.Sim.SetReplicationLag(0) })
	posts := env.Sim.Counters().Posts

	var stopFirst func()
	loseFirstPost(t, func() { go stopFirst() })
	stopFirst = startManager(t, "first")
	du := newUser(ns, "killed", "killed.mid.create@contoso.com")
	du.Labels = map[string]string{ownerLabel: "first"}
	create(t, du)
	cleanup(t, du)
	testenv.Eventually(t, 30*time.Second, "the first POST", func() bool { return env.Sim.Counters().Posts > posts })
	stopFirst()
	env.Get(t, du)
	if du.Status.ID != "" || du.Status.CreatePending == nil {
		t.Fatalf("after the kill: status.id %q, createPending %+v; want no id and a pending record", du.Status.ID, du.Status.CreatePending)
	}

	update(t, du, func(d *v1alpha1.DirectoryUser) { d.Labels[ownerLabel] = "second" })
	startManager(t, "second")
	waitReady(t, du)
	if n := env.Sim.Counters().Posts - posts; n != 1 {
		t.Errorf("POST /users sent %d times across the restart, want exactly 1", n)
	}
	env.Get(t, du)
	if u := simUser(t, "killed.mid.create@contoso.com"); du.Status.ID != u.ID {
		t.Errorf("status.id = %q, want %q", du.Status.ID, u.ID)
	}
}

// Two DirectoryUsers claiming one UPN: the first manages the user, the
// second is Stalled Conflict naming the first, never both Ready; deleting
// the second leaves the user alone, deleting the first lets the second
// take over (adopting, as it asks).
func TestDuplicateUPNIsAConflict(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	first := newUser(ns, "first", "shared.upn@contoso.com")
	create(t, first)
	waitReady(t, first)
	second := newUser(ns, "second", "Shared.UPN@contoso.com")
	second.Spec.Adopt = true
	second.Spec.DeletionPolicy = v1alpha1.DeletionDelete
	create(t, second)
	cleanup(t, first, second)
	c := waitCondition(t, second, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonConflict, 30*time.Second)
	if !strings.Contains(c.Message, `"first"`) {
		t.Errorf("Conflict message %q does not name the DirectoryUser holding the UPN", c.Message)
	}
	if !meta.IsStatusConditionTrue(second.Status.Conditions, v1alpha1.ConditionStalled) {
		t.Errorf("second is not Stalled: %+v", second.Status.Conditions)
	}
	id := first.Status.ID

	if err := env.Client.Delete(ctx(), second); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "second deleted", func() bool { return gone(t, second) })
	simUser(t, id) // still there

	third := newUser(ns, "third", "shared.upn@contoso.com")
	third.Spec.Adopt = true
	create(t, third)
	cleanup(t, third)
	waitCondition(t, third, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonConflict, 30*time.Second)
	first.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
	update(t, first, func(d *v1alpha1.DirectoryUser) { d.Spec.DeletionPolicy = v1alpha1.DeletionOrphan })
	if err := env.Client.Delete(ctx(), first); err != nil {
		t.Fatal(err)
	}
	waitReady(t, third)
	if env.Get(t, third); third.Status.ID != id {
		t.Errorf("third manages %q, want the orphaned user %q", third.Status.ID, id)
	}
}

// startManager runs another manager in this process, as a restarted
// operator would be: a new cache, a new Graph client registry, and a
// reconciler with no memory, handling only DirectoryUsers labelled owner.
func startManager(t *testing.T, owner string) (stop func()) {
	t.Helper()
	return env.StartManager(t, owner, func(mgr ctrl.Manager) error {
		res := &connection.Resolver{Kube: mgr.GetClient(), Registry: graph.NewRegistry(), TimeScale: timeScale,
			Deletions: connection.NewDeletionLimiter(mgr.GetClient())}
		return (&directoryuser.Reconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Connector: connection.Port[directoryuser.Graph](res), Deletions: res.Deletions, Recorder: mgr.GetEventRecorder("directory-operator"),
			LagRetry: 500 * time.Millisecond, CreateSettle: createSettle, Name: "directoryuser-" + owner, Filter: ownedBy(owner),
		}).SetupWithManager(mgr)
	})
}
