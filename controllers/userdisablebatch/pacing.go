package userdisablebatch

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

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
		"%s; pacing to the Directory's Graph quota", progressMessage(ru.op, ru.b))
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
//
// A batch with every row final skips it: the reconcile's closing
// checkpoint follows at once with the outcome, and two writes of the same
// 5,000 rows back to back only delay it (0.4–2 s each on a busy API
// server, all of it added to the time until the batch says it is done).
func (ru *run) maybeCheckpoint(ctx context.Context) error {
	interval := max(ru.r.durationOr(ru.r.CheckpointInterval, DefaultCheckpointInterval), 3*ru.checkpointCost)
	if ru.r.now().Sub(ru.lastCheckpoint) < interval || (allDone(ru.b) && len(ru.m.confirm) == 0) {
		return nil
	}
	return ru.checkpointProgress(ctx)
}

// checkpointProgress checkpoints in the middle of a reconcile, with
// conditions saying how far the batch is (the reconcile's end sets them
// from its outcome).
func (ru *run) checkpointProgress(ctx context.Context) error {
	ctrlkit.Summarize(&ru.b.Status.CommonStatus, ru.b.Generation,
		ctrlkit.Waiting(0, v1alpha1.ReasonProgressing, "%s", progressMessage(ru.op, ru.b)), "")
	return ru.checkpoint(ctx)
}

// checkpoint writes the status if it changed.
func (ru *run) checkpoint(ctx context.Context) error {
	st := &ru.b.Status
	c := countRows(st.Users)
	st.Counts = &c
	sent := ru.meter.Usage().Requests
	st.GraphRequests += sent - ru.counted
	ru.counted = sent
	saved := ru.b.DeepCopy()
	saved.Status.Users = saved.Status.Users[:recordedRows(ru.b)]
	t0 := ru.r.now()
	if err := ru.r.patchStatus(ctx, saved, ru.before); err != nil {
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
// batch (or an undo of a batch) stores every row, since its rows are the
// frozen member list.
func recordedRows(b *v1alpha1.UserDisableBatch) int {
	n := len(b.Status.Users)
	if frozenRows(b) {
		return n
	}
	for n > 0 && unread(b.Status.Users[n-1]) {
		n--
	}
	return n
}

// outcome collects the batch-level consequence of the item errors of a
// wave: the longest Retry-After, or the error that stops the batch.
type outcome struct {
	throttled  time.Duration
	isThrottle bool
	// by429 is the Graph 429 among the throttled items, if any; else the
	// waits were the operator's own budget (no 429 to report).
	by429, byBudget *graph.Error
	forbidden       error
	fatal           error
	transient       error
}

func (o *outcome) note(err error) {
	switch graph.KindOf(err) {
	case graph.Throttled:
		o.isThrottle = true
		ra, _ := graph.IsThrottled(err)
		o.throttled = max(o.throttled, ra)
		var ge *graph.Error
		if errors.As(err, &ge) && ge.StatusCode == http.StatusTooManyRequests {
			o.by429 = ge
		} else if errors.As(err, &ge) {
			o.byBudget = ge
		}
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
		e := &graph.Error{Kind: graph.Throttled, RetryAfter: max(o.throttled, 10*time.Millisecond)}
		switch {
		case o.by429 != nil:
			e.StatusCode, e.Code, e.Message = o.by429.StatusCode, o.by429.Code, o.by429.Message
		case o.byBudget != nil:
			e.Code, e.Message = o.byBudget.Code, o.byBudget.Message
		}
		return batchError(e, "")
	case o.transient != nil:
		return batchError(o.transient, "calling Graph")
	}
	return nil
}

// batchError applies the operator's one Graph error policy
// (ctrlkit.FromGraph) to an error that concerns the whole batch. A stall
// fixed outside the cluster (a missing permission, a refused credential)
// keeps the batch Running and looks again later; see summarize.
func batchError(err error, doing string) error {
	return ctrlkit.FromGraph(err, ctrlkit.GraphOp{Doing: doing, Permissions: "User.EnableDisableAccount.All and User.Read.All"})
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

// confirmTodo lists the rows under confirmation, in row order.
func (ru *run) confirmTodo() []int {
	todo := make([]int, 0, len(ru.m.confirm))
	for i := range ru.m.confirm {
		todo = append(todo, i)
	}
	sort.Ints(todo)
	return todo
}
