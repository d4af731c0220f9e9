package userdisablebatch

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// chunkSize is Graph's $batch limit: one HTTP request per 20 users.
const chunkSize = 20

// selectProps are the only properties a batch reads.
var selectProps = []string{"id", "userPrincipalName", "jobTitle", "accountEnabled"}

// run is one reconcile of one batch: the rows in memory, what was last
// checkpointed, and the Graph requests not yet added to status.
type run struct {
	r      *Reconciler
	b      *v1alpha1.UserDisableBatch
	before *v1alpha1.UserDisableBatch
	gc     Graph
	safety connection.Safety
	// op is what the batch writes; from is the UserDisableBatch a
	// UserEnableBatch undoes ("" otherwise).
	op   *operation
	from string
	// m is carried over from the previous reconcile in this process (see memo).
	m *memo

	started        time.Time
	lastCheckpoint time.Time
	checkpointCost time.Duration // what the last checkpoint took
	// meter counts this run's Graph requests (the client is shared with
	// every resource of the Directory); counted is how many of them status
	// already holds.
	meter   *graph.Meter
	counted int64
	// unsaved is set when a row became due for disabling in memory only: it
	// must be checkpointed before its PATCH is sent, or a crash would leave
	// no trace that the user was enabled before.
	unsaved bool
	// byID finds the row already holding an object ID (duplicates).
	byID map[string]int
	// managed maps users DirectoryUsers manage to their names (see
	// managed.go); held records the holds placed in this reconcile.
	managed map[string]string
	dus     map[string]*v1alpha1.DirectoryUser
	held    map[string]bool
	// stopping is set once the batch is being deleted: no new reads or
	// writes, only the confirmation of writes whose answer was lost.
	stopping          bool
	lastDeletionCheck time.Time
}

// newRun prepares one reconcile. m is what this process remembers of the
// batch since its last checkpoint, or nil: then every row recorded as due
// may have been written by whoever recorded it, and is confirmed first.
func (r *Reconciler) newRun(ctx context.Context, b *v1alpha1.UserDisableBatch, m *memo) *run {
	ru := &run{r: r, b: b, before: b.DeepCopy(), started: r.now(), m: m, byID: map[string]int{}, held: map[string]bool{},
		stopping: !b.DeletionTimestamp.IsZero(), meter: &graph.Meter{}, op: r.kind().op}
	ru.lastCheckpoint = ru.started
	if !frozenRows(b) && b.Status.Phase == v1alpha1.BatchRunning {
		// Users not read yet have no stored row (see recordedRows).
		b.Status.Users = append(b.Status.Users, pendingRows(b.Spec.Users[min(len(b.Status.Users), len(b.Spec.Users)):])...)
	}
	for i, row := range b.Status.Users {
		if row.ID != "" {
			if _, dup := ru.byID[strings.ToLower(row.ID)]; !dup {
				ru.byID[strings.ToLower(row.ID)] = i
			}
		}
	}
	if ru.m == nil {
		ru.m = newMemo()
		ru.resumeConfirmations(ctx)
	}
	return ru
}

// unread is a Pending row whose state has not been read yet.
func unread(row v1alpha1.BatchUserResult) bool {
	return row.Outcome == v1alpha1.OutcomePending && row.AccountEnabledBefore == nil
}

// execute runs the steps: connect, resolve the users, read and disable
// them, revoke their sessions. It returns nil when the batch is finished or
// the time slice is over, and a ctrlkit error otherwise.
func (ru *run) execute(ctx context.Context) error {
	b := ru.b
	if b.Status.Phase == "" {
		b.Status.Phase = v1alpha1.BatchPending
	}
	ctx, ru.meter = graph.WithMeter(ctx)
	conn, err := ru.r.Connector.Connect(ctx, b.Namespace, b.Spec.DirectoryRef)
	if err != nil {
		var stalled *ctrlkit.StalledError
		if errors.As(err, &stalled) {
			// The Directory's problem (a Secret, a credential) is fixed
			// there; the batch waits instead of failing for good.
			return ctrlkit.Waiting(time.Minute, stalled.Reason, "Directory %q: %s", b.Spec.DirectoryRef.Name, stalled.Message)
		}
		return err
	}
	ru.gc, ru.safety = conn.Graph, conn.Safety
	if err := ru.loadManaged(ctx); err != nil {
		return err
	}
	if b.Status.Phase == v1alpha1.BatchPending {
		if err := ru.resolve(ctx); err != nil {
			return err
		}
	}
	if err := ru.advance(ctx); err != nil {
		return err
	}
	if b.Spec.RevokeSessions && !b.Spec.DryRun && !ru.stopping {
		return ru.revoke(ctx)
	}
	return nil
}

