package directoryuser

import (
	"context"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// upnIndex maps "<directory>/<lower-case UPN>" to the DirectoryUsers that
// claim that UPN, so two resources never manage one Entra user.
const upnIndex = "directoryuser.directory+upn"

func upnKey(du *v1alpha1.DirectoryUser) string {
	return du.Spec.DirectoryRef.Name + "/" + strings.ToLower(du.Spec.UserPrincipalName)
}

func indexUPN(o client.Object) []string {
	return []string{upnKey(o.(*v1alpha1.DirectoryUser))}
}

// claimConflict stalls a DirectoryUser whose UPN another resource of the
// same Directory holds. Exactly one claimant wins, by a rule every
// reconcile computes alike: a resource already bound to a user under that
// UPN first, then the oldest, then the first by name. A loser that was
// bound to the winner's user (both Ready on one object, from before this
// rule) lets go of it, so deleting the loser can never delete the winner's
// user.
func (r *Reconciler) claimConflict(ctx context.Context, s *state) error {
	du := s.du
	var list v1alpha1.DirectoryUserList
	if err := r.List(ctx, &list, client.InNamespace(du.Namespace), client.MatchingFields{upnIndex: upnKey(du)}); err != nil {
		return err
	}
	var live []*v1alpha1.DirectoryUser
	for i := range list.Items {
		if o := &list.Items[i]; o.UID == du.UID || o.DeletionTimestamp.IsZero() {
			live = append(live, o)
		}
	}
	if len(live) < 2 {
		return nil
	}
	sort.Slice(live, func(i, j int) bool { return claimsBefore(live[i], live[j]) })
	winner := live[0]
	if winner.UID == du.UID {
		return nil
	}
	if du.Status.ID != "" && du.Status.ID == winner.Status.ID {
		du.Status.ID, du.Status.Adopted, du.Status.CreatedDateTime = "", false, nil
	}
	du.Status.CreatePending = nil
	return ctrlkit.Stalled(v1alpha1.ReasonConflict, "DirectoryUser %q already manages userPrincipalName %s in Directory %q; delete one of the two",
		winner.Name, du.Spec.UserPrincipalName, du.Spec.DirectoryRef.Name)
}

// claimsBefore orders claimants of one UPN: bound first, then oldest, then by name.
func claimsBefore(a, b *v1alpha1.DirectoryUser) bool {
	ab, bb := boundTo(a), boundTo(b)
	if ab != bb {
		return ab
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// boundTo says whether du holds a user under the UPN its spec claims.
func boundTo(du *v1alpha1.DirectoryUser) bool {
	return du.Status.ID != "" && strings.EqualFold(du.Status.UserPrincipalName, du.Spec.UserPrincipalName)
}

// claimantsOf wakes the other claimants of a DirectoryUser's UPN when it
// appears, goes or changes, so a stalled loser takes over once the winner
// is gone.
func (r *Reconciler) claimantsOf(ctx context.Context, o client.Object) []reconcile.Request {
	du, ok := o.(*v1alpha1.DirectoryUser)
	if !ok {
		return nil
	}
	reqs := r.listRequests(ctx, du.Namespace, upnIndex, upnKey(du))
	out := reqs[:0]
	for _, q := range reqs {
		if q.NamespacedName != (types.NamespacedName{Namespace: du.Namespace, Name: du.Name}) {
			out = append(out, q)
		}
	}
	return out
}
