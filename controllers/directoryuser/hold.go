package directoryuser

import (
	"fmt"

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
