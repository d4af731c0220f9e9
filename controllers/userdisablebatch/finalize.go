package userdisablebatch

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// A batch carries BatchFinalizer from before its first write until its
// audit export is written: when it finishes, or, when it is deleted while
// running, once its writes have stopped (at the next wave) and the writes
// whose answer was lost are confirmed. The export then says which rows were
// done and which were not.

// ensureFinalizer adds the finalizer with a patch of metadata only (an
// update would send the whole status back).
func (r *Reconciler) ensureFinalizer(ctx context.Context, b *v1alpha1.UserDisableBatch) error {
	if !b.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(b, v1alpha1.BatchFinalizer) {
		return nil
	}
	before := b.DeepCopy()
	controllerutil.AddFinalizer(b, v1alpha1.BatchFinalizer)
	return r.patchMeta(ctx, b, before)
}

// finalize writes the audit export of a finished or deleted batch (once
// for a finished one) and removes the finalizer.
func (r *Reconciler) finalize(ctx context.Context, b *v1alpha1.UserDisableBatch, deleted bool) error {
	if b.Status.Export == nil || (deleted && !finished(b.Status.Phase)) {
		summary := completionMessage(r.kind().op, b)
		if !finished(b.Status.Phase) {
			summary = "deleted while running; " + progressMessage(r.kind().op, b)
		}
		exp, err := r.writeAudit(ctx, auditTarget{
			obj: r.kind().object(b), kind: r.kind().name, directory: b.Spec.DirectoryRef.Name, rows: b.Status.Users,
			retention: retention(b.Spec.ExportRetention), summary: summary, deleted: deleted,
		})
		var stalled *ctrlkit.StalledError
		switch {
		case asStalled(err, &stalled) && stalled.Reason == v1alpha1.ReasonExportConflict && nothingWritten(b):
			// Another batch's audit trail holds the name, and this one
			// wrote nothing: it goes without an export rather than stay
			// stuck, and says so.
			r.event(b, corev1.EventTypeWarning, stalled.Reason, stalled.Message)
		case err != nil:
			return fmt.Errorf("writing the audit export: %w", err)
		default:
			before := b.DeepCopy()
			b.Status.Export = exp
			if err := r.patchStatus(ctx, b, before); err != nil {
				return client.IgnoreNotFound(err)
			}
		}
	}
	if err := r.notify(ctx, b); err != nil {
		if !deleted {
			return fmt.Errorf("sending the notice: %w", err)
		}
		// A deleted batch is not held for its notice.
		log.FromContext(ctx).Error(err, "Sending the notice of a deleted batch failed")
	}
	if !controllerutil.ContainsFinalizer(b, v1alpha1.BatchFinalizer) {
		return nil
	}
	before := b.DeepCopy()
	controllerutil.RemoveFinalizer(b, v1alpha1.BatchFinalizer)
	return client.IgnoreNotFound(r.patchMeta(ctx, b, before))
}

func retention(d *metav1.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return v1alpha1.DefaultExportRetention
	}
	return d.Duration
}

// deletionRequested checks (through the cache, at most once a second)
// whether the batch is being deleted, so that a running reconcile stops
// writing at the next wave rather than at the end of its time slice.
func (ru *run) deletionRequested(ctx context.Context) bool {
	now := ru.r.now()
	if ru.stopping || now.Sub(ru.lastDeletionCheck) < time.Second {
		return ru.stopping
	}
	ru.lastDeletionCheck = now
	// Only metadata is read: no deep copy of thousands of rows.
	cur := ru.r.kind().newObject()
	if err := ru.r.Get(ctx, client.ObjectKeyFromObject(ru.b), cur, client.UnsafeDisableDeepCopy); err != nil {
		return false
	}
	ru.stopping = !cur.GetDeletionTimestamp().IsZero()
	return ru.stopping
}

// deletionStarted passes the update that sets deletionTimestamp.
var deletionStarted = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
	},
}

// nothingWritten reports whether no row of b was (or may have been) written.
func nothingWritten(b *v1alpha1.UserDisableBatch) bool {
	for _, row := range b.Status.Users {
		switch {
		case row.Outcome == v1alpha1.OutcomeDisabled || row.Outcome == v1alpha1.OutcomeEnabled:
			return false
		case row.Outcome == v1alpha1.OutcomePending && row.AccountEnabledBefore != nil:
			return false
		}
	}
	return true
}
