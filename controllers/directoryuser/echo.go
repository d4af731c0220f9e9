package directoryuser

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// An echo is a delta entry that only repeats what a Ready DirectoryUser
// already knows: the users/delta poll names every user the operator itself
// created or updated, and re-reading each one (a GET and a status write) is
// what made a 10,000-user apply cost twice its API writes and Graph reads.
// The entry carries the user's values as of the poll (all selected
// properties, or at least the changed ones), so when every property it
// carries equals what the resource's status shows (or, for a property the
// status does not show, what its synced spec sets) it is as good as a read
// that found nothing to do, and the user is not marked for a re-read.
// Anything the rule cannot vouch for (a manager change, a removal, a
// property the operator does not track, a resource not Ready at its
// generation or not yet bound to the ID) is a change, as before. An echo
// never clears a mark an earlier entry set: it may carry fewer properties
// than the change that set it.

// echo says whether c only repeats the known state of the Directory's
// DirectoryUser bound to c's user.
func (w *driftWatcher) echo(ctx context.Context, dir types.NamespacedName, c graph.UserChange) bool {
	if c.Removed || c.ManagerChanged || c.User.ID == "" {
		return false
	}
	var list v1alpha1.DirectoryUserList
	if err := w.kube.List(ctx, &list, client.InNamespace(dir.Namespace), client.MatchingFields{idIndex: c.User.ID},
		client.UnsafeDisableDeepCopy); err != nil || len(list.Items) != 1 {
		return false
	}
	du := &list.Items[0]
	st := &du.Status
	if du.DeletionTimestamp != nil || du.Spec.DirectoryRef.IsCluster() || du.Spec.DirectoryRef.Name != dir.Name ||
		st.ID != c.User.ID || st.LastSyncTime == nil || len(st.Drift) > 0 ||
		st.ObservedGeneration != du.Generation || !ctrlkit.IsReady(&st.CommonStatus, du.Generation) {
		return false
	}
	for p := range c.Props {
		if !knownValue(du, p, c.User) {
			return false
		}
	}
	return true
}

// knownValue says whether property p of live equals what du's status shows
// or, for a property not in status, what its spec sets (a spec that does
// not set it leaves it to others: any value is known-good).
func knownValue(du *v1alpha1.DirectoryUser, p string, live graph.User) bool {
	st, spec := &du.Status, &du.Spec
	optional := func(want *string, have string) bool { return want == nil || *want == have }
	str := func(want, have string) bool { return want == "" || want == have }
	switch p {
	case "id", "mail":
		return true // the key; mail follows Exchange, not this resource
	case "userPrincipalName":
		return st.UserPrincipalName == live.UserPrincipalName
	case "displayName":
		return st.DisplayName == live.DisplayName
	case "jobTitle":
		return st.JobTitle == live.JobTitle
	case "department":
		return st.Department == live.Department
	case "accountEnabled":
		return st.AccountEnabled != nil && live.AccountEnabled != nil && *st.AccountEnabled == *live.AccountEnabled
	case "givenName":
		return str(spec.GivenName, live.GivenName)
	case "surname":
		return str(spec.Surname, live.Surname)
	case "mailNickname":
		return str(spec.MailNickname, live.MailNickname)
	case "usageLocation":
		return str(spec.UsageLocation, live.UsageLocation)
	case "officeLocation":
		return optional(spec.OfficeLocation, live.OfficeLocation)
	case "employeeId":
		return optional(spec.EmployeeID, live.EmployeeID)
	}
	return false
}
