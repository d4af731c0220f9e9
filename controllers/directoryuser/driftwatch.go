package directoryuser

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// DefaultDriftPoll caps how long an out-of-band change to a managed user
// can go unnoticed: each Directory's users/delta is polled at least this
// often (more often when a user asks for a shorter spec.interval).
const DefaultDriftPoll = time.Minute

// driftWatcher finds out-of-band changes with one users/delta poll per
// Directory instead of one GET per user per interval: 10,000 idle users
// then cost a few requests an hour instead of 60,000. A user is read
// again only when the delta named it; while the watcher covers a Directory
// (a delta link established before the user's last read, polled recently),
// a periodic resync of an unchanged user makes no Graph call at all.
type driftWatcher struct {
	kube client.Reader
	conn connection.Connector[Graph]
	// live reads and writer writes the saved watch (see driftstate.go);
	// nil in tests that do not persist it.
	live   client.Reader
	writer client.Client
	// id names the saved watch (the reconciler's name); filter is the
	// reconciler's event filter: Directories only its users reference are
	// polled.
	id     string
	filter predicate.Predicate
	// maxPoll is DefaultDriftPoll unless a test shortens it.
	maxPoll time.Duration
	now     func() time.Time
	events  chan event.GenericEvent

	mu sync.Mutex
	// base is Start's context: work started outside a reconcile (an
	// enumeration) ends with the manager.
	base context.Context
	dirs map[string]*directoryWatch
	// firstReads holds, per Directory, the UPNs (lower case) of
	// DirectoryUsers seen awaiting their first read (snapshot.go).
	firstReads map[string]map[string]bool
}

type directoryWatch struct {
	link string
	// since: changes after this moment are reported by a later poll.
	since    time.Time
	lastPoll time.Time
	// dirty maps user IDs the delta reported to when it did: users of
	// DirectoryUsers to read again (echo.go).
	dirty map[string]time.Time
	// unbound holds entries for users no DirectoryUser is bound to yet
	// (echo.go), by ID.
	unbound map[string]unboundChange
	// pollMu serialises polls of one Directory (the ticker and
	// ensurePolled), so one link is never used twice.
	pollMu sync.Mutex
	// loaded: the saved watch was looked for; savedAt: last saved.
	loaded  bool
	savedAt time.Time
	// reread: a dirty user was read since the last save.
	reread bool
	// snap is the last enumeration for first reads (snapshot.go).
	snap *userSnapshot
}

// deltaSelect is what the poll asks for: the managed properties, so a
// change to any of them (or to the manager) names the user.
var deltaSelect = []string{"userPrincipalName", "displayName", "givenName", "surname", "mailNickname", "jobTitle",
	"department", "officeLocation", "usageLocation", "employeeId", "accountEnabled"}

func newDriftWatcher(kube client.Reader, conn connection.Connector[Graph], maxPoll time.Duration, now func() time.Time) *driftWatcher {
	return &driftWatcher{kube: kube, conn: conn, maxPoll: orDefault(maxPoll, DefaultDriftPoll), now: now,
		events: make(chan event.GenericEvent, 1024), dirs: map[string]*directoryWatch{}, firstReads: map[string]map[string]bool{}}
}

// NeedLeaderElection: only the leader reconciles, so only it needs to know.
func (w *driftWatcher) NeedLeaderElection() bool { return true }

// Start polls every Directory that has DirectoryUsers, each at the shortest
// interval its users ask for (at most maxPoll), until ctx ends.
func (w *driftWatcher) Start(ctx context.Context) error {
	w.mu.Lock()
	w.base = ctx
	w.mu.Unlock()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			w.pollDue(ctx)
		}
	}
}

func (w *driftWatcher) pollDue(ctx context.Context) {
	var list v1alpha1.DirectoryUserList
	// Read-only use of the cache's objects: no copy of 10,000 users a second.
	if err := w.kube.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "Listing DirectoryUsers for drift polling failed")
		return
	}
	period := map[types.NamespacedName]time.Duration{}
	for i := range list.Items {
		du := &list.Items[i]
		if w.filter != nil && !w.filter.Generic(event.GenericEvent{Object: du}) {
			continue // another manager's (shard, test) user: its watcher polls
		}
		if du.Spec.DirectoryRef.IsCluster() {
			continue // not watched: such users are read at their interval
		}
		key := types.NamespacedName{Namespace: du.Namespace, Name: du.Spec.DirectoryRef.Name}
		p := min(interval(du), w.maxPoll)
		if cur, ok := period[key]; !ok || p < cur {
			period[key] = p
		}
	}
	w.mu.Lock()
	w.dropStaleSnapshotsLocked()
	w.mu.Unlock()
	for key, p := range period {
		w.mu.Lock()
		st := w.dirs[key.String()]
		// A tenth of slack keeps a 1 s tick from skipping every other due poll.
		due := st == nil || w.now().Sub(st.lastPoll) >= p-p/10
		w.mu.Unlock()
		if due {
			w.poll(ctx, key, false)
		}
	}
}

// watch returns the state of a Directory's watch, created empty.
func (w *driftWatcher) watch(key types.NamespacedName) *directoryWatch {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.dirs[key.String()]
	if st == nil {
		st = &directoryWatch{dirty: map[string]time.Time{}}
		w.dirs[key.String()] = st
	}
	return st
}

