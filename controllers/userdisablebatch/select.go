package userdisablebatch

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Selection (spec.filter, spec.inactiveFor) lists the tenant's users once,
// at start, and freezes those it selects into rows like a group's members:
// each row records the value that selected it (selectedBy), so a dry run
// shows exactly who a real run would disable, and why.

// userQuerier is what a selection needs of the Graph client.
type userQuerier interface {
	QueryUsers(ctx context.Context, q graph.UserQuery) ([]graph.User, error)
}

var _ userQuerier = (*graph.Client)(nil)

// selectUsers resolves the batch's selection, sorted by UPN, with the value
// that selected each user.
func (ru *run) selectUsers(ctx context.Context) ([]graph.User, []string, error) {
	q, ok := ru.gc.(userQuerier)
	if !ok {
		return nil, nil, fmt.Errorf("the Graph client cannot query users")
	}
	// Counted by the run's meter (ctx), like every other request of it.
	var (
		users []graph.User
		by    []string
		err   error
	)
	if d := ru.b.Spec.InactiveFor; d != nil {
		cutoff := ru.r.now().Add(-d.Duration).UTC().Truncate(time.Second)
		users, by, err = inactiveUsers(ctx, q, cutoff)
		ru.b.Status.InactiveBefore = &metav1.Time{Time: cutoff}
	} else {
		users, by, err = filteredUsers(ctx, q, ru.b.Spec.Filter)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(users) > v1alpha1.MaxBatchUsers {
		return nil, nil, ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec,
			"the selection matches %d users; a batch holds at most %d: narrow the filter (or inactiveFor) and create a new UserDisableBatch",
			len(users), v1alpha1.MaxBatchUsers)
	}
	idx := make([]int, len(users))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return strings.ToLower(users[idx[a]].UserPrincipalName) < strings.ToLower(users[idx[b]].UserPrincipalName)
	})
	sortedUsers, sortedBy := make([]graph.User, len(users)), make([]string, len(users))
	for k, i := range idx {
		sortedUsers[k], sortedBy[k] = users[i], by[i]
	}
	return sortedUsers, sortedBy, nil
}

// filteredUsers lists the users a $filter selects, reading the
// properties the filter names as well, to show them in the rows.
func filteredUsers(ctx context.Context, q userQuerier, filter string) ([]graph.User, []string, error) {
	props := filterProps(filter)
	sel := slices.Clone(selectProps)
	for _, p := range props {
		if !slices.ContainsFunc(sel, func(s string) bool { return strings.EqualFold(s, p) }) {
			sel = append(sel, p)
		}
	}
	users, err := q.QueryUsers(ctx, graph.UserQuery{Filter: filter, Select: sel, Advanced: true})
	if err != nil {
		return nil, nil, selectionError(err, "filter "+filter, "User.Read.All (User-LifeCycleInfo.Read.All for employeeLeaveDateTime)")
	}
	by := make([]string, len(users))
	for i, u := range users {
		var parts []string
		for _, p := range props {
			v := ""
			if u.Lifecycle != nil {
				v = u.Lifecycle.Props[strings.ToLower(p)]
			}
			parts = append(parts, p+"="+v)
		}
		by[i] = strings.Join(parts, ", ")
	}
	return users, by, nil
}

// inactiveUsers lists the users with no sign-in since cutoff: the last
// successful sign-in (or, when none succeeded, the last sign-in) is
// older, or, never signed in, the account was created before it. Graph
// cannot filter on a missing sign-in, so every user is listed, 500 a page
// as Graph requires with signInActivity.
func inactiveUsers(ctx context.Context, q userQuerier, cutoff time.Time) ([]graph.User, []string, error) {
	all, err := q.QueryUsers(ctx, graph.UserQuery{Select: append(slices.Clone(selectProps), "createdDateTime", "signInActivity"),
		PageSize: graph.SignInPageSize})
	if err != nil {
		return nil, nil, selectionError(err, "listing sign-in activity", "AuditLog.Read.All and User.Read.All")
	}
	var (
		users []graph.User
		by    []string
	)
	for _, u := range all {
		if why, ok := inactiveSince(u, cutoff); ok {
			users, by = append(users, u), append(by, why)
		}
	}
	return users, by, nil
}

// inactiveSince says whether u has not signed in since cutoff, and the
// value that says so.
func inactiveSince(u graph.User, cutoff time.Time) (string, bool) {
	var sa *graph.SignInActivity
	if u.Lifecycle != nil {
		sa = u.Lifecycle.SignInActivity
	}
	switch {
	case sa != nil && sa.LastSuccessfulSignIn != nil:
		return "lastSuccessfulSignIn=" + stamp(*sa.LastSuccessfulSignIn), sa.LastSuccessfulSignIn.Before(cutoff)
	case sa != nil && sa.LastSignIn != nil:
		return "lastSignIn=" + stamp(*sa.LastSignIn) + " (none successful)", sa.LastSignIn.Before(cutoff)
	case u.CreatedDateTime != nil:
		return "never signed in; created=" + stamp(*u.CreatedDateTime), u.CreatedDateTime.Before(cutoff)
	}
	return "", false
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

var (
	quoted     = regexp.MustCompile(`'(?:[^']|'')*'`)
	comparedTo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9]*)\s+(?:eq|ne|gt|ge|lt|le|in)\b`)
	calledOn   = regexp.MustCompile(`(?i)\b(?:startswith|endswith|contains)\(\s*([a-z][a-z0-9]*)\s*,`)
)

// filterProps are the user properties a filter compares (in order, once):
// the rows show their values.
func filterProps(filter string) []string {
	f := quoted.ReplaceAllString(filter, "''")
	var out []string
	for _, re := range []*regexp.Regexp{comparedTo, calledOn} {
		for _, m := range re.FindAllStringSubmatch(f, -1) {
			p := m[1]
			switch strings.ToLower(p) {
			case "not", "and", "or", "true", "false", "null":
				continue
			}
			if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, p) }) {
				out = append(out, p)
			}
		}
	}
	return out
}

// selectionError maps a failed selection: Graph refusing the query is the
// spec's fault (InvalidSpec, with Graph's code and message, nothing
// written); the rest goes through the one error policy.
func selectionError(err error, doing, perms string) error {
	if graph.KindOf(err) == graph.Invalid {
		return ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec, "%s: Graph refused it: %s; create a new UserDisableBatch", doing, errMessage(err))
	}
	return ctrlkit.FromGraph(err, ctrlkit.GraphOp{Doing: doing, Permissions: perms})
}
