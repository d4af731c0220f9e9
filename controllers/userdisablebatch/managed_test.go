package userdisablebatch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// managedUser adopts an existing user as a Full-policy DirectoryUser whose
// spec says enabled, polled for drift every second.
func managedUser(t *testing.T, ns, name, upn string) *v1alpha1.DirectoryUser {
	t.Helper()
	du := &v1alpha1.DirectoryUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.DirectoryUserSpec{
			DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, UserPrincipalName: upn,
			AccountEnabled: boolp(true), Adopt: true, Interval: &metav1.Duration{Duration: time.Second},
		},
	}
	create(t, du)
	t.Cleanup(func() {
		// Orphan: the user stays in the emulator for the next test.
		patch := client.MergeFrom(du.DeepCopy())
		du.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
		_ = env.Client.Patch(context.Background(), du, patch)
		_ = env.Client.Delete(context.Background(), du)
	})
	testenv.Eventually(t, 30*time.Second, "DirectoryUser Ready", func() bool {
		env.Get(t, du)
		return meta.IsStatusConditionTrue(du.Status.Conditions, v1alpha1.ConditionReady) && du.Status.ID != ""
	})
	return du
}

// A batch never fights a DirectoryUser. By default the users a Full-policy
// DirectoryUser manages are reported Managed (dry run and real run) and not
// written. With disableManaged the batch holds the DirectoryUser: the
// account is disabled and stays disabled through drift polls, the
// DirectoryUser says who holds it and how to release it, and the release
// hands the account back to the DirectoryUser's spec.
func TestManagedUsersNeverFight(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("managed", 3, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	du := managedUser(t, ns, "alice", users[0].UserPrincipalName)
	spec := v1alpha1.UserDisableBatchSpec{Users: []string{users[0].UserPrincipalName, users[1].UserPrincipalName}}

	dry := spec
	dry.DryRun = true
	q := newBatch(ns, "query", dry)
	create(t, q)
	waitFinished(t, q, 30*time.Second, 100*time.Millisecond)
	if row := q.Status.Users[0]; row.Outcome != v1alpha1.OutcomeManaged || !strings.Contains(row.Message, "DirectoryUser alice") ||
		row.JobTitle == "" || counts(q).Managed != 1 {
		t.Errorf("dry run row %+v, counts %+v; want Managed naming DirectoryUser alice, with its job title", row, counts(q))
	}

	env.Sim.ResetCounters()
	b := newBatch(ns, "default", spec)
	create(t, b)
	waitFinished(t, b, 30*time.Second, 100*time.Millisecond)
	sim := env.Sim.Counters()
	if row := b.Status.Users[0]; row.Outcome != v1alpha1.OutcomeManaged || sim.UserWrites[users[0].ID] != 0 {
		t.Errorf("row %+v, writes %d; want Managed and not written", row, sim.UserWrites[users[0].ID])
	}
	if row := b.Status.Users[1]; row.Outcome != v1alpha1.OutcomeDisabled || row.JobTitle != users[1].JobTitle {
		t.Errorf("row %+v, want Disabled with job title %q", row, users[1].JobTitle)
	}
	crd, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "crd", "bases", "entra.directory-operator.io_userdisablebatches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"NotFound", "Protected", "Managed"} {
		if !strings.Contains(string(crd), "name: "+col+"\n") {
			t.Errorf("kubectl get udb has no %s column", col)
		}
	}

	held := spec
	held.Users, held.DisableManaged = spec.Users[:1], true
	h := newBatch(ns, "hold", held)
	create(t, h)
	waitFinished(t, h, 30*time.Second, 100*time.Millisecond)
	if row := h.Status.Users[0]; row.Outcome != v1alpha1.OutcomeDisabled || !strings.Contains(row.Message, "held") {
		t.Errorf("row %+v, want Disabled and held", row)
	}
	// Many drift polls and resyncs (1 s each) later the account is still
	// disabled, and the DirectoryUser reports the hold.
	time.Sleep(8 * time.Second)
	if live, _ := env.Sim.GetUser(users[0].ID); live.AccountEnabled {
		t.Fatalf("the DirectoryUser re-enabled the account the batch disabled")
	}
	env.Get(t, du)
	c := meta.FindStatusCondition(du.Status.Conditions, v1alpha1.ConditionHeld)
	if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, `"hold"`) || !strings.Contains(c.Message, "kubectl annotate") {
		t.Errorf("Held condition %+v, want True naming batch hold and the release command", c)
	}
	if ev := eventsContaining(t, ns, "accountEnabled"); len(ev) > 0 {
		t.Errorf("DirectoryUser wrote accountEnabled while held: %v", ev)
	}
	if w := env.Sim.Counters().UserWrites[users[0].ID]; w != 1 {
		t.Errorf("held user written %d times, want 1 (the batch's PATCH only)", w)
	}

	// Releasing the hold is explicit: the DirectoryUser applies its spec again.
	patch := client.MergeFrom(du.DeepCopy())
	delete(du.Annotations, v1alpha1.HoldAnnotation)
	if err := env.Client.Patch(context.Background(), du, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "released account enabled again", func() bool {
		live, _ := env.Sim.GetUser(users[0].ID)
		env.Get(t, du)
		return live.AccountEnabled && meta.FindStatusCondition(du.Status.Conditions, v1alpha1.ConditionHeld) == nil
	})
}

// A DirectoryUser the batch could not know about (applied together with
// it, as in a Git commit, or afterwards) finds the batch that disabled its
// account before it would re-enable it, holds it instead, and says so;
// released, it applies its spec and the same batch never holds it again.
func TestDirectoryUserAfterTheBatchDoesNotReEnable(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("late", 1, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	b := newBatch(ns, "earlier", v1alpha1.UserDisableBatchSpec{Users: []string{users[0].UserPrincipalName}})
	create(t, b)
	waitFinished(t, b, 30*time.Second, 100*time.Millisecond)
	if row := b.Status.Users[0]; row.Outcome != v1alpha1.OutcomeDisabled {
		t.Fatalf("row %+v, want Disabled", row)
	}

	du := managedUser(t, ns, "late-comer", users[0].UserPrincipalName)
	time.Sleep(5 * time.Second) // several 1 s resyncs and drift polls
	if live, _ := env.Sim.GetUser(users[0].ID); live.AccountEnabled {
		t.Fatalf("a DirectoryUser created after the batch re-enabled the account it disabled")
	}
	env.Get(t, du)
	c := meta.FindStatusCondition(du.Status.Conditions, v1alpha1.ConditionHeld)
	if du.Annotations[v1alpha1.HoldAnnotation] != "earlier" || c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, `"earlier"`) {
		t.Fatalf("annotation %q, Held %+v; want the hold of batch earlier", du.Annotations[v1alpha1.HoldAnnotation], c)
	}

	patch := client.MergeFrom(du.DeepCopy())
	delete(du.Annotations, v1alpha1.HoldAnnotation)
	if err := env.Client.Patch(context.Background(), du, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "released account enabled again", func() bool {
		live, _ := env.Sim.GetUser(users[0].ID)
		env.Get(t, du)
		return live.AccountEnabled && du.Annotations[v1alpha1.HoldAnnotation] == ""
	})
	time.Sleep(3 * time.Second)
	if env.Get(t, du); du.Annotations[v1alpha1.HoldAnnotation] != "" {
		t.Errorf("a released batch held the user again")
	}
}
