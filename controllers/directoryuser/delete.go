package directoryuser

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// deletionRetry is how often a deletion that hit a condition only a human
// can fix (a missing permission) tries again: the resource must not hang
// forever without anyone noticing a condition change.
const deletionRetry = time.Minute

// reconcileDelete applies the deletion policy, then releases the finalizer.
func (r *Reconciler) reconcileDelete(ctx context.Context, du *v1alpha1.DirectoryUser) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(du, Finalizer) {
		return ctrl.Result{}, nil
	}
	before := du.DeepCopy()
	err := r.finalize(ctx, du)
	if err == nil {
		controllerutil.RemoveFinalizer(du, Finalizer)
		return ctrl.Result{}, client.IgnoreNotFound(r.Update(ctx, du))
	}
	var stalled *ctrlkit.StalledError
	if errors.As(err, &stalled) {
		err = ctrlkit.Waiting(deletionRetry, stalled.Reason, "%s", stalled.Error())
	}
	ctrlkit.Summarize(&du.Status.CommonStatus, du.Generation, err, "")
	var waiting *ctrlkit.WaitingError
	if !errors.As(err, &waiting) {
		log.FromContext(ctx).Error(err, "Deleting user failed", "id", du.Status.ID)
	} else if waiting.Reason == v1alpha1.ReasonDeletionHeld && !hasReadyReason(before, v1alpha1.ReasonDeletionHeld) {
		log.FromContext(ctx).Info("Deletion held back", "id", du.Status.ID, "message", waiting.Message)
		r.event(du, corev1.EventTypeWarning, v1alpha1.ReasonDeletionHeld, "DeleteUser", "%s", waiting.Message)
	}
	if perr := ctrlkit.PatchStatus(ctx, r.Client, du, before); perr != nil {
		return ctrl.Result{}, client.IgnoreNotFound(perr)
	}
	return ctrlkit.Result(err, 0)
}

// finalize does what the deletion policy says in Graph. nil means the
// finalizer may go.
func (r *Reconciler) finalize(ctx context.Context, du *v1alpha1.DirectoryUser) error {
	l := log.FromContext(ctx)
	id := du.Status.ID
	policy := du.Spec.DeletionPolicy
	if id == "" && du.Status.CreatePending != nil && !observeOnly(du) && policy != v1alpha1.DeletionOrphan {
		// A create may have reached Graph without its ID being recorded:
		// find the user it made, so the policy applies to it too.
		var err error
		if id, err = r.pendingUserID(ctx, du); err != nil {
			return err
		}
	}
	switch {
	case id == "":
		// Nothing was created or adopted.
		return nil
	case observeOnly(du) || policy == v1alpha1.DeletionOrphan:
		l.Info("Left user in Graph", "id", id, "policy", policy)
		return nil
	}
	if other, err := r.otherHolder(ctx, du, id); err != nil || other != "" {
		if other != "" {
			l.Info("Left user in Graph: another DirectoryUser manages it", "id", id, "other", other)
		}
		return err
	}
	conn, err := r.Connector.Connect(ctx, du.Namespace, du.Spec.DirectoryRef)
	if err != nil {
		var w *ctrlkit.WaitingError
		if errors.As(err, &w) && w.Reason == v1alpha1.ReasonDirectoryNotFound {
			// Without its Directory the user cannot be reached; holding the
			// resource would block namespace deletion forever.
			l.Info("Left user in Graph: Directory is gone", "id", id, "directory", du.Spec.DirectoryRef.Name)
			r.event(du, corev1.EventTypeWarning, v1alpha1.ReasonDirectoryNotFound, "DeleteUser",
				"Directory %q no longer exists; user %s was left in Graph", du.Spec.DirectoryRef.Name, id)
			return nil
		}
		return err
	}
	if conn.Safety.Protected(id, du.Status.UserPrincipalName, du.Spec.UserPrincipalName) {
		l.Info("Left protected user in Graph", "id", id, "upn", du.Spec.UserPrincipalName)
		r.event(du, corev1.EventTypeWarning, v1alpha1.ReasonProtectedUser, "DeleteUser",
			"%s is a protected user of Directory %q; it was neither deleted nor disabled", du.Spec.UserPrincipalName, du.Spec.DirectoryRef.Name)
		return nil
	}

	switch policy {
	case v1alpha1.DeletionDisable:
		off := false
		err := conn.Graph.UpdateUser(ctx, id, graph.UserUpdate{AccountEnabled: &off})
		if err != nil && !graph.IsNotFound(err) {
			return graphError(err, "disabling user "+id)
		}
		l.Info("Disabled user", "id", id, "upn", du.Status.UserPrincipalName)
		r.event(du, corev1.EventTypeNormal, v1alpha1.ReasonSucceeded, "DisableUser", "Disabled user %s (id %s)", du.Status.UserPrincipalName, id)
	default:
		if r.Deletions != nil {
			ok, wait, err := r.Deletions.Allow(ctx, conn.Directory)
			if err != nil {
				return err
			}
			if !ok {
				limit := connection.MaxDeletionsPerHour(conn.Directory)
				wait = max(wait, time.Second)
				return ctrlkit.Waiting(wait, v1alpha1.ReasonDeletionHeld,
					"Directory %q allows %d deletions per hour; deleting user %s in %s", conn.Directory.Name, limit, id, wait.Round(time.Second))
			}
		}
		err := conn.Graph.DeleteUser(ctx, id)
		if err != nil && !graph.IsNotFound(err) {
			return graphError(err, "deleting user "+id)
		}
		l.Info("Deleted user", "id", id, "upn", du.Status.UserPrincipalName)
		r.event(du, corev1.EventTypeNormal, v1alpha1.ReasonSucceeded, "DeleteUser", "Deleted user %s (id %s)", du.Status.UserPrincipalName, id)
	}
	return nil
}

func hasReadyReason(du *v1alpha1.DirectoryUser, reason string) bool {
	for _, c := range du.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c.Reason == reason
		}
	}
	return false
}

// otherHolder names another live DirectoryUser bound to the same user (two
// resources claiming one UPN, from before conflicts were refused): deleting
// one of them must never delete or disable the other's user.
func (r *Reconciler) otherHolder(ctx context.Context, du *v1alpha1.DirectoryUser, id string) (string, error) {
	var list v1alpha1.DirectoryUserList
	if err := r.List(ctx, &list, client.InNamespace(du.Namespace), client.MatchingFields{idIndex: id}); err != nil {
		return "", err
	}
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID != du.UID && o.DeletionTimestamp.IsZero() && o.Spec.DirectoryRef.Name == du.Spec.DirectoryRef.Name {
			return o.Name, nil
		}
	}
	return "", nil
}
