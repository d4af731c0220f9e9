package directoryuser

import (
	"context"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Create idempotence lives in the API server, not in this process: a
// create-pending record (status.createPending) is written before every
// POST /users and cleared only when the user's ID is bound to the resource.
// Whatever happens between the two (a 504 that Graph applied anyway, a lost
// answer, a kill -9, a failed status write), the next reconcile sees the
// record and looks the UPN up instead of posting again:
//   - a user created after the first attempt is this resource's own: bound;
//   - a user created before it existed already: UserExists (or adopt);
//   - no user while the last unanswered POST is recent: replication lag, wait;
//   - no user after that: the POST did not apply, so POST again.

// create makes the user with one POST. The password Secret exists before
// the POST (a crash cannot lose the password), the pending record before
// the POST (a crash cannot create a second user), and the returned ID is
// written to status right after it.
func (r *Reconciler) create(ctx context.Context, s *state) error {
	du := s.du
	password, forceChange, err := r.initialPassword(ctx, du)
	if err != nil {
		return err
	}
	nu := newUser(du, password, forceChange)
	if err := r.markPending(ctx, s); err != nil {
		return err
	}
	u, err := s.gc.CreateUser(ctx, nu)
	if err != nil {
		return r.createFailed(ctx, s, err)
	}
	fillCreated(&u, nu)
	s.live, s.found, s.created = u, true, true
	du.Status.ID, du.Status.CreatePending = u.ID, nil
	du.Status.CreatedDateTime = metaTime(u.CreatedDateTime)
	if du.Status.CreatedDateTime == nil {
		now := metav1.NewTime(r.now().Truncate(time.Second))
		du.Status.CreatedDateTime = &now
	}
	return r.recordID(ctx, s)
}

// markPending persists the pending record before a POST. The patch carries
// the resourceVersion it was computed from: if the cached object was stale
// (a record written by an earlier attempt not seen yet), it fails and the
// reconcile starts again from the current object instead of posting.
func (r *Reconciler) markPending(ctx context.Context, s *state) error {
	du := s.du
	now := metav1.NewTime(r.now().Truncate(time.Second))
	p := du.Status.CreatePending
	if p == nil || p.UserPrincipalName != du.Spec.UserPrincipalName {
		p = &v1alpha1.CreatePending{UserPrincipalName: du.Spec.UserPrincipalName, FirstAttempt: now}
	}
	p.LastAttempt = &now
	du.Status.CreatePending = p
	if err := r.Status().Patch(ctx, du, client.MergeFromWithOptions(s.before, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	s.before = du.DeepCopy()
	return nil
}

// createFailed decides what a failed POST means. Only an answer that proves
// the POST was not applied clears its lastAttempt; the record itself stays
// until a lookup binds or refuses a user, so an earlier unanswered attempt
// is never forgotten.
func (r *Reconciler) createFailed(ctx context.Context, s *state, err error) error {
	du := s.du
	p := du.Status.CreatePending
	switch graph.KindOf(err) {
	case graph.Transient, graph.Unknown:
		log.FromContext(ctx).Info("Create answer lost; the user is looked up by UPN before any new POST",
			"upn", p.UserPrincipalName, "error", err.Error())
		return ctrlkit.Waiting(ctrlkit.Jitter(orDefault(r.LagRetry, DefaultLagRetry), 0.2), v1alpha1.ReasonReplicationLag,
			"creating user %s got no clear answer (%v); checking whether Graph applied it", p.UserPrincipalName, err)
	case graph.Conflict:
		// The UPN is taken: by an earlier attempt of ours not readable yet,
		// or by someone else. The lookup tells them apart once it is visible.
		return ctrlkit.Waiting(ctrlkit.Jitter(orDefault(r.LagRetry, DefaultLagRetry), 0.2), v1alpha1.ReasonReplicationLag,
			"userPrincipalName %s was taken while creating the user; looking again", p.UserPrincipalName)
	}
	p.LastAttempt = nil
	return graphError(err, "creating user "+du.Spec.UserPrincipalName)
}

// resolvePending finds out what an earlier POST did before anything else is
// sent (see the comment at the top of this file).
func (r *Reconciler) resolvePending(ctx context.Context, s *state, p *v1alpha1.CreatePending) error {
	du := s.du
	u, err := s.gc.GetUser(ctx, p.UserPrincipalName)
	switch {
	case err == nil && ownCreation(u, p):
		log.FromContext(ctx).Info("Bound user created by an earlier attempt", "upn", u.UserPrincipalName, "id", u.ID)
		s.live, s.found, s.created = u, true, true
		du.Status.ID, du.Status.CreatePending = u.ID, nil
		du.Status.CreatedDateTime = metaTime(u.CreatedDateTime)
		return r.recordID(ctx, s)
	case err == nil:
		// The user predates every attempt of ours: not ours to take
		// unless spec.adopt says so.
		du.Status.CreatePending = nil
		return r.adopt(ctx, s, u)
	case !graph.IsNotFound(err):
		return graphError(err, "looking up user "+p.UserPrincipalName)
	case r.pendingRecent(p):
		return ctrlkit.Waiting(ctrlkit.Jitter(orDefault(r.LagRetry, DefaultLagRetry), 0.2), v1alpha1.ReasonReplicationLag,
			"a create of %s may have reached Graph; waiting for it to become readable before deciding", p.UserPrincipalName)
	case p.UserPrincipalName != du.Spec.UserPrincipalName:
		// The pending UPN never appeared and the spec moved on: look the
		// new UPN up as for any first create.
		du.Status.CreatePending = nil
		return r.findOrCreate(ctx, s)
	}
	return r.create(ctx, s)
}

// ownCreation says whether u was created by one of the pending attempts.
func ownCreation(u graph.User, p *v1alpha1.CreatePending) bool {
	return u.CreatedDateTime != nil && !u.CreatedDateTime.Before(p.FirstAttempt.Add(-createClockSkew))
}

// pendingRecent says whether a POST of unknown outcome may still become
// readable (Graph replication lag).
func (r *Reconciler) pendingRecent(p *v1alpha1.CreatePending) bool {
	return p.LastAttempt != nil && r.now().Sub(p.LastAttempt.Time) < orDefault(r.CreateSettle, DefaultCreateSettle)
}

// pendingUserID finds the user a pending create made, for a resource being
// deleted before the ID was recorded. "" means no such user exists.
func (r *Reconciler) pendingUserID(ctx context.Context, du *v1alpha1.DirectoryUser) (string, error) {
	p := du.Status.CreatePending
	conn, err := r.Connector.Connect(ctx, du.Namespace, du.Spec.DirectoryRef)
	if err != nil {
		var w *ctrlkit.WaitingError
		if errors.As(err, &w) && w.Reason == v1alpha1.ReasonDirectoryNotFound {
			return "", nil
		}
		return "", err
	}
	u, err := conn.Graph.GetUser(ctx, p.UserPrincipalName)
	switch {
	case err == nil && ownCreation(u, p):
		return u.ID, nil
	case err == nil:
		return "", nil
	case !graph.IsNotFound(err):
		return "", graphError(err, "looking up user "+p.UserPrincipalName)
	case r.pendingRecent(p):
		return "", ctrlkit.Waiting(ctrlkit.Jitter(orDefault(r.LagRetry, DefaultLagRetry), 0.2), v1alpha1.ReasonReplicationLag,
			"a create of %s may have reached Graph; waiting for it to become readable before deleting", p.UserPrincipalName)
	}
	return "", nil
}
