package userdisablebatch_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

func newUndo(ns, name string, spec v1alpha1.UserEnableBatchSpec) *v1alpha1.UserEnableBatch {
	spec.DirectoryRef = v1alpha1.DirectoryReference{Name: "tenant"}
	return &v1alpha1.UserEnableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

// waitUndo polls the UserEnableBatch until cond holds.
func waitUndo(t *testing.T, e *v1alpha1.UserEnableBatch, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if err := env.Manager.GetAPIReader().Get(context.Background(), client.ObjectKeyFromObject(e), e); err != nil {
			t.Fatalf("get %s: %v", e.Name, err)
		}
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; phase %q, counts %+v, conditions %+v",
				timeout, what, e.Status.Phase, e.Status.Counts, e.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func undoFinished(e *v1alpha1.UserEnableBatch) func() bool {
	return func() bool {
		switch e.Status.Phase {
		case v1alpha1.BatchCompleted, v1alpha1.BatchCompletedWithErrors, v1alpha1.BatchFailed:
			return e.Status.Export != nil && len(e.Finalizers) == 0
		}
		return false
	}
}

// An undo after the original batch was deleted reads the batch's audit
// export and enables exactly the users the batch disabled: not those it
// found disabled already, nor any other user. The emulator's state is
// compared before the batch and after the undo.
func TestUndoAfterBatchDeleted(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("undo", 40, func(i int, u *graphsim.User) { u.AccountEnabled = i%4 != 0 })
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	before := map[string]bool{}
	spec := v1alpha1.UserDisableBatchSpec{Users: []string{"nobody@contoso.com"}}
	for _, u := range users {
		before[u.ID] = u.AccountEnabled
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	b := newBatch(ns, "incident", spec)
	create(t, b)
	waitFor(t, b, 60*time.Second, 100*time.Millisecond, "exported", func() bool { return b.Status.Export != nil && len(b.Finalizers) == 0 })
	if c := counts(b); c.Disabled != 30 || c.AlreadyDisabled != 10 || c.NotFound != 1 {
		t.Fatalf("batch counts %+v, want 30 disabled, 10 already disabled, 1 not found", c)
	}
	if err := env.Client.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "batch gone", func() bool {
		return env.Manager.GetAPIReader().Get(context.Background(), client.ObjectKeyFromObject(b), &v1alpha1.UserDisableBatch{}) != nil
	})

	// A dry run first: it reads, writes nothing, and shows who would be enabled.
	env.Sim.ResetCounters()
	dry := newUndo(ns, "incident-undo-preview", v1alpha1.UserEnableBatchSpec{FromBatch: "incident", DryRun: true})
	create(t, dry)
	waitUndo(t, dry, 60*time.Second, "dry run finished", undoFinished(dry))
	if c := *dry.Status.Counts; c.Queried != 30 || c.Skipped != 10 || c.Total != 40 || len(env.Sim.Counters().UserWrites) != 0 {
		t.Fatalf("dry run counts %+v, writes %v; want 30 queried, 10 skipped, nothing written", c, env.Sim.Counters().UserWrites)
	}

	e := newUndo(ns, "incident-undo", v1alpha1.UserEnableBatchSpec{FromBatch: "incident"})
	create(t, e)
	waitUndo(t, e, 60*time.Second, "undo finished", undoFinished(e))
	if e.Status.Phase != v1alpha1.BatchCompleted {
		t.Fatalf("phase %s, conditions %+v", e.Status.Phase, e.Status.Conditions)
	}
	if c := *e.Status.Counts; c.Enabled != 30 || c.Skipped != 10 || c.Total != 40 || c.Failed != 0 {
		t.Errorf("undo counts %+v, want 30 enabled, 10 skipped", c)
	}
	for _, u := range users {
		live, _ := env.Sim.GetUser(u.ID)
		if live.AccountEnabled != before[u.ID] {
			t.Errorf("user %s enabled=%v after the undo, %v before the batch", u.UserPrincipalName, live.AccountEnabled, before[u.ID])
		}
	}
	if w := env.Sim.Counters().UserWrites; len(w) != 30 {
		t.Errorf("%d users written by the undo, want 30", len(w))
	}
	audit := readAudit(t, ns, "incident-undo")
	for _, u := range users {
		want := [3]string{"Enabled", "false", "true"}
		if !before[u.ID] {
			want = [3]string{"Skipped", "", ""}
		}
		if rec := audit[u.UserPrincipalName]; rec == nil || rec[2] != want[0] || rec[4] != want[1] || rec[5] != want[2] {
			t.Errorf("audit of %s: %v, want %v", u.UserPrincipalName, rec, want)
		}
	}
	if !strings.Contains(e.Status.Export.Command, "incident-undo-audit") {
		t.Errorf("export command %q", e.Status.Export.Command)
	}
}

// An undo releases the hold its source batch placed on a DirectoryUser: the
// account is enabled, the DirectoryUser reports no hold and never disables
// it again or takes the hold back. A user whose DirectoryUser wants it
// disabled is not enabled (Managed).
func TestUndoReleasesHold(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("undohold", 3, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	du := managedUser(t, ns, "held", users[0].UserPrincipalName)
	b := newBatch(ns, "hold-src", v1alpha1.UserDisableBatchSpec{DisableManaged: true,
		Users: []string{users[0].UserPrincipalName, users[1].UserPrincipalName, users[2].UserPrincipalName}})
	create(t, b)
	waitFinished(t, b, 30*time.Second, 100*time.Millisecond)
	if c := counts(b); c.Disabled != 3 {
		t.Fatalf("batch counts %+v", c)
	}
	// A DirectoryUser created after the batch that wants its user disabled.
	stay := managedUser(t, ns, "stay-off", users[2].UserPrincipalName)
	patch := client.MergeFrom(stay.DeepCopy())
	stay.Spec.AccountEnabled = boolp(false)
	if err := env.Client.Patch(context.Background(), stay, patch); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the DirectoryUser sees its new spec

	e := newUndo(ns, "hold-undo", v1alpha1.UserEnableBatchSpec{FromBatch: "hold-src"})
	create(t, e)
	waitUndo(t, e, 30*time.Second, "undo finished", undoFinished(e))
	if c := *e.Status.Counts; c.Enabled != 2 || c.Managed != 1 {
		t.Fatalf("undo counts %+v, rows %+v; want 2 enabled, 1 managed", c, e.Status.Users)
	}
	if row := e.Status.Users[2]; !strings.Contains(row.Message, "stay-off") {
		t.Errorf("managed row %+v, want the DirectoryUser named", row)
	}
	time.Sleep(5 * time.Second) // several 1 s drift polls
	for i, want := range []bool{true, true, false} {
		if live, _ := env.Sim.GetUser(users[i].ID); live.AccountEnabled != want {
			t.Errorf("user %d enabled=%v, want %v", i, live.AccountEnabled, want)
		}
	}
	env.Get(t, du)
	if h := du.Annotations[v1alpha1.HoldAnnotation]; h != "" || meta.FindStatusCondition(du.Status.Conditions, v1alpha1.ConditionHeld) != nil {
		t.Errorf("DirectoryUser still held (%q, %+v) after the undo", h, du.Status.Conditions)
	}
}

// A fromBatch naming no batch and no export gets a clear condition and
// writes nothing; a running source batch makes the undo wait.
func TestUndoSourceMissing(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	e := newUndo(ns, "orphan-undo", v1alpha1.UserEnableBatchSpec{FromBatch: "never-existed"})
	create(t, e)
	waitUndo(t, e, 30*time.Second, "SourceNotFound condition", func() bool {
		c := meta.FindStatusCondition(e.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Reason == v1alpha1.ReasonSourceNotFound && strings.Contains(c.Message, "never-existed")
	})
	if e.Status.Phase == v1alpha1.BatchRunning || len(e.Status.Users) != 0 {
		t.Errorf("phase %s with %d rows; want nothing started", e.Status.Phase, len(e.Status.Users))
	}
}
