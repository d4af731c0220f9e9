package directoryuser

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// A UserDisableBatch with spec.disableManaged disables users that
// DirectoryUsers manage. Before its PATCH it annotates the DirectoryUser
// (v1alpha1.HoldAnnotation = batch name); while the annotation is there the
// DirectoryUser leaves accountEnabled alone whatever its spec says: drift
// correction never re-enables the account, and the batch's PATCH stays the
// only write (the DirectoryUser does not race it with its own). Its Held
// condition says which batch holds it and how to release it. Removing the
// annotation is the release: the spec applies again (an explicit act, not
// drift).

// heldBy is the batch holding du disabled, or "".
func heldBy(du *v1alpha1.DirectoryUser) string {
	return du.Annotations[v1alpha1.HoldAnnotation]
}

// applyHold takes accountEnabled out of a held DirectoryUser's desired
// state, in memory (only status is ever written back). It reports whether the hold
// was set or released since the last reconcile, which must read Graph
// even when the drift watcher saw no change.
func applyHold(du *v1alpha1.DirectoryUser) (changed bool) {
	batch := heldBy(du)
	if released := du.Status.HeldBy; released != "" && released != batch {
		// The annotation went: that batch never holds this user again.
		du.Status.ReleasedHolds = append(du.Status.ReleasedHolds, released)
		if n := len(du.Status.ReleasedHolds); n > 10 {
			du.Status.ReleasedHolds = du.Status.ReleasedHolds[n-10:]
		}
	}
	du.Status.HeldBy = batch
	held := meta.IsStatusConditionTrue(du.Status.Conditions, v1alpha1.ConditionHeld)
	if batch != "" && !observeOnly(du) {
		du.Spec.AccountEnabled = nil
	}
	return (batch != "") != held
}

// setHeldCondition reports the hold, or removes the condition when there is none.
func setHeldCondition(du *v1alpha1.DirectoryUser) {
	batch := heldBy(du)
	if batch == "" || observeOnly(du) {
		meta.RemoveStatusCondition(&du.Status.Conditions, v1alpha1.ConditionHeld)
		return
	}
	msg := fmt.Sprintf("UserDisableBatch %q holds the account disabled: accountEnabled is not synced until released with: kubectl annotate directoryuser %s -n %s %s-",
		batch, du.Name, du.Namespace, v1alpha1.HoldAnnotation)
	ctrlkit.SetCondition(&du.Status.CommonStatus, du.Generation, v1alpha1.ConditionHeld, true, v1alpha1.ReasonHeld, msg)
}

// holdChanged passes DirectoryUser updates that set or remove a hold.
var holdChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetAnnotations()[v1alpha1.HoldAnnotation] != e.ObjectNew.GetAnnotations()[v1alpha1.HoldAnnotation]
	},
}

// A batch that did not know the DirectoryUser when it disabled the account
// (both applied together, or the DirectoryUser created afterwards) cannot
// have set the hold. The DirectoryUser then finds the batch itself before
// it would re-enable a disabled account, and takes the hold as if the batch
// had set it: an account a batch disabled is never silently re-enabled.
// Releasing (removing the annotation) records the batch in
// status.releasedHolds, so the same batch never holds it again.

// holdForBatch sets the hold when a UserDisableBatch of the same Directory
// disabled the live user and the spec would now re-enable it. It reports
// whether accountEnabled must be left alone.
func (r *Reconciler) holdForBatch(ctx context.Context, s *state) (bool, error) {
	du := s.du
	want := du.Spec.AccountEnabled
	if observeOnly(du) || want == nil || !*want || s.live.AccountEnabled == nil || *s.live.AccountEnabled {
		return false, nil
	}
	batch, err := r.disablingBatch(ctx, du, s.live.ID)
	if err != nil || batch == "" {
		return false, err
	}
	cp := du.DeepCopy()
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	cp.Annotations[v1alpha1.HoldAnnotation] = batch
	if err := r.Patch(ctx, cp, client.MergeFrom(du)); err != nil {
		return false, err
	}
	du.Annotations = cp.Annotations
	du.Status.HeldBy = batch
	du.Spec.AccountEnabled = nil
	log.FromContext(ctx).Info("Account disabled by a batch: held, not re-enabled", "batch", batch, "id", s.live.ID)
	r.event(du, corev1.EventTypeWarning, v1alpha1.ReasonHeld, "UpdateUser",
		"UserDisableBatch %s disabled this account: it is held disabled, not re-enabled; release with: kubectl annotate directoryuser %s -n %s %s-",
		batch, du.Name, du.Namespace, v1alpha1.HoldAnnotation)
	return true, nil
}

// disabledIDIndex maps a UserDisableBatch to the lower-case IDs of the
// users its rows say it disabled (or is due to: a Pending row recorded as
// read enabled may have been written already, the batch writes it only
// after recording that). A DirectoryUser about to re-enable an account
// then finds the batch with one index lookup, instead of copying every
// batch of the namespace with its up to 10,000 rows and scanning them, on
// each such reconcile (10,000 drift reverts after a batch would have been
// quadratic).
const disabledIDIndex = "userdisablebatch.disabled-id"

func indexDisabledIDs(o client.Object) []string {
	b := o.(*v1alpha1.UserDisableBatch)
	if b.Spec.DryRun {
		return nil
	}
	var ids []string
	for _, row := range b.Status.Users {
		due := row.Outcome == v1alpha1.OutcomePending && row.AccountEnabledBefore != nil && *row.AccountEnabledBefore
		if row.Outcome == v1alpha1.OutcomeDisabled || due {
			ids = append(ids, strings.ToLower(row.ID))
		}
	}
	return ids
}

// disablingBatch names a UserDisableBatch of du's Directory that disabled
// (or is due to disable) the user id, leaving out released ones and ones a
// UserEnableBatch undoes (the undo enables the account, and a hold taken
// for the batch now would keep it disabled against the undo).
func (r *Reconciler) disablingBatch(ctx context.Context, du *v1alpha1.DirectoryUser, id string) (string, error) {
	var list v1alpha1.UserDisableBatchList
	// Read-only use of the cache's objects: a batch is large.
	if err := r.List(ctx, &list, client.InNamespace(du.Namespace), client.MatchingFields{disabledIDIndex: strings.ToLower(id)},
		client.UnsafeDisableDeepCopy); err != nil {
		return "", err
	}
	var undone map[string]bool
	for i := range list.Items {
		b := &list.Items[i]
		if b.Spec.DirectoryRef.Name != du.Spec.DirectoryRef.Name || slices.Contains(du.Status.ReleasedHolds, b.Name) {
			continue
		}
		if undone == nil {
			var err error
			if undone, err = r.undoneBatches(ctx, du.Namespace); err != nil {
				return "", err
			}
		}
		if !undone[b.Name] {
			return b.Name, nil
		}
	}
	return "", nil
}

// undoneBatches are the UserDisableBatches a (not dry-run) UserEnableBatch
// of the namespace undoes.
func (r *Reconciler) undoneBatches(ctx context.Context, ns string) (map[string]bool, error) {
	var list v1alpha1.UserEnableBatchList
	if err := r.List(ctx, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	undone := map[string]bool{}
	for _, e := range list.Items {
		if e.Spec.FromBatch != "" && !e.Spec.DryRun {
			undone[e.Spec.FromBatch] = true
		}
	}
	return undone, nil
}
