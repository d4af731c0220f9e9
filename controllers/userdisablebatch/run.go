package userdisablebatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
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

	started        time.Time
	lastCheckpoint time.Time
	checkpointCost time.Duration // what the last checkpoint took
	mu             sync.Mutex    // guards requests, counted by concurrent chunks
	requests       int64
	// unsaved is set when a row became due for disabling in memory only: it
	// must be checkpointed before its PATCH is sent, or a crash would leave
	// no trace that the user was enabled before.
	unsaved bool
	// verify holds rows whose PATCH may have reached Graph without its
	// answer being recorded (a previous process, a lost answer). They are
	// re-read before anything else is sent.
	verify map[int]bool
	// byID finds the row already holding an object ID (duplicates).
	byID map[string]int
}

func (r *Reconciler) newRun(ctx context.Context, b *v1alpha1.UserDisableBatch, clean bool) *run {
	ru := &run{r: r, b: b, before: b.DeepCopy(), started: r.now(), verify: map[int]bool{}, byID: map[string]int{}}
	ru.lastCheckpoint = ru.started
	if b.Spec.Group == nil && b.Status.Phase == v1alpha1.BatchRunning {
		// Users not read yet have no stored row (see recordedRows).
		b.Status.Users = append(b.Status.Users, pendingRows(b.Spec.Users[min(len(b.Status.Users), len(b.Spec.Users)):])...)
	}
	for i, row := range b.Status.Users {
		if row.ID != "" {
			if _, dup := ru.byID[strings.ToLower(row.ID)]; !dup {
				ru.byID[strings.ToLower(row.ID)] = i
			}
		}
		if !clean && dueForDisable(row) {
			ru.verify[i] = true
		}
	}
	if len(ru.verify) > 0 {
		log.FromContext(ctx).Info("Resuming batch: re-reading users that may have been disabled without a record", "users", len(ru.verify))
	}
	return ru
}

// clean reports whether every write sent is recorded in the status about
// to be checkpointed.
func (ru *run) clean() bool { return len(ru.verify) == 0 }

// dueForDisable is a Pending row that was read enabled and not yet written.
func dueForDisable(row v1alpha1.BatchUserResult) bool {
	return row.Outcome == v1alpha1.OutcomePending && row.AccountEnabledBefore != nil && *row.AccountEnabledBefore
}

// unread is a Pending row whose state has not been read yet.
func unread(row v1alpha1.BatchUserResult) bool {
	return row.Outcome == v1alpha1.OutcomePending && row.AccountEnabledBefore == nil
}

// execute runs the steps: connect, resolve the users, read them, disable
// them, revoke their sessions. It returns nil when the batch is finished or
// the time slice is over, and a ctrlkit error otherwise.
func (ru *run) execute(ctx context.Context) error {
	b := ru.b
	if b.Status.Phase == "" {
		b.Status.Phase = v1alpha1.BatchPending
	}
	conn, err := ru.r.Resolver.Connect(ctx, b.Namespace, b.Spec.DirectoryRef.Name)
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
	if b.Status.Phase == v1alpha1.BatchPending {
		if err := ru.resolve(ctx); err != nil {
			return err
		}
	}
	if b.Spec.DryRun {
		return ru.readAll(ctx, ru.readTodo)
	}
	if err := ru.disable(ctx); err != nil {
		return err
	}
	if b.Spec.RevokeSessions {
		return ru.revoke(ctx)
	}
	return nil
}

