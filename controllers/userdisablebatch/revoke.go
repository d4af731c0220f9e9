package userdisablebatch

import (
	"context"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// revokeDue is a row this batch disabled whose sessions are still to revoke.
func (ru *run) revokeDue(row v1alpha1.BatchUserResult) bool {
	return ru.b.Spec.RevokeSessions && !ru.b.Spec.DryRun &&
		row.Outcome == v1alpha1.OutcomeDisabled && row.SessionsRevoked == nil
}

// revoke revokes the sign-in sessions of the rows this batch disabled. A
// row that fails on its own is retried on its own (revoking twice is
// harmless); throttling and a missing permission end the reconcile.
func (ru *run) revoke(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := ru.r.now()
		var todo []int
		for i, row := range ru.b.Status.Users {
			if ru.revokeDue(row) && ru.rowReady(i, now) {
				todo = append(todo, i)
			}
		}
		if ru.sliceOver() {
			return nil
		}
		if len(todo) == 0 {
			if err := ru.waitForRetries(ctx); err != nil || ru.nextRetry().IsZero() {
				return err
			}
			continue
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
			res, _ := ru.gc.RevokeSignInSessionsMany(ctx, ids)
			return res
		})
		var o outcome
		for c, chunk := range chunks {
			for k, i := range chunk {
				if k >= len(results[c]) {
					ru.retryLater(i)
					continue
				}
				ru.applyRevoke(i, results[c][k].Err, &o)
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

func (ru *run) applyRevoke(i int, err error, o *outcome) {
	row := &ru.b.Status.Users[i]
	switch kind := graph.KindOf(err); {
	case err == nil:
		delete(ru.m.retry, i)
		row.SessionsRevoked = ptr(true)
	case kind == graph.NotFound || kind == graph.Invalid || kind == graph.Forbidden:
		// Revoking again is harmless, but these answers will not change.
		delete(ru.m.retry, i)
		row.SessionsRevoked, row.Message = ptr(false), "revoking sessions failed: "+errMessage(err)
	case kind == graph.Throttled || kind == graph.Unauthorized:
		o.note(err)
	default:
		ru.retryLater(i)
	}
}