// resolve freezes the batch's users into status rows, in spec order (or, for
// a group or a selection, sorted by UPN), and moves the batch to Running.
func (ru *run) resolve(ctx context.Context) error {
	b := ru.b
	switch {
	case ru.from != "":
		rows, err := ru.sourceRows(ctx)
		if err != nil {
			return err
		}
		b.Status.Users = rows
	case b.Spec.Group != nil:
		members, err := ru.groupMembers(ctx)
		if err != nil {
			return err
		}
		ru.freeze(members, nil)
	case b.Spec.Filter != "" || b.Spec.InactiveFor != nil:
		users, selectedBy, err := ru.selectUsers(ctx)
		if err != nil {
			return err
		}
		ru.freeze(users, selectedBy)
	default:
		seen := make(map[string]int, len(b.Spec.Users))
		for i, u := range b.Spec.Users {
			key := strings.ToLower(strings.TrimSpace(u))
			if j, dup := seen[key]; dup {
				return ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec,
					"users[%d] %q repeats users[%d]; create a new UserDisableBatch listing each user once", i, u, j)
			}
			seen[key] = i
		}
		b.Status.Users = pendingRows(b.Spec.Users)
	}
	b.Status.Phase = v1alpha1.BatchRunning
	now := metav1.NewTime(ru.r.now())
	b.Status.StartedAt = &now
	log.FromContext(ctx).Info("Started batch", "users", len(b.Status.Users), "dryRun", b.Spec.DryRun)
	// No checkpoint yet: nothing was written, and the first one (before the
	// first write, or on the way out) records the rows anyway. At 5,000
	// rows a checkpoint costs the API server about a second.
	return nil
}

// freeze makes the rows of users listed by Graph (a group's members, a
// selection). The listing already carries each user's state: they are
// classified now, which saves one read per 20 users. selectedBy, when
// set, gives each row the value that selected it.
func (ru *run) freeze(users []graph.User, selectedBy []string) {
	rows := make([]v1alpha1.BatchUserResult, len(users))
	for i, m := range users {
		rows[i] = v1alpha1.BatchUserResult{User: m.UserPrincipalName, Outcome: v1alpha1.OutcomePending}
		if rows[i].User == "" {
			rows[i].User = m.ID
		}
		if selectedBy != nil {
			rows[i].SelectedBy = selectedBy[i]
		}
	}
	ru.b.Status.Users = rows
	for i, m := range users {
		if m.ID != "" && m.AccountEnabled != nil {
			ru.classify(i, m, false)
		}
	}
}

func (ru *run) groupMembers(ctx context.Context) ([]graph.User, error) {
	sel := ru.b.Spec.Group
	id := sel.ID
	if id == "" {
		groups, err := ru.gc.FindGroups(ctx, sel.DisplayName)
		if err != nil {
			return nil, batchError(err, "finding group")
		}
		switch len(groups) {
		case 0:
			return nil, ctrlkit.Stalled(v1alpha1.ReasonGroupNotFound, "no group is named %q", sel.DisplayName)
		case 1:
			id = groups[0].ID
		default:
			return nil, ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec,
				"%d groups are named %q; create a new UserDisableBatch with group.id", len(groups), sel.DisplayName)
		}
	}
	members, err := ru.gc.ListGroupMembers(ctx, id, sel.Transitive, selectProps...)
	if err != nil {
		if graph.IsNotFound(err) {
			return nil, ctrlkit.Stalled(v1alpha1.ReasonGroupNotFound, "group %s not found", id)
		}
		return nil, batchError(err, "listing group members")
	}
	if len(members) > v1alpha1.MaxBatchUsers {
		return nil, ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec,
			"group %s has %d user members; a batch holds at most %d", id, len(members), v1alpha1.MaxBatchUsers)
	}
	sort.SliceStable(members, func(i, j int) bool {
		return strings.ToLower(members[i].UserPrincipalName) < strings.ToLower(members[j].UserPrincipalName)
	})
	ru.b.Status.GroupID = id
	return members, nil
}
