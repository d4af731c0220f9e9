package ctrlkit

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PatchStatus writes obj's status only when it differs from before's, as a
// merge patch against before (the object as read or last written). Skipping
// no-op writes keeps 10,000 idle resources from costing 10,000 apiserver
// writes per resync. T is one of the operator's kinds: a pointer to a
// struct with a Status field.
//
// The patch carries obj's resourceVersion. Without it a reconcile that read
// a stale cached copy (its own last status write not seen yet) would send
// only the fields that differ from that copy, and the server would keep the
// newer ones: a Ready computed against a stale Ready never replaced the
// failure condition just written (found by `make chaos`). A conflict
// requeues, and the retry reads what the server holds.
//
// The same stale copy can make the write look unneeded: the status computed
// equals the stale one, and the newer status on the server stays. So a
// skip is trusted only when the copy is at least as new as this process's
// last status write of the object; otherwise an empty patch carrying the
// copy's resourceVersion asks the server, which answers a conflict if the
// copy is stale and writes nothing if it is not.
func PatchStatus[T client.Object](ctx context.Context, c client.Client, obj, before T) error {
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(obj)) && !lastWrites.unseen(obj) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	lastWrites.record(obj)
	return nil
}

// lastWrites remembers the resourceVersion each status write of this
// process returned, per object. It is only a hint about the informer
// cache's lag, never the state itself: after a restart the cache is listed
// fresh and the hint is not needed.
var lastWrites = &writeLog{m: map[types.UID]written{}}

// writeLagWindow is how long after its own write a reconcile distrusts a
// cached copy with another resourceVersion. An informer lags by
// milliseconds to seconds; past this window the copy is taken as it is.
const writeLagWindow = time.Minute

type written struct {
	rv string
	at time.Time
}

type writeLog struct {
	mu    sync.Mutex
	m     map[types.UID]written
	swept time.Time
}

// unseen says whether o may be older than this process's last status
// write of it: written recently, and with another resourceVersion.
// resourceVersions are opaque, so "another" is all it can tell; a newer
// copy (someone else wrote since) costs one empty patch, then is recorded.
func (l *writeLog) unseen(o client.Object) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m[o.GetUID()]
	return ok && w.rv != o.GetResourceVersion() && time.Since(w.at) < writeLagWindow
}

func (l *writeLog) record(o client.Object) {
	if o.GetUID() == "" {
		return
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[o.GetUID()] = written{rv: o.GetResourceVersion(), at: now}
	// Entries past the window say nothing: drop them now and then, so
	// deleted objects do not stay.
	if now.Sub(l.swept) > writeLagWindow {
		for uid, w := range l.m {
			if now.Sub(w.at) >= writeLagWindow {
				delete(l.m, uid)
			}
		}
		l.swept = now
	}
}

// statusOf returns o's Status field.
func statusOf(o client.Object) any {
	v := reflect.ValueOf(o)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("Status"); f.IsValid() {
			return f.Interface()
		}
	}
	panic(fmt.Sprintf("ctrlkit.PatchStatus: %T has no Status field", o))
}
