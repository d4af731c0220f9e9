package userdisablebatch_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// selectionApp is an app registration that may also read sign-in activity
// and lifecycle properties.
const (
	selectionAppID     = "5e1ec710-0000-4000-8000-000000000001"
	selectionAppSecret = "selection-secret"
)

func selectionDirectory(t *testing.T, ns string) {
	t.Helper()
	env.Sim.AddApp(selectionAppID, selectionAppSecret,
		append(slices.Clone(testenv.AllPermissions), "AuditLog.Read.All", "User-LifeCycleInfo.Read.All")...)
	readyDirectory(t, ns, testenv.DirectoryOptions{ClientID: selectionAppID, ClientSecret: selectionAppSecret})
}

// rowUsers are the UPNs of the rows, lower-cased and sorted.
func rowUsers(b *v1alpha1.UserDisableBatch) []string {
	var out []string
	for _, row := range b.Status.Users {
		out = append(out, strings.ToLower(row.User))
	}
	slices.Sort(out)
	return out
}

// simUsers are the emulator's users for which keep holds, lower-cased and sorted.
func simUsers(keep func(graphsim.User) bool) []string {
	var out []string
	for _, u := range env.Sim.Users() {
		if keep(u) {
			out = append(out, strings.ToLower(u.UserPrincipalName))
		}
	}
	slices.Sort(out)
	return out
}

// spec.filter selects exactly the users the emulator's own data matches,
// in a dry run (each row showing the filtered value) and in a real run,
// which disables exactly those.
func TestFilterSelectsExactly(t *testing.T) {
	ns := env.Namespace(t)
	dept := "Offboarding " + ns
	leave := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second)
	putUsers("filter", 24, func(i int, u *graphsim.User) {
		if i%3 == 0 {
			u.Department = dept
		}
		if i%4 == 0 {
			u.EmployeeLeaveDateTime = leave.Add(time.Duration(i-12) * time.Hour) // half before the cutoff, half after
		}
		u.AccountEnabled = i%5 != 0
	})
	selectionDirectory(t, ns)

	q := newBatch(ns, "by-department", v1alpha1.UserDisableBatchSpec{Filter: fmt.Sprintf("department eq '%s'", dept), DryRun: true})
	create(t, q)
	waitFinished(t, q, 30*time.Second, 100*time.Millisecond)
	want := simUsers(func(u graphsim.User) bool { return u.Department == dept })
	if got := rowUsers(q); len(want) != 8 || !slices.Equal(got, want) {
		t.Fatalf("dry run selected %v, the emulator's department %q has %v", got, dept, want)
	}
	for _, row := range q.Status.Users {
		if row.Outcome != v1alpha1.OutcomeQueried || row.SelectedBy != "department="+dept {
			t.Errorf("row %+v, want Queried selected by department=%s", row, dept)
		}
	}

	cutoff := leave.Format(time.RFC3339)
	b := newBatch(ns, "leavers", v1alpha1.UserDisableBatchSpec{Filter: "employeeLeaveDateTime le " + cutoff})
	create(t, b)
	waitFinished(t, b, 30*time.Second, 100*time.Millisecond)
	want = simUsers(func(u graphsim.User) bool {
		return !u.EmployeeLeaveDateTime.IsZero() && !u.EmployeeLeaveDateTime.After(leave)
	})
	if got := rowUsers(b); len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("selected %v, the emulator's leavers by %s are %v", got, cutoff, want)
	}
	for _, row := range b.Status.Users {
		live, _ := env.Sim.GetUser(row.ID)
		if live.AccountEnabled || !strings.HasPrefix(row.SelectedBy, "employeeLeaveDateTime=") ||
			(row.Outcome != v1alpha1.OutcomeDisabled && row.Outcome != v1alpha1.OutcomeAlreadyDisabled) {
			t.Errorf("row %+v: enabled in the emulator %v; want disabled, selected by the leave date", row, live.AccountEnabled)
		}
	}

	bad := newBatch(ns, "bad-filter", v1alpha1.UserDisableBatchSpec{Filter: "department eq Sales"})
	create(t, bad)
	waitFinished(t, bad, 30*time.Second, 100*time.Millisecond)
	if c := condition(bad, v1alpha1.ConditionReady); bad.Status.Phase != v1alpha1.BatchFailed || c == nil ||
		c.Reason != v1alpha1.ReasonInvalidSpec || !strings.Contains(c.Message, "Graph refused it") || len(bad.Status.Users) != 0 {
		t.Errorf("bad filter: phase %s, Ready %+v; want Failed InvalidSpec with Graph's error, no rows", bad.Status.Phase, c)
	}
}

// spec.inactiveFor selects exactly the users without a sign-in in the
// window by the emulator's own data: last successful sign-in older, last
// (never successful) sign-in older, or never signed in and created before.
func TestInactiveForSelectsExactly(t *testing.T) {
	ns := env.Namespace(t)
	now := time.Now().UTC().Truncate(time.Second)
	day := 24 * time.Hour
	putUsers("stale", 10, func(i int, u *graphsim.User) {
		switch i % 5 {
		case 0: // active
			u.SignInActivity = &graphsim.SignInActivity{LastSignInDateTime: now.Add(-day), LastSuccessfulSignInDateTime: now.Add(-day)}
		case 1: // stale
			u.SignInActivity = &graphsim.SignInActivity{LastSignInDateTime: now.Add(-200 * day), LastSuccessfulSignInDateTime: now.Add(-200 * day)}
		case 2: // failed sign-ins only, long ago
			u.SignInActivity = &graphsim.SignInActivity{LastSignInDateTime: now.Add(-120 * day)}
		case 3: // never signed in, old account
			u.CreatedDateTime = now.Add(-400 * day)
		case 4: // never signed in, new account
		}
	})
	selectionDirectory(t, ns)
	q := newBatch(ns, "stale-accounts", v1alpha1.UserDisableBatchSpec{InactiveFor: &metav1.Duration{Duration: 90 * day}, DryRun: true})
	create(t, q)
	waitFinished(t, q, 60*time.Second, 100*time.Millisecond)
	if q.Status.InactiveBefore == nil {
		t.Fatalf("no inactiveBefore in status; conditions %+v", q.Status.Conditions)
	}
	cutoff := q.Status.InactiveBefore.Time
	want := simUsers(func(u graphsim.User) bool {
		sa := u.SignInActivity
		switch {
		case sa != nil && !sa.LastSuccessfulSignInDateTime.IsZero():
			return sa.LastSuccessfulSignInDateTime.Before(cutoff)
		case sa != nil && !sa.LastSignInDateTime.IsZero():
			return sa.LastSignInDateTime.Before(cutoff)
		}
		return u.CreatedDateTime.Before(cutoff)
	})
	if got := rowUsers(q); len(want) < 6 || !slices.Equal(got, want) {
		t.Fatalf("selected %v, the emulator's inactive users before %s are %v", got, cutoff, want)
	}
	for _, row := range q.Status.Users {
		if row.SelectedBy == "" || row.Outcome != v1alpha1.OutcomeQueried {
			t.Errorf("row %+v, want Queried with the selecting sign-in", row)
		}
	}
}
