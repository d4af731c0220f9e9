package userdisablebatch

import (
	"context"
	"math/rand/v2"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// DefaultReplicationLag is how long after a write Graph may still serve the
// state before it from some replica. Microsoft documents no bound; seconds
// are usual. A row whose PATCH answer was lost is confirmed by a read taken
// at least this long after the write could have happened: an earlier read
// showing the account enabled may be stale, and writing again on its word
// is the second PATCH the design promises never to send.
const DefaultReplicationLag = 30 * time.Second

// Per-row retry backoff after a transient failure of that row alone.
const (
	itemRetryBase = 250 * time.Millisecond
	itemRetryMax  = 15 * time.Second
)

// memo is what a process remembers about a batch between reconciles: the
// rows whose PATCH may have reached Graph without its answer being recorded,
// and the rows backing off after a transient failure. It is valid only
// while the batch's resourceVersion is the one of the process's own last
// checkpoint; anything else (a new process, a failed checkpoint) starts
// from the stored status and confirms every row that may have been written.
type memo struct {
	rv string
	// confirm holds rows that may have been disabled without a record.
	confirm map[int]*confirmation
	// retry holds rows whose last read failed transiently.
	retry map[int]*backoff
}

// confirmation tracks one row whose write is unconfirmed.
type confirmation struct {
	// after is the earliest time a read showing the account enabled is
	// conclusive (the write, if it happened, has replicated). A read
	// showing it disabled is conclusive at any time.
	after time.Time
	// resumed marks rows a previous process (or a lost checkpoint) may
	// have written, as opposed to a write answer this process lost.
	resumed bool
	backoff
}

// backoff is one row's retry schedule.
type backoff struct {
	next     time.Time
	attempts int
}

// fail pushes the next attempt back exponentially, with jitter so that rows
// failing together do not come back together.
func (bo *backoff) fail(now time.Time) {
	d := min(itemRetryBase<<min(bo.attempts, 10), itemRetryMax)
	bo.attempts++
	bo.next = now.Add(time.Duration(float64(d) * (0.8 + 0.4*rand.Float64())))
}

func (bo *backoff) ready(now time.Time) bool { return !now.Before(bo.next) }

func newMemo() *memo {
	return &memo{confirm: map[int]*confirmation{}, retry: map[int]*backoff{}}
}

// takeMemo returns (and forgets) what this process remembers about a batch.
func (r *Reconciler) takeMemo(uid types.UID) *memo {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.memos[uid]
	delete(r.memos, uid)
	return m
}

func (r *Reconciler) keepMemo(uid types.UID, m *memo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.memos == nil {
		r.memos = map[types.UID]*memo{}
	}
	r.memos[uid] = m
}

func (r *Reconciler) replicationLag() time.Duration {
	return r.durationOr(r.ReplicationLag, DefaultReplicationLag)
}

// resumeConfirmations marks every row recorded as due for confirmation: the
// process that recorded it may have PATCHed it at any time up to now. The
// first read goes out at once (a disabled account settles the row); a row
// read enabled is written only after the lag window, so that a stale replica
// cannot make it look unwritten.
func (ru *run) resumeConfirmations(ctx context.Context) {
	after := ru.r.now().Add(ru.r.replicationLag())
	for i, row := range ru.b.Status.Users {
		if ru.op.due(row) {
			ru.m.confirm[i] = &confirmation{after: after, resumed: true}
		}
	}
	if len(ru.m.confirm) > 0 {
		log.FromContext(ctx).Info("Resuming batch: confirming users that may have been written without a record",
			"users", len(ru.m.confirm))
	}
}

// lostWrite records a PATCH whose answer did not come back: it may or may
// not have been applied.
func (ru *run) lostWrite(i int) {
	now := ru.r.now()
	ru.m.confirm[i] = &confirmation{after: now.Add(ru.r.replicationLag()), backoff: backoff{next: now}}
}

// confirmRead handles a successful read of a row under confirmation. It
// reports whether the row is to be classified as a fresh read (the write
// did not happen); a disabled account settles the row as Disabled, and a
// read showing it enabled before the lag window ended waits for another.
func (ru *run) confirmRead(i int, enabled *bool) (classify bool) {
	c := ru.m.confirm[i]
	row := &ru.b.Status.Users[i]
	if enabled != nil && *enabled == ru.op.target {
		msg := "write answer lost; found " + ru.op.verb + ", not sent again"
		if c.resumed {
			msg = "found " + ru.op.verb + " when resuming; not sent again"
		}
		*row = v1alpha1.BatchUserResult{User: row.User, SelectedBy: row.SelectedBy, ID: row.ID, JobTitle: row.JobTitle, Outcome: ru.op.done, Message: msg}
		delete(ru.m.confirm, i)
		return false
	}
	if ru.r.now().Before(c.after) {
		// Possibly a replica that has not seen the write yet.
		c.next, c.attempts = c.after, 0
		return false
	}
	delete(ru.m.confirm, i)
	return true
}

// rowReady reports whether row i may be read now (not backing off).
func (ru *run) rowReady(i int, now time.Time) bool {
	if c, ok := ru.m.confirm[i]; ok {
		return c.ready(now)
	}
	if bo, ok := ru.m.retry[i]; ok {
		return bo.ready(now)
	}
	return true
}

// retryLater backs row i off after a transient failure of its own.
func (ru *run) retryLater(i int) {
	now := ru.r.now()
	if c, ok := ru.m.confirm[i]; ok {
		c.fail(now)
		return
	}
	bo := ru.m.retry[i]
	if bo == nil {
		bo = &backoff{}
		ru.m.retry[i] = bo
	}
	bo.fail(now)
}

// nextRetry is the soonest time a row now backing off may be tried again,
// or zero when none is.
func (ru *run) nextRetry() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, c := range ru.m.confirm {
		consider(c.next)
	}
	if ru.stopping {
		return next
	}
	for i, bo := range ru.m.retry {
		if row := ru.b.Status.Users[i]; row.Outcome == v1alpha1.OutcomePending || ru.revokeDue(row) {
			consider(bo.next)
		}
	}
	return next
}
