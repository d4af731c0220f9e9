package userdisablebatch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// work is what one wave may do now.
type work struct {
	// write are rows due and recorded as due by the last checkpoint.
	write []int
	// read are rows to read: unconfirmed writes first, then rows not read yet.
	read []int
}

func (w work) empty() bool { return len(w.write) == 0 && len(w.read) == 0 }

// advance reads the users and, unless it is a dry run, PATCHes
// accountEnabled=false for those due, 20 per $batch, in waves that do both
// at once: a run starts writing after its first wave of reads instead of
// after reading every row, because until the first write Graph's full write
// bucket refills for nothing.
//
// A row is written only once a checkpoint records it as due (read enabled),
// so that a crash after its PATCH still knows it was enabled before. Reads
// therefore run ahead of writes (more chunks per wave), and when no
// recorded row is left to write, the rows read since are checkpointed at
// once.
//
// A row that fails on its own (a 503, a lost answer) is retried on its own
// with backoff while the other rows go on; only what concerns the whole
// batch (throttling, a missing permission) ends the reconcile. So every
// wave settles some rows whatever the fault rate below 100 %, and a pass
// never starts over.
func (ru *run) advance(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ru.sliceOver() {
			return nil
		}
		ru.deletionRequested(ctx)
		w := ru.work()
		if len(w.write) == 0 && ru.unsaved {
			if err := ru.checkpointProgress(ctx); err != nil {
				return err
			}
			continue
		}
		if w.empty() {
			if err := ru.waitForRetries(ctx); err != nil || ru.nextRetry().IsZero() {
				return err
			}
			continue
		}
		if err := ru.wave(ctx, w); err != nil {
			return err
		}
		if err := ru.maybeCheckpoint(ctx); err != nil {
			return err
		}
	}
}

