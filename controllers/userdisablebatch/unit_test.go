package userdisablebatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Unit tests of the batch's row state machine against the fake port: no
// envtest, no emulator.

func enabled(v bool) *bool { return &v }

func outcomes(b *v1alpha1.UserDisableBatch) map[string]v1alpha1.UserOutcome {
	m := map[string]v1alpha1.UserOutcome{}
	for _, r := range b.Status.Users {
		m[r.User] = r.Outcome
	}
	return m
}

// Every row ends in its outcome, and no PATCH is sent before a checkpoint
// recorded its row as due (read enabled): the invariant a restarted manager
// relies on to know whom it may already have disabled.
func TestUnitRowsReachTheirOutcomes(t *testing.T) {
	b := batch("b1", "ann@contoso.com", "off@contoso.com", "gone@contoso.com", "admin@contoso.com")
	u := newUnit(t, b)
	dir := users{
		"ann@contoso.com":   {ID: "id-ann", UserPrincipalName: "ann@contoso.com", AccountEnabled: enabled(true)},
		"off@contoso.com":   {ID: "id-off", UserPrincipalName: "off@contoso.com", AccountEnabled: enabled(false)},
		"admin@contoso.com": {ID: "id-admin", UserPrincipalName: "admin@contoso.com", AccountEnabled: enabled(true)},
	}
	u.g.GetUsersFunc = dir.get
	u.g.UpdateUsersFunc = func(ctx context.Context, items []graph.UserUpdateItem) ([]graph.ItemResult, error) {
		stored := u.stored(t, b)
		for _, it := range items {
			due := false
			for _, row := range stored.Status.Users {
				due = due || (row.ID == it.ID && disableOp.due(row))
			}
			if !due {
				t.Errorf("PATCH %s sent before a checkpoint recorded it as due", it.ID)
			}
			if it.Update.AccountEnabled == nil || *it.Update.AccountEnabled {
				t.Errorf("PATCH %s: %+v", it.ID, it.Update)
			}
		}
		return make([]graph.ItemResult, len(items)), nil
	}
	_, got := u.reconcile(t, b)
	want := map[string]v1alpha1.UserOutcome{
		"ann@contoso.com": v1alpha1.OutcomeDisabled, "off@contoso.com": v1alpha1.OutcomeAlreadyDisabled,
		"gone@contoso.com": v1alpha1.OutcomeNotFound, "admin@contoso.com": v1alpha1.OutcomeProtected,
	}
	if got.Status.Phase != v1alpha1.BatchCompleted || !mapsEqual(outcomes(got), want) {
		t.Fatalf("phase %s, outcomes %v", got.Status.Phase, outcomes(got))
	}
	if c := got.Status.Counts; c == nil || c.Disabled != 1 {
		t.Errorf("counts %+v", got.Status.Counts)
	}
	if w := slices.DeleteFunc(u.g.Calls(), func(c string) bool { return !strings.HasPrefix(c, "UpdateUsers") }); !slices.Equal(w, []string{"UpdateUsers [id-ann]"}) {
		t.Errorf("writes %v", w)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A dry run reads and writes nothing.
func TestUnitDryRunOnlyReads(t *testing.T) {
	b := batch("dry", "ann@contoso.com")
	b.Spec.DryRun = true
	u := newUnit(t, b)
	u.g.GetUsersFunc = users{"ann@contoso.com": {ID: "id-ann", UserPrincipalName: "ann@contoso.com", AccountEnabled: enabled(true)}}.get
	_, got := u.reconcile(t, b)
	if got.Status.Phase != v1alpha1.BatchCompleted || outcomes(got)["ann@contoso.com"] != v1alpha1.OutcomeQueried {
		t.Fatalf("phase %s, outcomes %v", got.Status.Phase, outcomes(got))
	}
}

// The answers of one PATCH decide its row: throttled stays due, a refused
// user fails alone, a missing user is NotFound, an unclear answer is
// confirmed by a read before anything is sent again.
func TestUnitWriteAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		outcome v1alpha1.UserOutcome
		due     bool
		confirm bool
	}{
		{"ok", nil, v1alpha1.OutcomeDisabled, false, false},
		{"throttled", &graph.Error{Kind: graph.Throttled, RetryAfter: time.Second}, v1alpha1.OutcomePending, true, false},
		{"forbidden-one", &graph.Error{Kind: graph.Forbidden, Code: "Authorization_RequestDenied"}, v1alpha1.OutcomeFailed, false, false},
		{"not-found", &graph.Error{Kind: graph.NotFound}, v1alpha1.OutcomeNotFound, false, false},
		{"lost", &graph.Error{Kind: graph.Transient, Code: "Timeout"}, v1alpha1.OutcomePending, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := batch("w", "ann@contoso.com")
			b.Status.Users = []v1alpha1.BatchUserResult{{User: "ann@contoso.com", ID: "id-ann", Outcome: v1alpha1.OutcomePending, AccountEnabledBefore: enabled(true)}}
			u := newUnit(t)
			ru := &run{r: u.r, b: b, m: newMemo(), byID: map[string]int{}, op: disableOp}
			var o outcome
			ru.applyWrite(0, tc.err, false, &o)
			row := b.Status.Users[0]
			if row.Outcome != tc.outcome || disableOp.due(row) != tc.due {
				t.Errorf("row %+v, want %s (due %v)", row, tc.outcome, tc.due)
			}
			if _, confirming := ru.m.confirm[0]; confirming != tc.confirm {
				t.Errorf("under confirmation: %v, want %v", confirming, tc.confirm)
			}
		})
	}
}

