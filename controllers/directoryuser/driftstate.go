package directoryuser

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// The drift watcher's state survives a manager restart in the API server,
// in one ConfigMap per Directory (<directory>-users-delta, owned by the
// Directory). Without it a restarted manager would have no delta link, so
// it could not tell which of 10,000 Ready users changed while it was down
// and would read every one of them again. With it, the first reconcile of
// a Directory's users resumes the persisted link with one poll, which
// reports exactly the users changed since; every other user stays covered
// and costs no Graph call.
//
// What is persisted keeps covered() exact: the link of the last saved poll
// (changes after that poll are reported by resuming it), the moment the
// chain of links began (since), and the users reported changed and not
// known to be re-read (dirty). A user re-read after the save is still
// listed and is read once more after a restart: harmless.

const (
	driftStateSuffix = "-users-delta"
	// driftStateKey holds the JSON of persistedWatch.
	driftStateKey = "state.json"
	// driftStateEvery bounds how stale the saved link gets while nothing
	// changes: resuming an older link re-reports changes already handled
	// (the operator's own writes among them: echoes, no read each, but a
	// page per 999 entries after a large apply). One small write a minute
	// per Directory at most keeps that replay short. Polls that report
	// changes are saved at once.
	driftStateEvery = time.Minute
	// maxPersistedDirty bounds the ConfigMap: with more users pending a
	// re-read, the saved chain restarts at that poll (see save).
	maxPersistedDirty = 20000
	// labelDriftWatch marks the ConfigMap with the Directory it belongs to.
	labelDriftWatch = "entra.directory-operator.io/drift-watch"
)

type persistedWatch struct {
	Link     string    `json:"link"`
	Since    time.Time `json:"since"`
	LastPoll time.Time `json:"lastPoll"`
	Dirty    []string  `json:"dirty,omitempty"`
}

// stateName is the ConfigMap of a Directory's saved watch. Watchers of
// differently named reconcilers (shards, tests running several managers)
// keep separate ones: another watcher's list of users pending a read is
// safe to resume but holds users this one never reads.
func (w *driftWatcher) stateName(directory string) string {
	if w.id == "" || w.id == defaultName {
		return directory + driftStateSuffix
	}
	return directory + driftStateSuffix + "-" + w.id
}

// loadState reads the saved watch of a Directory, live (ConfigMaps other
// than exports are not cached). Missing or unreadable state: start afresh.
func (w *driftWatcher) loadState(ctx context.Context, key types.NamespacedName) *persistedWatch {
	if w.live == nil {
		return nil
	}
	cm := &corev1.ConfigMap{}
	if err := w.live.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: w.stateName(key.Name)}, cm); err != nil {
		if !apierrors.IsNotFound(err) {
			log.FromContext(ctx).V(1).Info("Reading saved drift watch failed; starting a new one", "directory", key.String(), "error", err.Error())
		}
		return nil
	}
	var p persistedWatch
	if err := json.Unmarshal([]byte(cm.Data[driftStateKey]), &p); err != nil || p.Link == "" || p.Since.IsZero() {
		return nil
	}
	return &p
}

// saveState writes the watch of a Directory after a poll.
func (w *driftWatcher) saveState(ctx context.Context, dir *v1alpha1.Directory, p persistedWatch) error {
	if w.writer == nil || w.live == nil {
		return nil
	}
	if len(p.Dirty) > maxPersistedDirty {
		// Too many to list: a restart treats every user read before this
		// poll as not covered, which is safe (they are read once).
		p.Since, p.Dirty = p.LastPoll, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	// Read live: the manager caches only export ConfigMaps, so a cached
	// read would never find this one and every save after the first
	// would fail as AlreadyExists.
	cm := &corev1.ConfigMap{}
	key := types.NamespacedName{Namespace: dir.Namespace, Name: w.stateName(dir.Name)}
	err = w.live.Get(ctx, key, cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	exists := err == nil
	cm.Namespace, cm.Name = key.Namespace, key.Name
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[labelDriftWatch] = dir.Name
	cm.Data = map[string]string{driftStateKey: string(b)}
	if err := controllerutil.SetOwnerReference(dir, cm, w.writer.Scheme()); err != nil {
		return err
	}
	if exists {
		return w.writer.Update(ctx, cm)
	}
	return w.writer.Create(ctx, cm)
}

// persistLocked returns what to save after a successful poll, or nil when
// the last save is recent and neither the link chain nor the users pending
// a re-read changed. w.mu is held.
func (st *directoryWatch) persistLocked(now time.Time, changed bool) *persistedWatch {
	if !changed && !st.reread && !st.savedAt.IsZero() && now.Sub(st.savedAt) < driftStateEvery {
		return nil
	}
	st.reread = false
	p := &persistedWatch{Link: st.link, Since: st.since, LastPoll: now}
	for id := range st.dirty {
		p.Dirty = append(p.Dirty, id)
	}
	// Held entries too: one may be a user whose creation records its ID
	// after a restart; a restart that finds no resource bound to it drops
	// it after unboundTTL.
	for id := range st.unbound {
		if _, dup := st.dirty[id]; !dup {
			p.Dirty = append(p.Dirty, id)
		}
	}
	st.savedAt = now
	return p
}

// ensurePolled makes sure the watcher polled a Directory since this manager
// started before a reconcile relies on it: at start-up every DirectoryUser
// is reconciled at once, before the first periodic poll; resuming the saved
// link here lets all of them skip Graph. Reconciles of one Directory wait
// for the same poll.
func (w *driftWatcher) ensurePolled(ctx context.Context, key types.NamespacedName) {
	st := w.watch(key)
	w.mu.Lock()
	polled := !st.lastPoll.IsZero()
	w.mu.Unlock()
	if !polled {
		// poll waits for a poll in progress and skips when one ran.
		w.poll(ctx, key, true)
	}
}