// waitForRetries sits out a short wait for the next row retry, or ends the
// reconcile with a requeue for a long one. It returns nil at once when no
// row waits.
func (ru *run) waitForRetries(ctx context.Context) error {
	next := ru.nextRetry()
	if next.IsZero() {
		return nil
	}
	wait := next.Sub(ru.r.now())
	if wait > ru.r.durationOr(ru.r.MaxInlineWait, DefaultMaxInlineWait) {
		return ru.pace(ctx, wait)
	}
	if wait > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// wave sends one wave of reads and writes and records the answers.
func (ru *run) wave(ctx context.Context, w work) error {
	wChunks, wWait := ru.plan(w.write, true, ru.chunkConcurrency())
	rChunks, rWait := ru.plan(w.read, false, ru.readAheadChunks())
	if len(wChunks) == 0 && len(rChunks) == 0 {
		return ru.pace(ctx, soonest(wWait, rWait))
	}
	var (
		o       outcome
		results [][]graph.ItemResult
		wg      sync.WaitGroup
	)
	for c := range wChunks {
		wChunks[c] = ru.prepareWrites(ctx, wChunks[c])
	}
	wg.Go(func() { results = ru.writeWave(ctx, wChunks) })
	// The rows read and the rows written are disjoint (unread or
	// unconfirmed, and due), so the two waves never touch the same row.
	ru.readWave(ctx, rChunks, &o)
	wg.Wait()
	n := 0
	for c, chunk := range wChunks {
		forbidden := allForbidden(results[c])
		for k, i := range chunk {
			if k >= len(results[c]) {
				ru.lostWrite(i)
				continue
			}
			if ru.applyWrite(i, results[c][k].Err, forbidden, &o) {
				n++
			}
		}
	}
	if n > 0 {
		log.FromContext(ctx).V(1).Info("Wrote users", "accountEnabled", ru.op.target, "users", n, "requests", len(wChunks), "elapsed", ru.r.now().Sub(ru.started).String())
	}
	return o.err()
}

// work lists what a wave may do now. Rows the Directory's rails protect
// since they were read become Protected.
func (ru *run) work() work {
	var w work
	now := ru.r.now()
	for _, i := range ru.confirmTodo() {
		if ru.m.confirm[i].ready(now) {
			w.read = append(w.read, i)
		}
	}
	if ru.stopping {
		// A deleted batch only settles what it may already have written.
		return w
	}
	saved := ru.before.Status.Users
	for i, row := range ru.b.Status.Users {
		_, unconfirmed := ru.m.confirm[i]
		switch {
		case unconfirmed || !ru.rowReady(i, now):
		case unread(row):
			w.read = append(w.read, i)
		case ru.b.Spec.DryRun || !ru.op.due(row):
		case ru.safety.Protected(row.ID, row.User):
			ru.b.Status.Users[i] = v1alpha1.BatchUserResult{User: row.User, SelectedBy: row.SelectedBy, ID: row.ID, JobTitle: row.JobTitle, AccountEnabled: ptr(!ru.op.target),
				Outcome: v1alpha1.OutcomeProtected, Message: "listed in the Directory's safety.protectedUsers"}
		case i < len(saved) && ru.op.due(saved[i]):
			w.write = append(w.write, i)
		}
	}
	return w
}

// readWave reads the rows of chunks, one $batch per chunk, all at once, and
// records the answers.
func (ru *run) readWave(ctx context.Context, chunks [][]int, o *outcome) {
	results := parallel(len(chunks), func(c int) []graph.UserResult {
		keys := make([]string, len(chunks[c]))
		for k, i := range chunks[c] {
			keys[k] = ru.readKey(i)
		}
		res, _ := ru.gc.GetUsers(ctx, keys, selectProps...)
		return res
	})
	for c, chunk := range chunks {
		for k, i := range chunk {
			if k < len(results[c]) {
				ru.applyRead(i, results[c][k], o)
			} else {
				ru.retryLater(i)
			}
		}
	}
	log.FromContext(ctx).V(1).Info("Read users", "requests", len(chunks), "elapsed", ru.r.now().Sub(ru.started).String())
}

func (ru *run) readKey(i int) string {
	row := ru.b.Status.Users[i]
	if _, unconfirmed := ru.m.confirm[i]; unconfirmed || row.User == "" {
		return row.ID
	}
	return row.User
}

// applyRead records one read.
func (ru *run) applyRead(i int, res graph.UserResult, o *outcome) {
	row := &ru.b.Status.Users[i]
	_, confirming := ru.m.confirm[i]
	if res.Err != nil {
		switch graph.KindOf(res.Err) {
		case graph.NotFound:
			delete(ru.m.confirm, i)
			delete(ru.m.retry, i)
			*row = v1alpha1.BatchUserResult{User: row.User, SelectedBy: row.SelectedBy, ID: row.ID, Outcome: v1alpha1.OutcomeNotFound}
		case graph.Invalid:
			if confirming {
				ru.retryLater(i)
				return
			}
			delete(ru.m.retry, i)
			*row = v1alpha1.BatchUserResult{User: row.User, SelectedBy: row.SelectedBy, Outcome: v1alpha1.OutcomeFailed, Message: errMessage(res.Err)}
		case graph.Throttled, graph.Forbidden, graph.Unauthorized:
			// The batch's problem, not this row's: the row stays as it is.
			o.note(res.Err)
		default:
			// A 503, a timeout: this row alone is tried again later.
			ru.retryLater(i)
		}
		return
	}
	delete(ru.m.retry, i)
	u := res.User
	if confirming && !ru.confirmRead(i, u.AccountEnabled) {
		return
	}
	ru.classify(i, u, confirming)
}

// classify decides what to do with a user whose state was just read.
// Protection is checked here, before any write is planned.
func (ru *run) classify(i int, u graph.User, reread bool) {
	row := &ru.b.Status.Users[i]
	if !reread {
		if j, dup := ru.byID[strings.ToLower(u.ID)]; dup && j != i {
			*row = v1alpha1.BatchUserResult{User: row.User, SelectedBy: row.SelectedBy, ID: u.ID, Outcome: v1alpha1.OutcomeFailed,
				Message: fmt.Sprintf("same user as row %d (%s); not processed twice", j, ru.b.Status.Users[j].User)}
			return
		}
		ru.byID[strings.ToLower(u.ID)] = i
	}
	*row = v1alpha1.BatchUserResult{User: row.User, SelectedBy: row.SelectedBy, ID: u.ID, JobTitle: rowTitle(u.JobTitle), Outcome: v1alpha1.OutcomePending}
	protected := ru.protection(u, row.User)
	managed := ru.managedNote(u, row.User)
	switch {
	case protected != "":
		// Dry runs too: what a real run would do is what a query is for.
		row.Outcome, row.AccountEnabled, row.Message = v1alpha1.OutcomeProtected, copyBool(u.AccountEnabled), protected
	case managed != "":
		row.Outcome, row.AccountEnabled, row.Message = v1alpha1.OutcomeManaged, copyBool(u.AccountEnabled), managed
	case ru.b.Spec.DryRun:
		row.Outcome, row.AccountEnabled = v1alpha1.OutcomeQueried, copyBool(u.AccountEnabled)
	case u.AccountEnabled == nil:
		row.Outcome, row.Message = v1alpha1.OutcomeFailed, "Graph did not report accountEnabled"
	case *u.AccountEnabled == ru.op.target:
		row.Outcome = ru.op.already
	default:
		row.AccountEnabledBefore = ptr(!ru.op.target)
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

// writeWave sends one $batch of PATCHes per chunk, all at once.
func (ru *run) writeWave(ctx context.Context, chunks [][]int) [][]graph.ItemResult {
	target := ru.op.target
	return parallel(len(chunks), func(c int) []graph.ItemResult {
		items := make([]graph.UserUpdateItem, len(chunks[c]))
		for k, i := range chunks[c] {
			items[k] = graph.UserUpdateItem{ID: ru.b.Status.Users[i].ID, Update: graph.UserUpdate{AccountEnabled: &target}}
		}
		res, _ := ru.gc.UpdateUsers(ctx, items)
		return res
	})
}

// applyWrite records one PATCH answer and reports whether the user is now
// in the target state by it.
func (ru *run) applyWrite(i int, err error, chunkForbidden bool, o *outcome) bool {
	row := &ru.b.Status.Users[i]
	if err == nil {
		*row = v1alpha1.BatchUserResult{User: row.User, SelectedBy: row.SelectedBy, ID: row.ID, JobTitle: row.JobTitle, Outcome: ru.op.done, Message: ru.writtenNote(row.ID, row.User)}
		return true
	}
	switch graph.KindOf(err) {
	case graph.Throttled:
		// Not executed: the row stays due.
		o.note(err)
	case graph.NotFound:
		*row = v1alpha1.BatchUserResult{User: row.User, SelectedBy: row.SelectedBy, ID: row.ID, JobTitle: row.JobTitle, Outcome: v1alpha1.OutcomeNotFound, Message: "deleted before it could be " + ru.op.verb}
	case graph.Forbidden:
		if chunkForbidden {
			// Every user refused: the app lacks the permission, which is
			// the batch's problem, not these users'.
			o.note(err)
			return false
		}
		// One user refused (e.g. an administrator the app may not disable).
		row.Outcome, row.AccountEnabled, row.Message = v1alpha1.OutcomeFailed, ptr(!ru.op.target), errMessage(err)
	case graph.Invalid, graph.Conflict:
		row.Outcome, row.AccountEnabled, row.Message = v1alpha1.OutcomeFailed, ptr(!ru.op.target), errMessage(err)
	default:
		// Transient, Unknown, Unauthorized: the PATCH may or may not have
		// been applied. Confirm by reading before sending it again.
		ru.lostWrite(i)
		if graph.KindOf(err) == graph.Unauthorized {
			o.note(err)
		}
	}
	return false
}

// maxRowTitle bounds the job title a row keeps. Graph allows 128
// characters; 5,000 rows of that would push the batch past the API
// server's 1 MiB object limit, so a row keeps the first 32 and marks the cut.
const maxRowTitle = 32

func rowTitle(t string) string {
	r := []rune(t)
	if len(r) <= maxRowTitle {
		return t
	}
	return string(r[:maxRowTitle-1]) + "…"
}
