package userdisablebatch

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// An undo neither fights a DirectoryUser nor is reverted by one. For a user
// a Full-policy DirectoryUser of the Directory manages:
//   - its spec wants the account disabled: Managed, not written (the
//     DirectoryUser would disable it again);
//   - it is held disabled by another batch: Managed, not written (that
//     batch's hold stands until someone releases it);
//   - it is held by the source batch (or not held): the undo releases the
//     source batch's hold (removes the annotation) before its PATCH. The
//     DirectoryUser then records the batch in status.releasedHolds, so that
//     batch never holds it again, and applies its spec, which wants the
//     account enabled like the undo: both write the same value.
// A DirectoryUser also never takes a hold for a batch a UserEnableBatch
// undoes (see directoryuser's disablingBatch), so nothing disables the
// account again after the undo.

// enableManagedNote is managedNote for an undo.
func (ru *run) enableManagedNote(u graph.User, given string) string {
	name := ru.managedBy(u.ID, u.UserPrincipalName, given)
	du := ru.dus[name]
	if du == nil {
		return ""
	}
	hold := du.Annotations[v1alpha1.HoldAnnotation]
	switch {
	case du.Spec.AccountEnabled != nil && !*du.Spec.AccountEnabled:
		return fmt.Sprintf("managed by DirectoryUser %s, whose spec.accountEnabled is false: it would disable the account again; not enabled", name)
	case hold != "" && hold != ru.from:
		return fmt.Sprintf("held disabled by UserDisableBatch %s through DirectoryUser %s; not enabled (release with: kubectl annotate directoryuser %s -n %s %s-)",
			hold, name, name, ru.b.Namespace, v1alpha1.HoldAnnotation)
	}
	return ""
}

func releasedMessage(du, from string) string {
	if from == "" {
		return "managed by DirectoryUser " + du + ", which wants it enabled too"
	}
	return fmt.Sprintf("hold of UserDisableBatch %s on DirectoryUser %s released", from, du)
}

// releaseHolds removes the source batch's hold from the DirectoryUsers of
// the managed rows about to be written, before their PATCH, and returns the
// rows that may be written: a row whose hold could not be released waits
// for the next wave (else the DirectoryUser would keep reporting a hold on
// an enabled account).
func (ru *run) releaseHolds(ctx context.Context, rows []int) []int {
	if ru.from == "" {
		return rows
	}
	return ru.forManagers(ctx, rows, ru.release)
}

// release removes the hold annotation when it names the source batch. The
// patch is conditional on the resourceVersion read, so a hold another batch
// placed meanwhile is never removed.
func (ru *run) release(ctx context.Context, name string) error {
	du := &v1alpha1.DirectoryUser{}
	if err := ru.r.APIReader.Get(ctx, client.ObjectKey{Namespace: ru.b.Namespace, Name: name}, du); err != nil {
		return client.IgnoreNotFound(err)
	}
	if du.Annotations[v1alpha1.HoldAnnotation] != ru.from {
		return nil
	}
	patch := client.MergeFromWithOptions(du.DeepCopy(), client.MergeFromWithOptimisticLock{})
	delete(du.Annotations, v1alpha1.HoldAnnotation)
	if err := ru.r.Patch(ctx, du, patch); err != nil {
		return err
	}
	log.FromContext(ctx).Info("Released the source batch's hold", "directoryUser", name, "batch", ru.from)
	return nil
}
