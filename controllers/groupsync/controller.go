// Package groupsync reconciles GroupSync: it mirrors one Entra group's
// members (and their managers) into users.csv in a ConfigMap, keeps members
// who left for a retention period, and stays cheap in Graph quota by
// reading only changes (groups/delta, users/delta) after the first sync.
package groupsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/export"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Defaults of the spec.
const (
	DefaultInterval  = 15 * time.Minute
	DefaultRetention = 30 * 24 * time.Hour
)

// Graph is what a sync needs from a Graph client.
type Graph interface {
	GetGroup(ctx context.Context, id string) (graph.Group, error)
	FindGroups(ctx context.Context, displayName string) ([]graph.Group, error)
	ListGroupMembers(ctx context.Context, groupID string, transitive bool, selectProps ...string) ([]graph.User, error)
	GetUsers(ctx context.Context, keys []string, selectProps ...string) ([]graph.UserResult, error)
	GetManagers(ctx context.Context, userIDs []string) ([]graph.ManagerResult, error)
	GroupMembersDelta(ctx context.Context, link, groupID string) (graph.GroupMembersDelta, error)
	UsersDelta(ctx context.Context, q graph.UsersDeltaQuery, fn func(graph.UserChange) error) (string, error)
	CountUsers(ctx context.Context) (int, error)
	CountGroupMembers(ctx context.Context, groupID string, transitive bool) (int, error)
}

var _ Graph = (*graph.Client)(nil)