// resolve freezes the batch's users into status rows, in spec order (or, for
// a group, sorted by UPN), and moves the batch to Running.
func (ru *run) resolve(ctx context.Context) error {
	b := ru.b
	var rows []v1alpha1.BatchUserResult
	if b.Spec.Group != nil {
		members, err := ru.groupMembers(ctx)
		if err != nil {
			return err
		}
		rows = make([]v1alpha1.BatchUserResult, len(members))
		for i, m := range members {
			rows[i] = v1alpha1.BatchUserResult{User: m.UserPrincipalName, Outcome: v1alpha1.OutcomePending}
			if rows[i].User == "" {
				rows[i].User = m.ID
			}
		}
		b.Status.Users = rows
		// The listing already carries each member's state: classify now and
		// save one read per 20 members.
		for i, m := range members {
			if m.ID != "" && m.AccountEnabled != nil {
				ru.classify(i, m, false)
			}
		}
	} else {
		seen := make(map[string]int, len(b.Spec.Users))
		for i, u := range b.Spec.Users {
			key := strings.ToLower(strings.TrimSpace(u))
			if j, dup := seen[key]; dup {
				return ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec,
					"users[%d] %q repeats users[%d]; create a new UserDisableBatch listing each user once", i, u, j)
			}
			seen[key] = i
		}
		rows = pendingRows(b.Spec.Users)
		b.Status.Users = rows
	}
	b.Status.Phase = v1alpha1.BatchRunning
	now := metav1.NewTime(ru.r.now())
	b.Status.StartedAt = &now
	log.FromContext(ctx).Info("Started batch", "users", len(rows), "dryRun", b.Spec.DryRun)
	// No checkpoint yet: nothing was written, and the first one (before the
	// first write, or on the way out) records the rows anyway. At 5,000
	// rows a checkpoint costs the API server about a second.
	return nil
}

