package directory

import (
	"context"
	"k8s.io/utils/clock"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// ClusterReconciler reconciles ClusterDirectory: the Directory health check
// (token, permissions, GET /organization, budgets) run on the
// ClusterDirectory's Directory view, whose Secrets are in its
// credentialNamespace, with the same deletion protection over dependents in
// every namespace.
type ClusterReconciler struct {
	client.Client
	// Dialer and Clients as for Reconciler.
	Dialer   connection.Dialer[Graph]
	Clients  Clients
	Recorder events.EventRecorder
	// Clock tells the time (default: the real clock); tests inject a fake.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=clusterdirectories,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=clusterdirectories/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=clusterdirectories/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile checks one ClusterDirectory.
func (r *ClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cd := &v1alpha1.ClusterDirectory{}
	if err := r.Get(ctx, req.NamespacedName, cd); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cd.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, cd)
	}
	if !controllerutil.ContainsFinalizer(cd, v1alpha1.DirectoryFinalizer) {
		base := cd.DeepCopy()
		controllerutil.AddFinalizer(cd, v1alpha1.DirectoryFinalizer)
		if err := r.Patch(ctx, cd, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	before := cd.DeepCopy()
	view, err := r.check(ctx, cd)
	cd.Status = view.Status
	if perr := ctrlkit.PatchStatus(ctx, r.Client, cd, before); perr != nil {
		return ctrl.Result{}, perr
	}
	return ctrlkit.Result(err, interval(view))
}

// check runs the Directory health check on cd's Directory view and
// summarizes it there.
func (r *ClusterReconciler) check(ctx context.Context, cd *v1alpha1.ClusterDirectory) (*v1alpha1.Directory, error) {
	d := &Reconciler{Client: r.Client, Dialer: r.Dialer, Clients: r.Clients, Clock: r.Clock}
	view := connection.AsDirectory(cd)
	err := d.check(ctx, view)
	if forgetClient(err) {
		r.Clients.Forget(connection.Key(view))
	}
	ctrlkit.Summarize(&view.Status.CommonStatus, cd.Generation, err, d.readyMessage(view))
	return view, err
}

// reconcileDelete releases a deleted ClusterDirectory once no resource in
// any namespace references it; until then it stays usable and says what it
// waits for, as a Directory does.
func (r *ClusterReconciler) reconcileDelete(ctx context.Context, cd *v1alpha1.ClusterDirectory) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cd, v1alpha1.DirectoryFinalizer) {
		return ctrl.Result{}, nil
	}
	deps, err := ListClusterDependents(ctx, r.Client, cd.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if deps.Total() == 0 {
		base := cd.DeepCopy()
		controllerutil.RemoveFinalizer(cd, v1alpha1.DirectoryFinalizer)
		if err := r.Patch(ctx, cd, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		r.Clients.Drop(connection.Key(connection.AsDirectory(cd)))
		return ctrl.Result{}, nil
	}
	before := cd.DeepCopy()
	if !meta.IsStatusConditionTrue(cd.Status.Conditions, v1alpha1.ConditionReady) {
		view, _ := r.check(ctx, cd)
		cd.Status = view.Status
	}
	ctrlkit.SetCondition(&cd.Status.CommonStatus, cd.Generation, v1alpha1.ConditionDeletionBlocked, true, v1alpha1.ReasonDependentsExist,
		"deletion waits for "+deps.String()+" referencing this ClusterDirectory; delete them (or set their deletionPolicy to Orphan and delete them) to let it go")
	if perr := ctrlkit.PatchStatus(ctx, r.Client, cd, before); perr != nil {
		return ctrl.Result{}, client.IgnoreNotFound(perr)
	}
	return ctrl.Result{RequeueAfter: blockedRecheck}, nil
}

// SetupWithManager registers the controller; dependents' deletions wake
// the ClusterDirectory they reference.
func (r *ClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ClusterDirectory{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, deletionStarted))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.forSecret))
	for _, k := range DependentKinds {
		b = b.Watches(k.Object.DeepCopyObject().(client.Object), handler.EnqueueRequestsFromMapFunc(clusterDirectoryOfDependent),
			builder.WithPredicates(dependentGone))
	}
	return b.Named("clusterdirectory").Complete(r)
}

// forSecret maps a changed Secret (a rotated credential) to the
// ClusterDirectories that read it.
func (r *ClusterReconciler) forSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.ClusterDirectoryList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		cd := &list.Items[i]
		if cd.Spec.CredentialNamespace == o.GetNamespace() && slices.Contains(secretNames(connection.AsDirectory(cd)), o.GetName()) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: cd.Name}})
		}
	}
	return reqs
}

func clusterDirectoryOfDependent(_ context.Context, o client.Object) []reconcile.Request {
	ref, ok := DirectoryRefOf(o)
	if !ok || !ref.IsCluster() {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: ref.Name}}}
}