// poll runs one users/delta round for a Directory and enqueues the
// DirectoryUsers whose users it names. The first poll after a start
// resumes the saved link (driftstate.go). onlyFirst skips the poll when
// another one already ran.
func (w *driftWatcher) poll(ctx context.Context, key types.NamespacedName, onlyFirst bool) {
	conn, err := w.conn.Connect(ctx, key.Namespace, v1alpha1.DirectoryReference{Name: key.Name})
	if err != nil {
		return // the Directory's own status says why; users fall back to reads
	}
	st := w.watch(key)
	st.pollMu.Lock()
	defer st.pollMu.Unlock()
	w.mu.Lock()
	if onlyFirst && !st.lastPoll.IsZero() {
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.resumeOnce(ctx, key, st)
	w.mu.Lock()
	link := st.link
	w.mu.Unlock()

	q := graph.UsersDeltaQuery{Link: link, Select: deltaSelect, ExpandManager: true}
	if link == "" {
		q.Link = graph.DeltaLatest
	}
	var changed []string
	var fresh []graph.UserChange
	next, err := conn.Graph.UsersDelta(ctx, q, func(c graph.UserChange) error {
		switch w.classify(ctx, key, c) {
		case readAgain:
			changed = append(changed, c.User.ID)
		case unbound:
			fresh = append(fresh, c)
		}
		return nil
	})
	now := w.now()
	if err == nil {
		changed = append(changed, w.rebind(ctx, key, st, fresh, now)...)
	}
	if save := w.record(ctx, key, st, link, next, changed, err, now, now); save != nil {
		if err := w.saveState(ctx, conn.Directory, *save); err != nil {
			log.FromContext(ctx).V(1).Info("Saving drift watch failed; a restart reads users again", "directory", key.String(), "error", err.Error())
		}
	}
	if len(changed) > 0 && err == nil {
		go w.enqueue(ctx, key.Namespace, changed)
	}
}

// resumeOnce loads the saved watch of a Directory into st, once per start.
// st.pollMu is held.
func (w *driftWatcher) resumeOnce(ctx context.Context, key types.NamespacedName, st *directoryWatch) {
	w.mu.Lock()
	loaded := st.loaded
	w.mu.Unlock()
	if loaded {
		return
	}
	p := w.loadState(ctx, key)
	w.mu.Lock()
	defer w.mu.Unlock()
	st.loaded = true
	if p != nil && st.link == "" {
		st.link, st.since = p.Link, p.Since
		for _, id := range p.Dirty {
			st.dirty[id] = p.LastPoll
		}
	}
}

// record updates the watch with a poll's outcome and says what to save.
// A new chain (link "") covers changes from start on: the poll's own time
// for $deltatoken=latest, the round's start for a full enumeration.
func (w *driftWatcher) record(ctx context.Context, key types.NamespacedName, st *directoryWatch, link, next string, changed []string, err error, now, start time.Time) *persistedWatch {
	w.mu.Lock()
	defer w.mu.Unlock()
	st.lastPoll = now
	switch {
	case graph.IsDeltaExpired(err):
		st.link, st.since = "", time.Time{}
		return nil
	case err != nil:
		// Changes stay queued at Graph behind the link; the next poll gets
		// them. Coverage lapses only if polls keep failing (see covered).
		log.FromContext(ctx).V(1).Info("Drift poll failed", "directory", key.String(), "error", err.Error())
		return nil
	}
	if link == "" {
		st.since = start
	}
	st.link = next
	for _, id := range changed {
		if _, seen := st.dirty[id]; !seen {
			st.dirty[id] = now
		}
	}
	return st.persistLocked(now, link == "" || len(changed) > 0)
}

func (w *driftWatcher) enqueue(ctx context.Context, ns string, ids []string) {
	for _, id := range ids {
		var list v1alpha1.DirectoryUserList
		if err := w.kube.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{idIndex: id}); err != nil {
			continue
		}
		for i := range list.Items {
			select {
			case w.events <- event.GenericEvent{Object: &list.Items[i]}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// covered reports whether a user of the Directory last read at readAt
// needs no read now: the watcher's link predates that read, it polled
// within the last two poll periods, and no poll named the user since.
func (w *driftWatcher) covered(dirKey, id string, readAt time.Time, pollPeriod time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.dirs[dirKey]
	if st == nil || st.since.IsZero() || !st.since.Before(readAt) {
		return false
	}
	if w.now().Sub(st.lastPoll) > 2*min(pollPeriod, w.maxPoll)+2*time.Second {
		return false
	}
	_, dirty := st.dirty[id]
	return !dirty
}

// read records that a user was read from Graph at readAt: changes the
// delta reported before then are accounted for.
func (w *driftWatcher) read(dirKey, id string, readAt time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st := w.dirs[dirKey]; st != nil {
		if t, ok := st.dirty[id]; ok && !t.After(readAt) {
			delete(st.dirty, id)
			st.reread = true
		}
	}
}

func (w *driftWatcher) baseContext() context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.base == nil {
		return context.Background()
	}
	return w.base
}
