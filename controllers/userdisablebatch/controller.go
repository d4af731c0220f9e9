// Package userdisablebatch reconciles UserDisableBatch: it disables (or, in a
// dry run, only reads) many Entra accounts through $batch requests paced by
// the Directory's shared budget, and keeps one result row per user in status.
//
// Status is the checkpoint. Every row has an outcome, Pending rows are the
// work left, and a Pending row that records accountEnabledBefore=true has
// been read and is due to be disabled. A row's PATCH is sent only after a
// checkpoint recorded it as due (reads run ahead of writes, in the same
// waves), so a restarted manager knows which users it may already have
// disabled: it re-reads those before writing, and never PATCHes a row
// already recorded Disabled.
package userdisablebatch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Graph is what a batch needs from a Graph client.
type Graph interface {
	GetUsers(ctx context.Context, keys []string, selectProps ...string) ([]graph.UserResult, error)
	UpdateUsers(ctx context.Context, updates []graph.UserUpdateItem) ([]graph.ItemResult, error)
	RevokeSignInSessionsMany(ctx context.Context, ids []string) ([]graph.ItemResult, error)
	FindGroups(ctx context.Context, displayName string) ([]graph.Group, error)
	ListGroupMembers(ctx context.Context, groupID string, transitive bool, selectProps ...string) ([]graph.User, error)
	Budget() *graph.Budget
}

var _ Graph = (*graph.Client)(nil)

// Defaults for the Reconciler's tuning fields.
const (
	// DefaultChunkConcurrency is how many $batch requests of one batch are
	// in flight at once. The write quota bounds the pace anyway; a few
	// requests in flight only hide round-trip latency.
	DefaultChunkConcurrency = 4
	// DefaultCheckpointInterval is the shortest time between periodic
	// checkpoints. Each one rewrites the whole status (~600 KiB and about
	// half a CPU-second of the API server at 5,000 rows). Progress between
	// two checkpoints is not lost in a crash, only re-read, so they are
	// spaced out and leave the API server's CPU to everything else. Rows
	// read since the last checkpoint are still checkpointed at once when
	// writes wait for them.
	DefaultCheckpointInterval = 5 * time.Second
	// DefaultMaxInlineWait is the longest budget wait a reconcile sits out
	// (inside the Graph client's own pacing, which waits at most 1 s: one
	// 20-write $batch at the published quota). Longer waits (429s, a budget
	// drained by others) end the reconcile with a requeue. Requeueing at
	// every 1 s pacing wait instead would checkpoint the whole status each
	// time, and at 5,000 rows a checkpoint costs as much as the wait: the
	// batch would run at under half the quota.
	DefaultMaxInlineWait = time.Second
	// DefaultSliceDuration bounds one reconcile so that a long batch yields
	// its worker (and notices shutdown) regularly.
	DefaultSliceDuration = 30 * time.Second
)

// directoryIndex indexes batches by the Directory they reference.
const directoryIndex = "spec.directoryRef.name"

// Reconciler reconciles UserDisableBatch objects, or, with Enable,
// UserEnableBatch objects (the same engine; see kind.go).
type Reconciler struct {
	client.Client
	// Enable makes this Reconciler reconcile UserEnableBatch.
	Enable bool
	// APIReader reads around the cache when the cached status may be older
	// than the last checkpoint (see freshBatch). Defaults to Client.
	APIReader client.Reader
	// Connector resolves the referenced Directory to its Graph port.
	Connector connection.Connector[Graph]
	Recorder  events.EventRecorder

	// Name of the controller (default "userdisablebatch") and Filter on its
	// events: several managers in one process (tests, shards) need both.
	Name   string
	Filter predicate.Predicate
	// Concurrency is the number of batches reconciled in parallel.
	Concurrency int
	// ChunkConcurrency, CheckpointInterval, MaxInlineWait and SliceDuration
	// tune one batch's run; zero means the Default* value.
	ChunkConcurrency   int
	CheckpointInterval time.Duration
	MaxInlineWait      time.Duration
	SliceDuration      time.Duration
	// Clock tells the time (default: the real clock); tests inject a fake.
	Clock clock.PassiveClock

	// ReplicationLag is how long a read after a write may still be stale
	// (default DefaultReplicationLag): a row whose PATCH answer was lost is
	// written again only if a read this long after the write shows it
	// enabled.
	ReplicationLag time.Duration

	mu sync.Mutex
	// memos holds, per batch, the rows this process may have written
	// without a record and the rows backing off (see memo).
	memos map[types.UID]*memo
}

// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=userdisablebatches,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=userdisablebatches/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=userdisablebatches/finalizers,verbs=update
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=userenablebatches,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=userenablebatches/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=userenablebatches/finalizers,verbs=update
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directories,verbs=get;list;watch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directoryusers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile advances one batch: run it for a time slice, checkpoint, and
// once it is finished (or deleted and its writes have stopped) write its
// audit export and let it go.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b, from, m, err := r.load(ctx, req.NamespacedName)
	if b == nil || err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if finished(b.Status.Phase) || (!b.DeletionTimestamp.IsZero() && b.Status.Phase != v1alpha1.BatchRunning) {
		return ctrl.Result{}, r.finalize(ctx, b, !b.DeletionTimestamp.IsZero())
	}
	if err := r.ensureFinalizer(ctx, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	ru := r.newRun(ctx, b, m)
	ru.from = from
	err = r.summarize(b, ru.execute(ctx))

	// The last checkpoint must land even when the manager is stopping: it
	// records the answers Graph already gave.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if perr := ru.checkpoint(pctx); perr != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("checkpointing status: %w", perr))
	}
	if finished(b.Status.Phase) || (ru.stopping && len(ru.m.confirm) == 0) {
		return ctrl.Result{}, r.finalize(pctx, b, ru.stopping)
	}
	ru.m.rv = b.ResourceVersion
	r.keepMemo(b.UID, ru.m)
	return ctrlkit.Result(err, 0)
}

// load reads the batch (and the batch it undoes, if any) and what this
// process remembers of it. The cached
// copy will do when it is this process's own last checkpoint; otherwise the
// batch is read from the API server, and the memory is dropped unless it
// matches that.
func (r *Reconciler) load(ctx context.Context, key types.NamespacedName) (*v1alpha1.UserDisableBatch, string, *memo, error) {
	obj := r.kind().newObject()
	if err := r.Get(ctx, key, obj); err != nil {
		return nil, "", nil, err
	}
	b, from := r.kind().view(obj), r.kind().source(obj)
	m := r.takeMemo(b.UID)
	if m != nil && m.rv == b.ResourceVersion {
		return b, from, m, nil
	}
	b, err := r.freshBatch(ctx, key)
	if err != nil {
		return nil, "", nil, err
	}
	if m != nil && m.rv != b.ResourceVersion {
		m = nil
	}
	return b, from, m, nil
}

// freshBatch reads the batch from the API server itself: the cache may not
// have caught up with the last checkpoint yet, and acting on an older status
// would redo finished rows.
func (r *Reconciler) freshBatch(ctx context.Context, key types.NamespacedName) (*v1alpha1.UserDisableBatch, error) {
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	obj := r.kind().newObject()
	if err := reader.Get(ctx, key, obj); err != nil {
		return nil, err
	}
	return r.kind().view(obj), nil
}

