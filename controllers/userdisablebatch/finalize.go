package userdisablebatch

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
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
	patch := client.MergeFrom(b.DeepCopy())
	controllerutil.AddFinalizer(b, v1alpha1.BatchFinalizer)
	return r.Patch(ctx, b, patch)
}

// finalize writes the audit export of a finished or deleted batch (once
// for a finished one) and removes the finalizer.
func (r *Reconciler) finalize(ctx context.Context, b *v1alpha1.UserDisableBatch, deleted bool) error {
	if b.Status.Export == nil || (deleted && !finished(b.Status.Phase)) {
		summary := completionMessage(b)
		if !finished(b.Status.Phase) {
			summary = "deleted while running; " + progressMessage(b)
		}
		exp, err := r.writeAudit(ctx, auditTarget{
			obj: b, kind: "UserDisableBatch", directory: b.Spec.DirectoryRef.Name, rows: b.Status.Users,
			retention: retention(b.Spec.ExportRetention), summary: summary, deleted: deleted,
		})
		if err != nil {
			return fmt.Errorf("writing the audit export: %w", err)
		}
		patch := client.MergeFrom(b.DeepCopy())
		b.Status.Export = exp
		if err := r.Status().Patch(ctx, b, patch); err != nil {
			return client.IgnoreNotFound(err)
		}
	}
	if !controllerutil.ContainsFinalizer(b, v1alpha1.BatchFinalizer) {
		return nil
	}
	patch := client.MergeFrom(b.DeepCopy())
	controllerutil.RemoveFinalizer(b, v1alpha1.BatchFinalizer)
	return client.IgnoreNotFound(r.Patch(ctx, b, patch))
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
	cur := &v1alpha1.UserDisableBatch{}
	if err := ru.r.Get(ctx, client.ObjectKeyFromObject(ru.b), cur, client.UnsafeDisableDeepCopy); err != nil {
		return false
	}
	ru.stopping = !cur.DeletionTimestamp.IsZero()
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
