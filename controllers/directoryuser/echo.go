package directoryuser

import (
	"context"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/userspec"
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
// generation) is a change, as before. An echo never clears a mark an
// earlier entry set: it may carry fewer properties than the change that set
// it.
//
// An entry for a user no DirectoryUser of the Directory is bound to is not
// marked at all: marked, it would wait for a read that never comes (a user
// nobody here manages) and the saved watch would list it forever. It is
// held instead and classified again at each poll, for the case where the
// resource records the ID a moment after the poll (a creation in flight),
// and forgotten after unboundTTL.

// verdict is what a delta entry means for the watcher.
type verdict int

const (
	// readAgain: a DirectoryUser of the Directory is bound to the user and
	// the entry may differ from what it knows: read it again.
	readAgain verdict = iota
	// echoed: the entry repeats what that DirectoryUser shows.
	echoed
	// unbound: no DirectoryUser of the Directory is bound to the user
	// (yet): a user nobody here manages, or one whose creation has not
	// recorded its ID. Held and classified again at later polls
	// (rebind, driftwatch.go), never marked for a read that would not
	// come.
	unbound
)

// classify says what c means for the Directory's DirectoryUsers.
func (w *driftWatcher) classify(ctx context.Context, dir types.NamespacedName, c graph.UserChange) verdict {
	if c.User.ID == "" {
		return unbound
	}
	var list v1alpha1.DirectoryUserList
	if err := w.kube.List(ctx, &list, client.InNamespace(dir.Namespace), client.MatchingFields{idIndex: c.User.ID},
		client.UnsafeDisableDeepCopy); err != nil {
		return readAgain // cannot tell: read, as before
	}
	var du *v1alpha1.DirectoryUser
	for i := range list.Items {
		if x := &list.Items[i]; !x.Spec.DirectoryRef.IsCluster() && x.Spec.DirectoryRef.Name == dir.Name {
			if du != nil {
				return readAgain // two claim it (a conflict): let them sort it out
			}
			du = x
		}
	}
	switch {
	case du == nil:
		return unbound
	case c.Removed || c.ManagerChanged:
		return readAgain
	}
	st := &du.Status
	if du.DeletionTimestamp != nil || st.LastSyncTime == nil || len(st.Drift) > 0 ||
		st.ObservedGeneration != du.Generation || !ctrlkit.IsReady(&st.CommonStatus, du.Generation) {
		return readAgain
	}
	_, drifted := userspec.Diff(du.Spec, c.User)
	for p := range c.Props {
		if !knownValue(du, p, c.User, drifted) {
			return readAgain
		}
	}
	return echoed
}

// knownValue says whether property p of live equals what du's status shows
// or, for a property not in status, what its spec sets: spec fields are
// judged by userspec.Diff (drifted), the one place that decides them, so a
// spec that does not set one leaves any value known-good.
func knownValue(du *v1alpha1.DirectoryUser, p string, live graph.User, drifted []string) bool {
	st := &du.Status
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
	case "givenName", "surname", "mailNickname", "usageLocation", "officeLocation", "employeeId":
		return !slices.Contains(drifted, p)
	}
	return false
}

// unboundTTL is how long an entry no DirectoryUser is bound to is held: a
// creation records its user's ID within seconds, so anything older names
// a user nobody here manages. maxUnbound bounds the memory a tenant with
// many unmanaged changes can take.
const (
	unboundTTL = 10 * time.Minute
	maxUnbound = 50000
)

// unboundChange is a delta entry held until a DirectoryUser is bound to
// its user (then classified again) or unboundTTL passes.
type unboundChange struct {
	at time.Time
	c  graph.UserChange
}

// rebind runs after a successful poll: it classifies the entries held as
// unbound again (the DirectoryUser may have recorded the ID since),
// holds the poll's new unbound ones, and forgets marks nobody will read:
// held entries and dirty users past unboundTTL with no DirectoryUser bound.
// It returns the users that turned out to be changed, to mark and read.
func (w *driftWatcher) rebind(ctx context.Context, dir types.NamespacedName, st *directoryWatch, fresh []graph.UserChange, now time.Time) []string {
	w.mu.Lock()
	held := make([]unboundChange, 0, len(st.unbound))
	for _, u := range st.unbound {
		held = append(held, u)
	}
	var old []string
	for id, at := range st.dirty {
		if now.Sub(at) >= unboundTTL {
			old = append(old, id)
		}
	}
	w.mu.Unlock()

	var reread []string
	keep := map[string]unboundChange{}
	for _, u := range held {
		switch w.classify(ctx, dir, u.c) {
		case readAgain:
			reread = append(reread, u.c.User.ID)
		case unbound:
			if now.Sub(u.at) < unboundTTL {
				keep[u.c.User.ID] = u
			}
		}
	}
	for _, c := range fresh {
		if len(keep) < maxUnbound {
			keep[c.User.ID] = unboundChange{at: now, c: c}
		}
	}
	var stale []string
	for _, id := range old {
		if w.classify(ctx, dir, graph.UserChange{User: graph.User{ID: id}}) == unbound {
			stale = append(stale, id)
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if len(keep) != len(st.unbound) || len(stale) > 0 {
		st.reread = true // what a restart must re-check changed: save it
	}
	st.unbound = keep
	for _, id := range stale {
		delete(st.dirty, id)
	}
	return reread
}