// Reconciler reconciles GroupSync objects.
type Reconciler struct {
	client.Client
	// APIReader reads the previous export uncached: the cache may not have
	// seen the last write yet, and a stale state would undo a sync.
	APIReader client.Reader
	// Connector resolves the referenced Directory to its Graph port.
	Connector connection.Connector[Graph]
	Recorder  events.EventRecorder
	// Clock tells the time (default: the real clock); tests inject a fake.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=groupsyncs,verbs=get;list;watch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=groupsyncs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directories,verbs=get;list;watch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directoryusers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile syncs one GroupSync.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	gs := &v1alpha1.GroupSync{}
	// Read around the cache: a reconcile queued while the last one ran
	// (a Directory turning Ready, a sync request) would otherwise see the
	// status before that sync, run it again, and lose its delta cursor.
	// GroupSyncs are few and small; one GET per sync is nothing.
	if err := r.APIReader.Get(ctx, req.NamespacedName, gs); err != nil {
		// The export ConfigMaps and imported DirectoryUsers are owned by the
		// GroupSync: garbage collection removes them, nothing is in Graph.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if wait, due := syncDue(gs, r.now()); !due {
		// Woken by something else than the interval, a sync request or a
		// spec change (a Directory turning Ready, a manager restart): the
		// last sync is recent and describes this spec.
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	before := gs.DeepCopy()

	err := r.reconcile(ctx, gs)
	ctrlkit.Summarize(&gs.Status.CommonStatus, gs.Generation, err, readyMessage(gs))
	r.recordFailure(gs, err)
	if perr := ctrlkit.PatchStatus(ctx, r.Client, gs, before); perr != nil {
		return ctrl.Result{}, perr
	}
	res, rerr := ctrlkit.Result(err, interval(gs))
	var stalled *ctrlkit.StalledError
	if errors.As(err, &stalled) {
		// What stalls a GroupSync is usually fixed outside the cluster (the
		// group is created, consent is granted): look again at the interval.
		res.RequeueAfter = interval(gs)
	}
	return res, rerr
}

func (r *Reconciler) reconcile(ctx context.Context, gs *v1alpha1.GroupSync) error {
	conn, err := r.Connector.Connect(ctx, gs.Namespace, gs.Spec.DirectoryRef)
	if err != nil {
		return err
	}
	res, err := r.sync(ctx, gs, conn.Graph)
	if err != nil {
		return err
	}
	if res.changed() || res.mode == v1alpha1.SyncFull {
		r.event(gs, corev1.EventTypeNormal, v1alpha1.ReasonSucceeded, "Sync", res.summary(gs.Status.DisplayName))
	}
	log.FromContext(ctx).Info("Synced group", "group", gs.Status.GroupID, "mode", res.mode,
		"members", gs.Status.MemberCount, "added", res.added, "removed", res.removed, "updated", res.updated,
		"graphRequests", gs.Status.LastSync.GraphRequests, "resourceUnits", gs.Status.LastSync.ResourceUnits)
	return nil
}

// sync runs one sync and, only once the export is written, records the
// outcome and the new cursor in status: a failed write leaves the old cursor,
// so the changes are read again next time instead of being lost.
func (r *Reconciler) sync(ctx context.Context, gs *v1alpha1.GroupSync, gc Graph) (*syncResult, error) {
	prevExport := exportName(gs)
	if e := gs.Status.Export; e != nil && len(e.ConfigMaps) > 0 {
		prevExport = e.ConfigMaps[0]
	}
	var st state
	b, err := export.Read(ctx, r.APIReader, gs, prevExport, UsersFile)
	var apiErr apierrors.APIStatus
	if errors.As(err, &apiErr) {
		return nil, fmt.Errorf("reading export %s: %w", prevExport, err)
	}
	if err == nil && b != nil {
		st, err = parseState(b)
	}
	if err != nil {
		// An unreadable export (a shard deleted by hand, an older format)
		// costs one full sync, not a stuck resource. Leavers recorded only
		// in it are forgotten.
		log.FromContext(ctx).Info("Ignored unreadable export; running a full sync", "configMap", prevExport, "reason", err.Error())
		st = nil
	}
	// The sync's own requests: the client is shared with every other
	// resource of the Directory.
	mctx, meter := graph.WithMeter(ctx)
	s := &syncer{gc: gc, gs: gs, now: r.now(), st: st}
	res, err := s.run(mctx)
	if err != nil {
		var gone *groupGoneError
		if errors.As(err, &gone) {
			// Forget the cursor: the next sync resolves the group afresh.
			gs.Status.Cursor = nil
			return nil, ctrlkit.Stalled(gone.reason, "%s", gone.msg)
		}
		return nil, ctrlkit.FromGraph(err, ctrlkit.GraphOp{Doing: "syncing the group", Permissions: "GroupMember.Read.All and User.Read.All"})
	}

	out, err := export.Write(ctx, r.Client, r.APIReader, r.Scheme(), gs, exportName(gs), UsersFile, s.st.render())
	if err != nil {
		return nil, fmt.Errorf("writing export: %w", err)
	}
	if prevExport != exportName(gs) {
		if err := export.Delete(ctx, r.Client, gs, prevExport); err != nil {
			return nil, fmt.Errorf("deleting old export %s: %w", prevExport, err)
		}
	}
	imported := s.st
	if !gs.Spec.ImportUsers {
		// Turned off (or never on): remove what an earlier import created.
		imported = nil
	}
	if err := r.importUsers(ctx, gs, imported); err != nil {
		return nil, err
	}

	used := meter.Usage()
	active, removed, withManager := s.st.counts()
	gs.Status.GroupID = s.groupID
	gs.Status.DisplayName = s.displayName
	gs.Status.MemberCount, gs.Status.RemovedCount, gs.Status.ManagersResolved = int32(active), int32(removed), int32(withManager)
	gs.Status.Export = &v1alpha1.ExportStatus{ConfigMaps: out.ConfigMaps, Encoding: out.Encoding, Command: out.Command}
	gs.Status.Cursor = &s.cursor
	gs.Status.LastHandledSyncRequest = gs.Annotations[v1alpha1.AnnotationSyncRequested]
	gs.Status.LastSync = &v1alpha1.LastSync{
		Time: metav1.NewTime(s.now.Truncate(time.Second)), Mode: res.mode,
		Added: int32(res.added), Removed: int32(res.removed), Updated: int32(res.updated),
		GraphRequests: used.Requests, ResourceUnits: used.ResourceUnits,
		ManagerStrategy: res.plan.Strategy, EstimatedResourceUnits: int64(res.plan.ResourceUnits),
	}
	return res, nil
}

// groupGoneError means the group was deleted or cannot be resolved
// (missing, or several groups with the name).
type groupGoneError struct{ reason, msg string }

func (e *groupGoneError) Error() string { return e.msg }

func (r *Reconciler) event(gs *v1alpha1.GroupSync, kind, reason, action, note string) {
	ctrlkit.Event(r.Recorder, gs, nil, kind, reason, action, "%s", note)
}

// recordFailure emits a Warning event for a failed sync. Waiting
// (throttled, Directory not ready) is expected and only shows in the
// conditions; successful syncs emit their own summary event.
func (r *Reconciler) recordFailure(gs *v1alpha1.GroupSync, err error) {
	var w *ctrlkit.WaitingError
	if err == nil || errors.As(err, &w) {
		return
	}
	if ready := meta.FindStatusCondition(gs.Status.Conditions, v1alpha1.ConditionReady); ready != nil {
		r.event(gs, corev1.EventTypeWarning, ready.Reason, "Sync", ready.Message)
	}
}

func readyMessage(gs *v1alpha1.GroupSync) string {
	ls := gs.Status.LastSync
	if ls == nil {
		return "Synced"
	}
	return fmt.Sprintf("Mirrored %d members of %q (%d removed kept) by %s sync", gs.Status.MemberCount, gs.Status.DisplayName, gs.Status.RemovedCount, ls.Mode)
}

func exportName(gs *v1alpha1.GroupSync) string {
	if gs.Spec.Export != "" {
		return gs.Spec.Export
	}
	return gs.Name + "-members"
}

// syncDue says whether a sync must run now and, if not, when it is due:
// never synced, the last attempt failed or saw an older spec, a sync was
// requested through the annotation, or the interval has passed.
func syncDue(gs *v1alpha1.GroupSync, now time.Time) (time.Duration, bool) {
	ls := gs.Status.LastSync
	if ls == nil || !ctrlkit.IsReady(&gs.Status.CommonStatus, gs.Generation) ||
		gs.Annotations[v1alpha1.AnnotationSyncRequested] != gs.Status.LastHandledSyncRequest {
		return 0, true
	}
	left := interval(gs) - now.Sub(ls.Time.Time)
	return left, left <= 0
}

func interval(gs *v1alpha1.GroupSync) time.Duration {
	if gs.Spec.Interval != nil && gs.Spec.Interval.Duration > 0 {
		return gs.Spec.Interval.Duration
	}
	return DefaultInterval
}

func retention(gs *v1alpha1.GroupSync) time.Duration {
	if gs.Spec.Retention != nil && gs.Spec.Retention.Duration > 0 {
		return gs.Spec.Retention.Duration
	}
	return DefaultRetention
}

func includeManagers(gs *v1alpha1.GroupSync) bool {
	return gs.Spec.IncludeManagers == nil || *gs.Spec.IncludeManagers
}

func (r *Reconciler) now() time.Time { return ctrlkit.Now(r.Clock) }

// directoryIndex indexes GroupSyncs by the Directory they reference.
const directoryIndex = "spec.directoryRef.name"

// SetupWithManager registers the controller. Neither the export
// ConfigMaps nor the imported DirectoryUsers are watched: every sync writes
// them, and a watch would turn each sync into two. Directories are watched
// only for turning usable (connection.UsabilityChanged), so a GroupSync created with its Directory syncs
// as soon as the connection works instead of at its next retry.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.GroupSync{}, directoryIndex, func(o client.Object) []string {
		return []string{o.(*v1alpha1.GroupSync).Spec.DirectoryRef.Name}
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.GroupSync{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&v1alpha1.Directory{}, handler.EnqueueRequestsFromMapFunc(r.groupSyncsForDirectory),
			builder.WithPredicates(connection.UsabilityChanged)).
		Named("groupsync").
		Complete(r)
}

func (r *Reconciler) groupSyncsForDirectory(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.GroupSyncList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{directoryIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing GroupSyncs for Directory failed", "directory", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}