// Every user of a chunk refused is the app lacking the permission: the
// batch's problem (a stall that keeps it Running), not the rows'.
func TestUnitChunkForbiddenStallsTheBatch(t *testing.T) {
	b := batch("w", "a@contoso.com", "b@contoso.com")
	due := v1alpha1.BatchUserResult{Outcome: v1alpha1.OutcomePending, AccountEnabledBefore: enabled(true)}
	b.Status.Users = []v1alpha1.BatchUserResult{due, due}
	u := newUnit(t)
	ru := &run{r: u.r, b: b, m: newMemo(), byID: map[string]int{}, op: disableOp}
	forbidden := &graph.Error{Kind: graph.Forbidden, StatusCode: 403, Code: "Authorization_RequestDenied"}
	rs := []graph.ItemResult{{Err: forbidden}, {Err: forbidden}}
	var o outcome
	for i := range rs {
		ru.applyWrite(i, rs[i].Err, allForbidden(rs), &o)
	}
	err := o.err()
	if !disableOp.due(b.Status.Users[0]) || !disableOp.due(b.Status.Users[1]) {
		t.Errorf("rows changed: %+v", b.Status.Users)
	}
	var stalled *ctrlkit.StalledError
	if !errors.As(err, &stalled) || stalled.Reason != v1alpha1.ReasonPermissionMissing {
		t.Fatalf("batch error %v: want the error policy's PermissionMissing stall", err)
	}
}

// A batch whose rows are all final is not checkpointed as Running before
// the closing checkpoint that records its outcome: that would write the
// same rows twice in a row and delay the outcome by a whole status write
// (0.4–2 s at 5,000 rows). The clock steps a second per reading here, so
// every interval-based progress checkpoint is due.
func TestUnitAFinishedBatchIsCheckpointedOnceWithItsOutcome(t *testing.T) {
	b := batch("once", "ann@contoso.com", "bob@contoso.com")
	u := newUnit(t, b)
	u.r.Clock = &clocktesting.SimpleIntervalClock{Time: unitNow, Duration: time.Second}
	u.g.GetUsersFunc = users{
		"ann@contoso.com": {ID: "id-ann", UserPrincipalName: "ann@contoso.com", AccountEnabled: enabled(true)},
		"bob@contoso.com": {ID: "id-bob", UserPrincipalName: "bob@contoso.com", AccountEnabled: enabled(true)},
	}.get
	u.g.UpdateUsersFunc = func(ctx context.Context, items []graph.UserUpdateItem) ([]graph.ItemResult, error) {
		return make([]graph.ItemResult, len(items)), nil
	}
	var saved []string
	u.r.Client = interceptor.NewClient(u.kube.(client.WithWatch), interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if x, ok := o.(*v1alpha1.UserDisableBatch); ok {
				saved = append(saved, fmt.Sprintf("%s allDone=%v", x.Status.Phase, allDone(x)))
				if x.Status.Phase == v1alpha1.BatchRunning && allDone(x) {
					t.Errorf("progress checkpoint of a finished batch before its outcome (writes so far: %v)", saved)
				}
			}
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		}})
	_, got := u.reconcile(t, b)
	if got.Status.Phase != v1alpha1.BatchCompleted || got.Status.Counts.Disabled != 2 {
		t.Fatalf("phase %s, counts %+v (status writes %v)", got.Status.Phase, got.Status.Counts, saved)
	}
}
