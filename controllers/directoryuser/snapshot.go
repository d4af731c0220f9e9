package directoryuser

import (
	"context"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// A team moving an existing tenant under GitOps applies thousands of
// DirectoryUsers for users that already exist. Each would read its user by
// UPN: 10,000 reads, or 500 $batch envelopes at best. When many
// DirectoryUsers of a Directory wait for their first read, the watcher
// instead enumerates the tenant's users once (one users/delta full round,
// 999 users a page: 11 requests for 10,000 users) and keeps them for
// snapshotTTL. A reconcile takes its user from there instead of Graph,
// once.
//
// An entry is as fresh as a read at the moment the round started: a change
// after that is reported by a later poll of the Directory's delta chain
// (which began before the round), which marks the user dirty, and a dirty
// user is read from Graph as before. So the snapshot never gives a
// reconcile an older view than the drift watcher already accepts for
// covered users.

const (
	// snapshotMin is how many DirectoryUsers of one Directory must await
	// their first read before an enumeration is cheaper than their reads:
	// 100 users are 5 $batch reads, a tenant of 5,000 users 6 pages.
	snapshotMin = 100
	// snapshotTTL is how long entries are used: long enough for the
	// reconciles of a large apply to reach them, short enough that a
	// missed dirty mark (a failing delta chain) cannot matter for long.
	snapshotTTL = 2 * time.Minute
	// snapshotWait bounds how long a reconcile waits for a round in
	// progress before reading its user itself.
	snapshotWait = 30 * time.Second
	// snapshotRetry is how soon a failed enumeration may be tried again.
	snapshotRetry = 30 * time.Second
	// snapshotMaxUsers bounds how many users an enumeration keeps
	// whatever DirectoryUsers exist (about 0.5 KiB each).
	snapshotMaxUsers = 50000
	// snapshotTimeout bounds a round (a 100,000-user tenant is 100 pages).
	snapshotTimeout = 2 * time.Minute
)

// userSnapshot is the outcome of one enumeration.
type userSnapshot struct {
	// at is when the round started.
	at time.Time
	// users are the users DirectoryUsers waited for, by lower-case UPN.
	users map[string]graph.User
	// done is closed when the round ended (users is then complete).
	done chan struct{}
	// complete: every user of the tenant was kept, so a UPN missing from
	// users did not exist when the round started.
	complete bool
	// ok: the round succeeded.
	ok bool
}

// lifetimeLocked is how long after its start an enumeration stands before
// a new one may run: its TTL, or snapshotRetry once it failed (a
// Directory not ready yet, a missing permission), so arrivals after the
// cause is fixed try again without a failing round per arrival. w.mu is
// held.
func (s *userSnapshot) lifetimeLocked() time.Duration {
	select {
	case <-s.done:
		if !s.ok {
			return snapshotRetry
		}
	default:
	}
	return snapshotTTL
}

// snapshotAnswer is what an enumeration says about one UPN.
type snapshotAnswer int

const (
	// notKnown: no usable enumeration; read from Graph.
	notKnown snapshotAnswer = iota
	// present: the user was enumerated.
	present
	// absent: a complete enumeration had no such user.
	absent
)

// pendingFirstRead reports a DirectoryUser never reconciled yet (no
// condition) and bound to no user: its first reconcile looks the user up by
// UPN. One that was reconciled and still has no user (an ObserveOnly user
// that does not exist) is not counted, so it cannot cause an enumeration
// every snapshotTTL.
func pendingFirstRead(du *v1alpha1.DirectoryUser) bool {
	return du.Status.ID == "" && du.Status.CreatePending == nil && len(du.Status.Conditions) == 0 && du.DeletionTimestamp.IsZero()
}

// noteAdded is the cache's add handler for DirectoryUsers (an apply, or
// every object at start-up): it counts those awaiting their first read per
// Directory and starts an enumeration when snapshotMin are waiting. It
// must not block the informer.
func (w *driftWatcher) noteAdded(obj any) {
	du, ok := obj.(*v1alpha1.DirectoryUser)
	if !ok || !pendingFirstRead(du) || du.Spec.DirectoryRef.IsCluster() {
		return
	}
	if w.filter != nil && !w.filter.Generic(event.GenericEvent{Object: du}) {
		return // another manager's user
	}
	key := types.NamespacedName{Namespace: du.Namespace, Name: du.Spec.DirectoryRef.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	wanted := w.firstReads[key.String()]
	if wanted == nil {
		wanted = map[string]bool{}
		w.firstReads[key.String()] = wanted
	}
	wanted[strings.ToLower(du.Spec.UserPrincipalName)] = true
	if len(wanted) < snapshotMin {
		return
	}
	st := w.dirs[key.String()]
	if st == nil {
		st = &directoryWatch{dirty: map[string]time.Time{}}
		w.dirs[key.String()] = st
	}
	if s := st.snap; s != nil && w.now().Sub(s.at) < s.lifetimeLocked() {
		return
	}
	snap := &userSnapshot{at: w.now(), users: map[string]graph.User{}, done: make(chan struct{})}
	st.snap = snap
	go w.snapshot(key, st, snap)
}

// snapshot runs one enumeration for a Directory. With no delta link yet,
// the round's link starts the Directory's chain (it replaces the first
// poll); otherwise the chain that began earlier is kept, so users read
// before the round stay covered, and the round's own link is dropped.
func (w *driftWatcher) snapshot(key types.NamespacedName, st *directoryWatch, snap *userSnapshot) {
	defer close(snap.done)
	ctx, cancel := context.WithTimeout(w.baseContext(), snapshotTimeout)
	defer cancel()
	logger := log.FromContext(ctx).WithValues("directory", key.String())
	conn, err := w.conn.Connect(ctx, key.Namespace, v1alpha1.DirectoryReference{Name: key.Name})
	if err != nil {
		return // the Directory's own status says why; users are read one by one
	}
	st.pollMu.Lock()
	defer st.pollMu.Unlock()
	w.resumeOnce(ctx, key, st)
	w.mu.Lock()
	linked := st.link != ""
	w.mu.Unlock()
	next, err := w.enumerate(ctx, conn.Graph, key.String(), snap)
	if err != nil {
		logger.V(1).Info("Enumerating users failed; DirectoryUsers read their users one by one", "error", err.Error())
		return
	}
	w.mu.Lock()
	delete(w.firstReads, key.String())
	found := len(snap.users)
	w.mu.Unlock()
	logger.V(1).Info("Enumerated users for first reads", "found", found, "took", w.now().Sub(snap.at).String())
	if linked {
		return
	}
	if save := w.record(ctx, key, st, "", next, nil, nil, w.now(), snap.at); save != nil {
		if err := w.saveState(ctx, conn.Directory, *save); err != nil {
			logger.V(1).Info("Saving drift watch failed; a restart reads users again", "error", err.Error())
		}
	}
}

// enumerate runs one users/delta full round and keeps its users, with
// their managers' UPNs (a manager is a user of the same round): the
// DirectoryUsers of an apply keep arriving during and after the round.
// Past snapshotMaxUsers only the users of DirectoryUsers seen so far are
// kept, which bounds the memory for a very large tenant.
func (w *driftWatcher) enumerate(ctx context.Context, gc Graph, dirKey string, snap *userSnapshot) (string, error) {
	upnOf := map[string]string{}
	kept := map[string]graph.User{}
	complete := true
	next, err := gc.UsersDelta(ctx, graph.UsersDeltaQuery{Select: snapshotSelect, ExpandManager: true}, func(c graph.UserChange) error {
		if c.Removed {
			return nil
		}
		upn := strings.ToLower(c.User.UserPrincipalName)
		upnOf[c.User.ID] = c.User.UserPrincipalName
		keep := len(kept) < snapshotMaxUsers
		if !keep {
			complete = false
			w.mu.Lock()
			keep = w.firstReads[dirKey][upn]
			w.mu.Unlock()
		}
		if keep {
			kept[upn] = c.User
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for upn, u := range kept {
		if u.Manager != nil {
			u.Manager = &graph.UserRef{ID: u.Manager.ID, UserPrincipalName: upnOf[u.Manager.ID]}
			kept[upn] = u
		}
	}
	w.mu.Lock()
	snap.users, snap.complete, snap.ok = kept, complete, true
	w.mu.Unlock()
	return next, nil
}

// snapshotSelect is what a first read needs: what GetUser selects.
var snapshotSelect = append(append([]string(nil), deltaSelect...), "mail", "createdDateTime")

// lookup answers for the user named upn from the Directory's enumeration:
// present (with the moment its state was read; the entry is removed, it
// serves one first read), absent (a complete enumeration did not have it,
// so it did not exist when the round started: a create that meets a user
// made since gets a conflict and looks again), or notKnown (no fresh
// enumeration, or a user the delta reported changed since): read from
// Graph. It waits for a round in progress.
func (w *driftWatcher) lookup(ctx context.Context, dirKey, upn string) (graph.User, time.Time, snapshotAnswer) {
	w.mu.Lock()
	st := w.dirs[dirKey]
	var snap *userSnapshot
	if st != nil {
		snap = st.snap
	}
	w.mu.Unlock()
	if snap == nil {
		return graph.User{}, time.Time{}, notKnown
	}
	select {
	case <-snap.done:
	case <-ctx.Done():
		return graph.User{}, time.Time{}, notKnown
	case <-time.After(snapshotWait):
		return graph.User{}, time.Time{}, notKnown
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !snap.ok || w.now().Sub(snap.at) >= snapshotTTL {
		return graph.User{}, time.Time{}, notKnown
	}
	key := strings.ToLower(upn)
	u, found := snap.users[key]
	switch {
	case !found && snap.complete:
		return graph.User{}, snap.at, absent
	case !found:
		return graph.User{}, time.Time{}, notKnown
	}
	delete(snap.users, key)
	if _, dirty := st.dirty[u.ID]; dirty {
		return graph.User{}, time.Time{}, notKnown
	}
	return u, snap.at, present
}

// dropStaleSnapshotsLocked frees enumerations past their TTL. w.mu is held.
func (w *driftWatcher) dropStaleSnapshotsLocked() {
	for _, st := range w.dirs {
		if s := st.snap; s != nil && w.now().Sub(s.at) >= snapshotTTL {
			select {
			case <-s.done:
				st.snap = nil
			default: // still running: its users are about to be used
			}
		}
	}
}