// summarize sets phase, conditions and the completion event from the run's
// outcome, and returns what decides the requeue.
func (r *Reconciler) summarize(b *v1alpha1.UserDisableBatch, err error) error {
	st := &b.Status
	c := countRows(st.Users)
	st.Counts = &c
	var stalled *ctrlkit.StalledError
	switch {
	case err == nil && st.Phase == v1alpha1.BatchRunning && allDone(b):
		st.Phase = v1alpha1.BatchCompleted
		reason := v1alpha1.ReasonCompleted
		if st.Counts.Failed > 0 || revokeFailures(st.Users) > 0 {
			st.Phase, reason = v1alpha1.BatchCompletedWithErrors, v1alpha1.ReasonCompletedWithErrors
		}
		now := metav1.NewTime(r.now())
		st.CompletedAt = &now
		msg := completionMessage(r.kind().op, b)
		ctrlkit.Summarize(&st.CommonStatus, b.Generation, nil, msg)
		ctrlkit.SetCondition(&st.CommonStatus, b.Generation, v1alpha1.ConditionReady, true, reason, msg)
		r.event(b, corev1.EventTypeNormal, reason, msg)
		return nil
	case asStalled(err, &stalled) && stalled.RetryAfter == 0:
		st.Phase = v1alpha1.BatchFailed
		now := metav1.NewTime(r.now())
		st.CompletedAt = &now
		ctrlkit.Summarize(&st.CommonStatus, b.Generation, err, "")
		r.event(b, corev1.EventTypeWarning, stalled.Reason, stalled.Message)
		return err
	case asStalled(err, &stalled):
		// Fixed outside the cluster (admin consent, a new credential): the
		// batch stays where it is, says why, and resumes once it can.
		prev := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
		if prev == nil || prev.Reason != stalled.Reason {
			r.event(b, corev1.EventTypeWarning, stalled.Reason, stalled.Message)
		}
		ctrlkit.Summarize(&st.CommonStatus, b.Generation, err, "")
		return err
	default:
		if err == nil {
			// Not finished: the run yielded its worker (time slice).
			err = ctrlkit.Waiting(time.Millisecond, v1alpha1.ReasonProgressing, "%s", progressMessage(r.kind().op, b))
		}
		ctrlkit.Summarize(&st.CommonStatus, b.Generation, err, "")
		return err
	}
}

func (r *Reconciler) event(b *v1alpha1.UserDisableBatch, kind, reason, msg string) {
	if b.Spec.Reason != "" {
		msg += " (reason: " + b.Spec.Reason + ")"
	}
	ctrlkit.Event(r.Recorder, r.kind().object(b), nil, kind, reason, "Run", "%s", msg)
}

func (r *Reconciler) now() time.Time { return ctrlkit.Now(r.Clock) }

func (r *Reconciler) durationOr(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func finished(p v1alpha1.BatchPhase) bool {
	switch p {
	case v1alpha1.BatchCompleted, v1alpha1.BatchCompletedWithErrors, v1alpha1.BatchFailed:
		return true
	}
	return false
}

// SetupWithManager registers the controller. Batches are reconciled when
// created and when their Directory becomes Ready, so a batch created together
// with its Directory starts at once instead of after the wait requeue.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	k := r.kind()
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), k.newObject(), directoryIndex,
		func(o client.Object) []string { return []string{k.view(o).Spec.DirectoryRef.Name} }); err != nil {
		return err
	}
	if !r.Enable {
		// One janitor sweeps the audit exports of both kinds.
		if err := mgr.Add(&janitor{c: r.Client, reader: r.Client, interval: DefaultJanitorInterval, now: r.now}); err != nil {
			return err
		}
	}
	name := r.Name
	if name == "" {
		name = strings.ToLower(k.name)
	}
	bld := ctrl.NewControllerManagedBy(mgr).
		For(k.newObject(), builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, deletionStarted))).
		Watches(&v1alpha1.Directory{}, handler.EnqueueRequestsFromMapFunc(r.batchesForDirectory),
			builder.WithPredicates(connection.UsabilityChanged)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Concurrency, 1)}).
		Named(name)
	if r.Filter != nil {
		bld = bld.WithEventFilter(r.Filter)
	}
	return bld.Complete(r)
}

func (r *Reconciler) batchesForDirectory(ctx context.Context, o client.Object) []reconcile.Request {
	list := r.kind().newList()
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{directoryIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing batches for Directory failed", "kind", r.kind().name, "directory", o.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for _, b := range r.kind().items(list) {
		if !finished(b.Status.Phase) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
		}
	}
	return reqs
}
