package directory

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// blockedRecheck is how often a Directory whose deletion waits looks at its
// dependents again without a watch event (a dependent's deletion triggers
// it at once; this only bounds what a missed event can cost).
const blockedRecheck = 30 * time.Second

// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directories,verbs=update;patch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directories/finalizers,verbs=update
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directoryusers;userdisablebatches;groupsyncs,verbs=get;list;watch

// ensureFinalizer adds the deletion-protection finalizer to a live
// Directory, so deleting it waits for its dependents.
func (r *Reconciler) ensureFinalizer(ctx context.Context, dir *v1alpha1.Directory) error {
	if controllerutil.ContainsFinalizer(dir, v1alpha1.DirectoryFinalizer) {
		return nil
	}
	base := dir.DeepCopy()
	controllerutil.AddFinalizer(dir, v1alpha1.DirectoryFinalizer)
	return r.Patch(ctx, dir, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// reconcileDelete releases a deleted Directory once nothing references it.
// Until then the Directory stays fully usable: dependents being deleted run
// their deletion policies through it (internal/connection refuses only a
// Directory that is not Ready, and deletion does not change Ready), and the
// health check goes on when due so that Ready stays true to the facts.
func (r *Reconciler) reconcileDelete(ctx context.Context, dir *v1alpha1.Directory) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(dir, v1alpha1.DirectoryFinalizer) {
		return ctrl.Result{}, nil
	}
	deps, err := ListDependents(ctx, r.Client, dir)
	if err != nil {
		return ctrl.Result{}, err
	}
	if deps.Total() == 0 {
		return ctrl.Result{}, r.release(ctx, dir)
	}
	before := dir.DeepCopy()
	var checkErr error
	if r.checkDue(dir) {
		checkErr = r.check(ctx, dir)
		ctrlkit.Summarize(&dir.Status.CommonStatus, dir.Generation, checkErr, r.readyMessage(dir))
	}
	msg := "deletion waits for " + deps.String() + " referencing this Directory; delete them (or set their deletionPolicy to Orphan and delete them) to let it go"
	if !meta.IsStatusConditionTrue(before.Status.Conditions, v1alpha1.ConditionDeletionBlocked) && r.Recorder != nil {
		r.Recorder.Eventf(dir, nil, corev1.EventTypeNormal, v1alpha1.ReasonDependentsExist, "Delete", "%s", msg)
	}
	ctrlkit.SetCondition(&dir.Status.CommonStatus, dir.Generation, v1alpha1.ConditionDeletionBlocked, true, v1alpha1.ReasonDependentsExist, msg)
	if perr := ctrlkit.PatchStatus(ctx, r.Client, dir, before); perr != nil {
		return ctrl.Result{}, client.IgnoreNotFound(perr)
	}
	res, err := ctrlkit.Result(checkErr, blockedRecheck)
	if res.RequeueAfter == 0 || res.RequeueAfter > blockedRecheck {
		res.RequeueAfter = blockedRecheck
	}
	return res, err
}

// checkDue says whether the health check's interval has passed.
func (r *Reconciler) checkDue(dir *v1alpha1.Directory) bool {
	last := dir.Status.LastCheckTime
	return last == nil || !meta.IsStatusConditionTrue(dir.Status.Conditions, v1alpha1.ConditionReady) ||
		r.now().Sub(last.Time) >= interval(dir)
}

// release removes the finalizer and forgets the Directory's client.
func (r *Reconciler) release(ctx context.Context, dir *v1alpha1.Directory) error {
	base := dir.DeepCopy()
	controllerutil.RemoveFinalizer(dir, v1alpha1.DirectoryFinalizer)
	if err := r.Patch(ctx, dir, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.Clients.Drop(dir.Namespace + "/" + dir.Name)
	log.FromContext(ctx).Info("Directory released: no resource references it any more")
	return nil
}

// watchDependents makes every dependent kind's deletion wake the Directory
// it references, so a blocked deletion ends as soon as the last one goes.
func (r *Reconciler) watchDependents(b *builder.TypedBuilder[reconcile.Request]) *builder.TypedBuilder[reconcile.Request] {
	for _, k := range DependentKinds {
		b = b.Watches(k.Object.DeepCopyObject().(client.Object), handler.EnqueueRequestsFromMapFunc(directoryOfDependent), builder.WithPredicates(dependentGone))
	}
	return b
}

func directoryOfDependent(_ context.Context, o client.Object) []reconcile.Request {
	ref, ok := DirectoryRefOf(o)
	if !ok || ref.Name == "" || ref.IsCluster() {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: ref.Name}}}
}

// dependentGone passes deletions only: a dependent that goes is what a
// blocked Directory waits for; nothing else of a dependent concerns it.
var dependentGone = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// deletionStarted passes the update that sets deletionTimestamp, whatever
// happens to the generation.
var deletionStarted = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}