func (ru *run) groupMembers(ctx context.Context) ([]graph.User, error) {
	sel := ru.b.Spec.Group
	before := ru.gc.Usage()
	defer func() { ru.requests += ru.gc.Usage().Sub(before).Requests }()
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

// readTodo lists the rows to read: those in ru.verify first, then the
// ones not read yet.
func (ru *run) readTodo() []int {
	todo := ru.verifyTodo()
	for i, row := range ru.b.Status.Users {
		if unread(row) {
			todo = append(todo, i)
		}
	}
	return todo
}

func (ru *run) verifyTodo() []int {
	todo := make([]int, 0, len(ru.verify))
	for i := range ru.verify {
		todo = append(todo, i)
	}
	sort.Ints(todo)
	return todo
}

// readAll reads the rows todo names, wave after wave, until none is left or
// the time slice is over.
func (ru *run) readAll(ctx context.Context, todo func() []int) error {
	for {
		rows := todo()
		if len(rows) == 0 || ru.sliceOver() {
			return nil
		}
		chunks, wait := ru.plan(rows, false, ru.readAheadChunks())
		if len(chunks) == 0 {
			return ru.pace(ctx, wait)
		}
		var o outcome
		ru.readWave(ctx, chunks, &o)
		if err := o.err(); err != nil {
			return err
		}
		if err := ru.maybeCheckpoint(ctx); err != nil {
			return err
		}
	}
}

// readWave reads the rows of chunks, one $batch per chunk, all at once, and
// records the answers.
func (ru *run) readWave(ctx context.Context, chunks [][]int, o *outcome) {
	results := parallel(len(chunks), func(c int) []graph.UserResult {
		keys := make([]string, len(chunks[c]))
		for k, i := range chunks[c] {
			keys[k] = ru.readKey(i)
		}
		res, err := ru.gc.GetUsers(ctx, keys, selectProps...)
		ru.countRequest(err)
		return res
	})
	for c, chunk := range chunks {
		for k, i := range chunk {
			if k < len(results[c]) {
				ru.applyRead(i, results[c][k], o)
			}
		}
	}
	log.FromContext(ctx).V(1).Info("Read users", "requests", len(chunks), "elapsed", ru.r.now().Sub(ru.started).String())
}

func (ru *run) readKey(i int) string {
	row := ru.b.Status.Users[i]
	if ru.verify[i] || row.User == "" {
		return row.ID
	}
	return row.User
}

// applyRead records one read.
func (ru *run) applyRead(i int, res graph.UserResult, o *outcome) {
	row := &ru.b.Status.Users[i]
	verifying := ru.verify[i]
	if res.Err != nil {
		switch graph.KindOf(res.Err) {
		case graph.NotFound:
			delete(ru.verify, i)
			*row = v1alpha1.BatchUserResult{User: row.User, ID: row.ID, Outcome: v1alpha1.OutcomeNotFound}
		case graph.Invalid:
			if verifying {
				o.note(res.Err)
				return
			}
			*row = v1alpha1.BatchUserResult{User: row.User, Outcome: v1alpha1.OutcomeFailed, Message: errMessage(res.Err)}
		default:
			o.note(res.Err)
		}
		return
	}
	u := res.User
	if verifying {
		delete(ru.verify, i)
		if u.AccountEnabled != nil && !*u.AccountEnabled {
			// Disabled by a PATCH whose answer was not recorded (or by
			// someone else meanwhile): either way it is not sent again.
			*row = v1alpha1.BatchUserResult{User: row.User, ID: row.ID,
				Outcome: v1alpha1.OutcomeDisabled, Message: "found disabled when resuming; not sent again"}
			return
		}
	}
	ru.classify(i, u, verifying)
}

// classify decides what to do with a user whose state was just read.
// Protection is checked here, before any write is planned.
func (ru *run) classify(i int, u graph.User, reread bool) {
	row := &ru.b.Status.Users[i]
	if !reread {
		if j, dup := ru.byID[strings.ToLower(u.ID)]; dup && j != i {
			*row = v1alpha1.BatchUserResult{User: row.User, ID: u.ID, Outcome: v1alpha1.OutcomeFailed,
				Message: fmt.Sprintf("same user as row %d (%s); not processed twice", j, ru.b.Status.Users[j].User)}
			return
		}
		ru.byID[strings.ToLower(u.ID)] = i
	}
	*row = v1alpha1.BatchUserResult{User: row.User, ID: u.ID, Outcome: v1alpha1.OutcomePending}
	protected := ru.protection(u, row.User)
	switch {
	case ru.b.Spec.DryRun:
		// The job title is what a query is for; a disable run leaves it out
		// to keep 5,000 rows well under the object size limit.
		row.Outcome, row.AccountEnabled, row.JobTitle = v1alpha1.OutcomeQueried, copyBool(u.AccountEnabled), u.JobTitle
		if protected != "" {
			row.Message = "protected: " + protected
		}
	case protected != "":
		row.Outcome, row.AccountEnabled, row.Message = v1alpha1.OutcomeProtected, copyBool(u.AccountEnabled), protected
	case u.AccountEnabled == nil:
		row.Outcome, row.Message = v1alpha1.OutcomeFailed, "Graph did not report accountEnabled"
	case !*u.AccountEnabled:
		row.Outcome = v1alpha1.OutcomeAlreadyDisabled
	default:
		row.AccountEnabledBefore = ptr(true)
		if !reread {
			ru.unsaved = true
		}
	}
}

// protection says why the Directory's safety rails forbid touching u, or "".
func (ru *run) protection(u graph.User, given string) string {
	if ru.safety.Protected(u.ID, u.UserPrincipalName, given) {
		return "listed in the Directory's safety.protectedUsers"
	}
	if !ru.safety.DomainAllowed(u.UserPrincipalName) {
		return "domain not in the Directory's safety.allowedDomains"
	}
	return ""
}

// disable reads the users and PATCHes accountEnabled=false for those due,
// 20 per $batch, in waves that do both at once: a run starts writing after
// its first wave of reads instead of after reading every row, because
// until the first write Graph's full write bucket refills for nothing.
//
// A row is written only once a checkpoint records it as due (read enabled),
// so that a crash after its PATCH still knows it was enabled before. Reads
// therefore run ahead of writes (more chunks per wave), and when no recorded
// row is left to write, the rows read since are checkpointed at once.
func (ru *run) disable(ctx context.Context) error {
	logger := log.FromContext(ctx)
	for {
		if len(ru.verify) > 0 {
			// A write's answer was lost: settle those rows first.
			if err := ru.readAll(ctx, ru.verifyTodo); err != nil || len(ru.verify) > 0 {
				return err
			}
		}
		writable, unreadRows := ru.disableWork()
		if len(writable) == 0 && ru.unsaved {
			if err := ru.checkpointProgress(ctx); err != nil {
				return err
			}
			continue
		}
		if (len(writable) == 0 && len(unreadRows) == 0) || ru.sliceOver() {
			return nil
		}
		wChunks, wWait := ru.plan(writable, true, ru.chunkConcurrency())
		rChunks, rWait := ru.plan(unreadRows, false, ru.readAheadChunks())
		if len(wChunks) == 0 && len(rChunks) == 0 {
			return ru.pace(ctx, soonest(wWait, rWait))
		}
		var (
			o       outcome
			results [][]graph.ItemResult
			wg      sync.WaitGroup
		)
		wg.Go(func() { results = ru.writeWave(ctx, wChunks) })
		// The rows read and the rows written are disjoint (unread and due),
		// so the two waves never touch the same row.
		ru.readWave(ctx, rChunks, &o)
		wg.Wait()
		n := 0
		for c, chunk := range wChunks {
			forbidden := allForbidden(results[c])
			for k, i := range chunk {
				if k >= len(results[c]) {
					ru.verify[i] = true
					continue
				}
				if ru.applyWrite(i, results[c][k].Err, forbidden, &o) {
					n++
				}
			}
		}
		if n > 0 {
			logger.V(1).Info("Disabled users", "users", n, "requests", len(wChunks), "elapsed", ru.r.now().Sub(ru.started).String())
		}
		if err := o.err(); err != nil {
			if len(ru.verify) > 0 {
				// Re-read now so the checkpoint on the way out is exact.
				if rerr := ru.readAll(ctx, ru.verifyTodo); rerr != nil {
					logger.V(1).Info("Re-reading users after a failed write failed", "error", rerr.Error())
				}
			}
			return err
		}
		if err := ru.maybeCheckpoint(ctx); err != nil {
			return err
		}
	}
}

// disableWork lists the rows a disable wave may write (due, and recorded
// as due by the last checkpoint) and the rows still to read. Rows the
// Directory's rails protect since they were read become Protected.
func (ru *run) disableWork() (writable, unreadRows []int) {
	saved := ru.before.Status.Users
	for i, row := range ru.b.Status.Users {
		switch {
		case unread(row):
			unreadRows = append(unreadRows, i)
		case !dueForDisable(row):
		case ru.safety.Protected(row.ID, row.User):
			ru.b.Status.Users[i] = v1alpha1.BatchUserResult{User: row.User, ID: row.ID, AccountEnabled: ptr(true),
				Outcome: v1alpha1.OutcomeProtected, Message: "listed in the Directory's safety.protectedUsers"}
		case i < len(saved) && dueForDisable(saved[i]):
			writable = append(writable, i)
		}
	}
	return writable, unreadRows
}

// writeWave sends one $batch of PATCHes per chunk, all at once.
func (ru *run) writeWave(ctx context.Context, chunks [][]int) [][]graph.ItemResult {
	disabled := false
	return parallel(len(chunks), func(c int) []graph.ItemResult {
		items := make([]graph.UserUpdateItem, len(chunks[c]))
		for k, i := range chunks[c] {
			items[k] = graph.UserUpdateItem{ID: ru.b.Status.Users[i].ID, Update: graph.UserUpdate{AccountEnabled: &disabled}}
		}
		res, err := ru.gc.UpdateUsers(ctx, items)
		ru.countRequest(err)
		return res
	})
}

// applyWrite records one PATCH answer and reports whether the user is now
// disabled by it.
func (ru *run) applyWrite(i int, err error, chunkForbidden bool, o *outcome) bool {
	row := &ru.b.Status.Users[i]
	if err == nil {
		*row = v1alpha1.BatchUserResult{User: row.User, ID: row.ID, Outcome: v1alpha1.OutcomeDisabled}
		return true
	}
	switch graph.KindOf(err) {
	case graph.Throttled:
		// Not executed: the row stays due.
		o.note(err)
	case graph.NotFound:
		*row = v1alpha1.BatchUserResult{User: row.User, ID: row.ID, Outcome: v1alpha1.OutcomeNotFound, Message: "deleted before it could be disabled"}
	case graph.Forbidden:
		if chunkForbidden {
			// Every user refused: the app lacks the permission, which is
			// the batch's problem, not these users'.
			o.note(err)
			return false
		}
		// One user refused (e.g. an administrator the app may not disable).
		row.Outcome, row.AccountEnabled, row.Message = v1alpha1.OutcomeFailed, ptr(true), errMessage(err)
	case graph.Invalid, graph.Conflict:
		row.Outcome, row.AccountEnabled, row.Message = v1alpha1.OutcomeFailed, ptr(true), errMessage(err)
	default:
		// Transient, Unknown, Unauthorized: the PATCH may or may not have
		// been applied. Re-read before sending it again.
		ru.verify[i] = true
		o.note(err)
	}
	return false
}

// revoke revokes the sign-in sessions of the rows this batch disabled.
func (ru *run) revoke(ctx context.Context) error {
	for {
		var todo []int
		for i, row := range ru.b.Status.Users {
			if row.Outcome == v1alpha1.OutcomeDisabled && row.SessionsRevoked == nil {
				todo = append(todo, i)
			}
		}
		if len(todo) == 0 || ru.sliceOver() {
			return nil
		}
		chunks, wait := ru.plan(todo, true, ru.chunkConcurrency())
		if len(chunks) == 0 {
			return ru.pace(ctx, wait)
		}
		results := parallel(len(chunks), func(c int) []graph.ItemResult {
			ids := make([]string, len(chunks[c]))
			for k, i := range chunks[c] {
				ids[k] = ru.b.Status.Users[i].ID
			}
			res, err := ru.gc.RevokeSignInSessionsMany(ctx, ids)
			ru.countRequest(err)
			return res
		})
		var o outcome
		for c, chunk := range chunks {
			for k, i := range chunk {
				if k >= len(results[c]) {
					continue
				}
				row := &ru.b.Status.Users[i]
				switch err := results[c][k].Err; {
				case err == nil:
					row.SessionsRevoked = ptr(true)
				case graph.KindOf(err) == graph.NotFound || graph.KindOf(err) == graph.Invalid || graph.KindOf(err) == graph.Forbidden:
					// Revoking again is harmless, but these answers will not change.
					row.SessionsRevoked, row.Message = ptr(false), "revoking sessions failed: "+errMessage(err)
				default:
					o.note(err)
				}
			}
		}
		if err := o.err(); err != nil {
			return err
		}
		if err := ru.maybeCheckpoint(ctx); err != nil {
			return err
		}
	}
}

// plan cuts todo into $batch chunks and keeps as many (up to maxChunks) as
// the budget can pay for within the inline wait. With none, it returns how
// long until the first could be paid for (0 when todo is empty).
func (ru *run) plan(todo []int, writes bool, maxChunks int) ([][]int, time.Duration) {
	maxWait := ru.r.durationOr(ru.r.MaxInlineWait, DefaultMaxInlineWait)
	var chunks [][]int
	items := 0
	for start := 0; start < len(todo) && len(chunks) < maxChunks; start += chunkSize {
		chunk := todo[start:min(start+chunkSize, len(todo))]
		w := 0
		if writes {
			w = items + len(chunk)
		}
		if wait := ru.gc.Budget().WaitTime(items+len(chunk), w); wait > maxWait {
			if len(chunks) == 0 {
				return nil, wait
			}
			break
		}
		items += len(chunk)
		chunks = append(chunks, chunk)
	}
	return chunks, 0
}

func (ru *run) chunkConcurrency() int {
	if ru.r.ChunkConcurrency > 0 {
		return ru.r.ChunkConcurrency
	}
	return DefaultChunkConcurrency
}

// readAheadChunks is how many $batch reads a wave sends: twice the writes,
// so that reads run ahead and writes never wait for rows to be read.
func (ru *run) readAheadChunks() int { return 2 * ru.chunkConcurrency() }

// pace ends the reconcile to wait for the budget.
func (ru *run) pace(ctx context.Context, wait time.Duration) error {
	return ctrlkit.Waiting(wait+ctrlkit.Jitter(wait/10, 1), v1alpha1.ReasonProgressing,
		"%s; pacing to the Directory's Graph quota", progressMessage(ru.b))
}

func (ru *run) sliceOver() bool {
	return ru.r.now().Sub(ru.started) >= ru.r.durationOr(ru.r.SliceDuration, DefaultSliceDuration)
}

// maybeCheckpoint checkpoints when the interval has passed since the last
// one. The interval stretches to 3× what the last checkpoint took: the API
// server's cost grows with the object (about 0.3–2 s for 5,000 rows on a
// busy 2-core machine), and the write quota is wasted while the reconcile
// waits for it. Progress since the last checkpoint is not lost in a crash,
// only re-read.
func (ru *run) maybeCheckpoint(ctx context.Context) error {
	interval := max(ru.r.durationOr(ru.r.CheckpointInterval, DefaultCheckpointInterval), 3*ru.checkpointCost)
	if ru.r.now().Sub(ru.lastCheckpoint) < interval {
		return nil
	}
	return ru.checkpointProgress(ctx)
}

// checkpointProgress checkpoints in the middle of a reconcile, with
// conditions saying how far the batch is (the reconcile's end sets them
// from its outcome).
func (ru *run) checkpointProgress(ctx context.Context) error {
	ctrlkit.Summarize(&ru.b.Status.CommonStatus, ru.b.Generation,
		ctrlkit.Waiting(0, v1alpha1.ReasonProgressing, "%s", progressMessage(ru.b)), "")
	return ru.checkpoint(ctx)
}

// checkpoint writes the status if it changed.
func (ru *run) checkpoint(ctx context.Context) error {
	st := &ru.b.Status
	c := countRows(st.Users)
	st.Counts = &c
	st.GraphRequests += ru.requests
	ru.requests = 0
	saved := ru.b.DeepCopy()
	saved.Status.Users = saved.Status.Users[:recordedRows(ru.b)]
	t0 := ru.r.now()
	if err := ctrlkit.PatchStatus(ctx, ru.r.Client, saved, ru.before, ru.before.Status, saved.Status); err != nil {
		return err
	}
	ru.b.ResourceVersion = saved.ResourceVersion
	ru.before = saved
	ru.lastCheckpoint = ru.r.now()
	ru.checkpointCost = ru.lastCheckpoint.Sub(t0)
	log.FromContext(ctx).V(1).Info("Checkpointed status", "rows", len(saved.Status.Users), "took", ru.checkpointCost.String(), "elapsed", ru.lastCheckpoint.Sub(ru.started).String())
	ru.unsaved = false
	return nil
}

// pendingRows are the rows of listed users not read yet.
func pendingRows(users []string) []v1alpha1.BatchUserResult {
	rows := make([]v1alpha1.BatchUserResult, len(users))
	for i, u := range users {
		rows[i] = v1alpha1.BatchUserResult{User: strings.TrimSpace(u), Outcome: v1alpha1.OutcomePending}
	}
	return rows
}

// recordedRows is how many rows a checkpoint stores. A batch of listed
// users leaves out the trailing rows not read yet: they hold nothing the
// spec does not, and the first checkpoint, the one the first write waits
// for, then costs the API server a few rows instead of 5,000. A group
// batch stores every row, since its rows are the frozen member list.
func recordedRows(b *v1alpha1.UserDisableBatch) int {
	n := len(b.Status.Users)
	if b.Spec.Group != nil {
		return n
	}
	for n > 0 && unread(b.Status.Users[n-1]) {
		n--
	}
	return n
}

// countRequest adds the HTTP request a ≤20-item batch call sent, unless it
// was refused before sending (client-side budget, cancelled context).
func (ru *run) countRequest(err error) {
	var ge *graph.Error
	if errors.As(err, &ge) && ge.StatusCode == 0 && (ge.Code == "BudgetExhausted" || ge.Code == "Canceled") {
		return
	}
	ru.mu.Lock()
	ru.requests++
	ru.mu.Unlock()
}

// outcome collects the batch-level consequence of the item errors of a
// wave: the longest Retry-After, or the error that stops the batch.
type outcome struct {
	throttled  time.Duration
	isThrottle bool
	forbidden  error
	fatal      error
	transient  error
}

func (o *outcome) note(err error) {
	switch graph.KindOf(err) {
	case graph.Throttled:
		o.isThrottle = true
		ra, _ := graph.IsThrottled(err)
		o.throttled = max(o.throttled, ra)
	case graph.Forbidden:
		o.forbidden = err
	case graph.Unauthorized:
		o.fatal = err
	default:
		o.transient = err
	}
}

func (o *outcome) err() error {
	switch {
	case o.fatal != nil:
		return batchError(o.fatal, "calling Graph")
	case o.forbidden != nil:
		return batchError(o.forbidden, "calling Graph")
	case o.isThrottle:
		return batchError(&graph.Error{Kind: graph.Throttled, RetryAfter: max(o.throttled, 10*time.Millisecond)}, "")
	case o.transient != nil:
		return batchError(o.transient, "calling Graph")
	}
	return nil
}

// batchError turns an error that concerns the whole batch into a ctrlkit
// result: wait out throttling and missing permissions, back off otherwise.
func batchError(err error, doing string) error {
	var ge *graph.Error
	if !errors.As(err, &ge) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	switch ge.Kind {
	case graph.Throttled:
		ra := max(ge.RetryAfter, 10*time.Millisecond)
		return ctrlkit.Waiting(ra+ctrlkit.Jitter(ra/10, 1), v1alpha1.ReasonThrottled,
			"Graph asked to wait %s", ra.Round(time.Millisecond))
	case graph.Forbidden:
		return ctrlkit.Waiting(time.Minute, v1alpha1.ReasonPermissionMissing,
			"Graph refused %s (%s); grant the app User.EnableDisableAccount.All and User.Read.All with admin consent", ge.Op, ge.Code)
	case graph.Unauthorized:
		return ctrlkit.Waiting(time.Minute, v1alpha1.ReasonInvalidCredentials, "the Directory's credentials were refused (%s)", ge.Code)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func allForbidden(rs []graph.ItemResult) bool {
	if len(rs) < 2 {
		return false
	}
	for _, r := range rs {
		if graph.KindOf(r.Err) != graph.Forbidden {
			return false
		}
	}
	return true
}

// errMessage is a row's message for a Graph error: code and message, short
// enough that thousands of failed rows still fit in the object.
func errMessage(err error) string {
	var ge *graph.Error
	msg := err.Error()
	if errors.As(err, &ge) {
		msg = ge.Code + ": " + ge.Message
	}
	const maxLen = 160
	if len(msg) > maxLen {
		msg = msg[:maxLen-3] + "..."
	}
	return msg
}

// parallel runs fn(0..n-1) concurrently and returns the results in order.
func parallel[T any](n int, fn func(i int) T) []T {
	out := make([]T, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = fn(i) })
	}
	wg.Wait()
	return out
}

// soonest is the shorter of two waits, ignoring zeros (no work of that kind).
func soonest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

func ptr[T any](v T) *T { return &v }

func copyBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	return ptr(*b)
}
