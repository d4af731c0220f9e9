// Package directoryuser reconciles DirectoryUser: one Entra user kept in Git.
// It creates the user (exactly once, even under replication lag), adopts an
// existing one only when asked, keeps the fields the spec sets and nothing
// else, reports drift, and follows the deletion policy when the resource goes.
package directoryuser

import (
	"context"
	"errors"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Finalizer holds a DirectoryUser until its deletion policy ran in Graph.
const Finalizer = "entra.directory-operator.io/directoryuser"

// defaultName is the controller's name unless Reconciler.Name says otherwise.
const defaultName = "directoryuser"

// Defaults; the Reconciler's fields override them (tests shorten them).
const (
	DefaultInterval = 10 * time.Minute
	// DefaultManagerRetry is how often a user whose manager does not exist
	// yet looks again (a referenced DirectoryUser also triggers at once).
	DefaultManagerRetry = 15 * time.Second
	// DefaultLagRetry is the requeue while a just-created user is not yet
	// readable (Graph replicates new objects within seconds).
	DefaultLagRetry = 2 * time.Second
	// DefaultReplicationGrace is how long after creation a 404 is taken for
	// replication lag rather than for a user deleted out of band.
	DefaultReplicationGrace = 5 * time.Minute
	// DefaultCreateSettle bounds how long a POST /users whose answer was
	// lost may take to become readable. Graph replicates a new user within
	// seconds; a minute leaves a wide margin, and only delays re-creating a
	// user whose POST really did not apply.
	DefaultCreateSettle = time.Minute
	// createClockSkew is how far Graph's createdDateTime may lag our clock
	// and still count a user as created by our pending POST.
	createClockSkew = time.Minute
)

// Field indexes on DirectoryUser, for the watches that map a changed object
// to the DirectoryUsers depending on it.
const (
	directoryIndex = "directoryuser.spec.directoryRef.name"
	managerIndex   = "directoryuser.spec.manager.userRef.name"
	// idIndex maps an object ID the drift watcher reports to its resource.
	idIndex = "directoryuser.status.id"
)

// Graph is what this controller needs from a Graph client.
type Graph interface {
	GetUser(ctx context.Context, idOrUPN string) (graph.User, error)
	CreateUser(ctx context.Context, u graph.NewUser) (graph.User, error)
	UpdateUser(ctx context.Context, id string, u graph.UserUpdate) error
	DeleteUser(ctx context.Context, id string) error
	SetManager(ctx context.Context, userID, managerID string) error
	// UsersDelta is the drift watcher's poll.
	UsersDelta(ctx context.Context, q graph.UsersDeltaQuery, fn func(graph.UserChange) error) (string, error)
}

// Deletions enforces Directory.spec.safety.maxDeletionsPerHour
// (*connection.DeletionLimiter).
type Deletions interface {
	Allow(ctx context.Context, dir *v1alpha1.Directory) (bool, time.Duration, error)
}

var _ Graph = (*graph.Client)(nil)

// Reconciler reconciles DirectoryUser objects.
type Reconciler struct {
	client.Client
	// APIReader reads Secrets straight from the apiserver, so a password
	// Secret created a moment ago is seen even before the cache has it.
	// Defaults to Client.
	APIReader client.Reader
	// Connector resolves the referenced Directory to its Graph port.
	Connector connection.Connector[Graph]
	// Deletions is the deletion allowance; nil: no limit.
	Deletions Deletions
	Recorder  events.EventRecorder
	// MaxConcurrentReconciles bounds parallel reconciles (default 1).
	MaxConcurrentReconciles int
	// ManagerRetry, LagRetry and ReplicationGrace override the defaults above.
	ManagerRetry     time.Duration
	LagRetry         time.Duration
	ReplicationGrace time.Duration
	// DriftPoll caps the users/delta poll period (default DefaultDriftPoll).
	DriftPoll time.Duration
	// Clock tells the time (default: the real clock); tests inject a fake.
	Clock clock.PassiveClock
	// Name of the controller (default "directoryuser") and Filter on its
	// events: several managers in one process (tests, shards) need both.
	Name   string
	Filter predicate.Predicate
	// CreateSettle is how long after a POST whose outcome is unknown a
	// missing user is taken for replication lag (default DefaultCreateSettle).
	CreateSettle time.Duration

	drift *driftWatcher
}

// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directoryusers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directoryusers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directoryusers/finalizers,verbs=update
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directories,verbs=get;list;watch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=userdisablebatches,verbs=get;list;watch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=userenablebatches,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// state is what one reconcile of one DirectoryUser carries between steps.
type state struct {
	du *v1alpha1.DirectoryUser
	// before is the object as last written, the base of status patches.
	before *v1alpha1.DirectoryUser
	conn   *connection.Connection[Graph]
	gc     Graph
	live   graph.User
	found  bool
	// created/adopted say what this reconcile did, for events and messages.
	created, adopted bool
	updated          []string
	drift            []string
	// readAt, when set, is when live was read, earlier than this
	// reconcile (an enumeration's entry).
	readAt time.Time
	// observedGeneration is the generation the last reconcile saw, to tell
	// a spec edit from an out-of-band change.
	observedGeneration int64
}

// needsFinalizer: deleting the resource must do something in Graph. An
// Orphan or ObserveOnly user is left as it is, so its resource carries no
// finalizer, which saves an API write per resource (10,000 at an
// adoption). A policy changed to Delete or Disable adds it at the next
// reconcile, before any write to Graph.
func needsFinalizer(du *v1alpha1.DirectoryUser) bool {
	return !observeOnly(du) && du.Spec.DeletionPolicy != v1alpha1.DeletionOrphan
}

// Reconcile brings one DirectoryUser's Graph user in line with its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	du := &v1alpha1.DirectoryUser{}
	if err := r.Get(ctx, req.NamespacedName, du); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !du.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, du)
	}
	// The finalizer is persisted before anything is written to Graph, so a
	// user the operator creates can never outlive its resource unnoticed.
	if needsFinalizer(du) && controllerutil.AddFinalizer(du, Finalizer) {
		if err := r.Update(ctx, du); err != nil {
			return ctrl.Result{}, err
		}
	}
	s := &state{du: du, before: du.DeepCopy(), observedGeneration: du.Status.ObservedGeneration}
	if applyHold(du) {
		// A hold set or released changes what Graph must hold: read it
		// even if the drift watcher saw no change (see unchanged).
		du.Status.LastSyncTime = nil
	}
	prevReady := meta.FindStatusCondition(du.Status.Conditions, v1alpha1.ConditionReady)
	prevReason := ""
	if prevReady != nil {
		prevReason = prevReady.Reason
	}

	err := r.sync(ctx, s)

	ctrlkit.Summarize(&du.Status.CommonStatus, du.Generation, err, readyMessage(s))
	setSynced(s, err)
	setHeldCondition(du)
	r.report(ctx, s, prevReason, err)
	if perr := ctrlkit.PatchStatus(ctx, r.Client, du, s.before); perr != nil {
		return ctrl.Result{}, perr
	}
	return ctrlkit.Result(err, interval(du))
}

// setSynced says whether Graph matches the spec.
func setSynced(s *state, err error) {
	du := s.du
	switch {
	case err != nil:
		ctrlkit.SetCondition(&du.Status.CommonStatus, du.Generation, v1alpha1.ConditionSynced, false, reasonOf(err), err.Error())
	case len(s.drift) > 0:
		ctrlkit.SetCondition(&du.Status.CommonStatus, du.Generation, v1alpha1.ConditionSynced, false, v1alpha1.ReasonDrifted,
			"live user differs from spec in: "+joinFields(s.drift)+" (ObserveOnly: not reverted)")
	default:
		ctrlkit.SetCondition(&du.Status.CommonStatus, du.Generation, v1alpha1.ConditionSynced, true, v1alpha1.ReasonSucceeded, "live user matches spec")
	}
}

// report logs and records events for what changed: writes done, and
// transitions into a stalled state (not every retry, so a waiting or
// throttled resource does not flood the event stream).
func (r *Reconciler) report(ctx context.Context, s *state, prevReason string, err error) {
	l := log.FromContext(ctx)
	du := s.du
	switch {
	case s.created:
		l.Info("Created user", "upn", s.live.UserPrincipalName, "id", s.live.ID)
		r.event(du, corev1.EventTypeNormal, v1alpha1.ReasonSucceeded, "CreateUser", "Created user %s (id %s)", s.live.UserPrincipalName, s.live.ID)
	case s.adopted:
		l.Info("Adopted user", "upn", s.live.UserPrincipalName, "id", s.live.ID)
		r.event(du, corev1.EventTypeNormal, v1alpha1.ReasonSucceeded, "AdoptUser", "Adopted existing user %s (id %s)", s.live.UserPrincipalName, s.live.ID)
	}
	if len(s.updated) > 0 && !s.created {
		fields := joinFields(s.updated)
		if du.Generation == s.observedGeneration && !s.adopted {
			// The spec did not change since the last sync: someone edited
			// the user outside Git.
			l.Info("Reverted out-of-band changes", "upn", s.live.UserPrincipalName, "fields", fields)
			r.event(du, corev1.EventTypeNormal, v1alpha1.ReasonDrifted, "UpdateUser", "Reverted out-of-band changes to %s", fields)
		} else {
			l.Info("Updated user", "upn", s.live.UserPrincipalName, "fields", fields)
			r.event(du, corev1.EventTypeNormal, v1alpha1.ReasonSucceeded, "UpdateUser", "Updated %s", fields)
		}
	}
	var stalled *ctrlkit.StalledError
	var waiting *ctrlkit.WaitingError
	switch {
	case err == nil:
	case errors.As(err, &stalled):
		if stalled.Reason != prevReason {
			l.Info("Stalled", "reason", stalled.Reason, "message", stalled.Message)
			r.event(du, corev1.EventTypeWarning, stalled.Reason, "Reconcile", "%s", stalled.Message)
		}
	case errors.As(err, &waiting):
		l.V(1).Info("Waiting", "reason", waiting.Reason, "message", waiting.Message, "requeueAfter", waiting.RequeueAfter)
	default:
		l.Error(err, "Reconcile failed")
	}
}

func (r *Reconciler) event(obj client.Object, kind, reason, action, note string, args ...any) {
	ctrlkit.Event(r.Recorder, obj, nil, kind, reason, action, note, args...)
}

func reasonOf(err error) string { return ctrlkit.ReasonOf(err) }

func readyMessage(s *state) string {
	upn := s.live.UserPrincipalName
	if observeOnly(s.du) {
		if len(s.drift) > 0 {
			return "Observing user " + upn + "; drift in " + joinFields(s.drift)
		}
		return "Observing user " + upn
	}
	return "User " + upn + " (id " + s.live.ID + ") matches spec"
}

func interval(du *v1alpha1.DirectoryUser) time.Duration {
	if du.Spec.Interval != nil && du.Spec.Interval.Duration > 0 {
		return du.Spec.Interval.Duration
	}
	return DefaultInterval
}

func observeOnly(du *v1alpha1.DirectoryUser) bool {
	return du.Spec.ManagementPolicy == v1alpha1.ManagementObserveOnly
}

func (r *Reconciler) now() time.Time { return ctrlkit.Now(r.Clock) }

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (r *Reconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// SetupWithManager registers the controller and its watches.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return r.SetupWithManagerAs(mgr, r)
}

// SetupWithManagerAs registers rec as the DirectoryUser controller: r itself,
// or r wrapped (tests count reconciles this way).
func (r *Reconciler) SetupWithManagerAs(mgr ctrl.Manager, rec reconcile.Reconciler) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	for name, fn := range indexes {
		if err := idx.IndexField(ctx, &v1alpha1.DirectoryUser{}, name, fn); err != nil {
			return err
		}
	}
	if err := idx.IndexField(ctx, &v1alpha1.UserDisableBatch{}, disabledIDIndex, indexDisabledIDs); err != nil {
		return err
	}
	r.drift = newDriftWatcher(mgr.GetClient(), r.Connector, r.DriftPoll, r.now)
	name := r.Name
	if name == "" {
		name = defaultName
	}
	r.drift.live, r.drift.writer, r.drift.id, r.drift.filter = mgr.GetAPIReader(), mgr.GetClient(), name, r.Filter
	if err := mgr.Add(r.drift); err != nil {
		return err
	}
	// The watcher counts DirectoryUsers awaiting their first read as the
	// cache sees them arrive, to enumerate a large apply's users at once
	// (snapshot.go) before their reconciles read them one by one.
	inf, err := mgr.GetCache().GetInformer(ctx, &v1alpha1.DirectoryUser{})
	if err != nil {
		return err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: r.drift.noteAdded}); err != nil {
		return err
	}
	bld := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.DirectoryUser{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, deletionStarted, holdChanged))).
		WatchesRawSource(source.Channel(r.drift.events, &handler.EnqueueRequestForObject{})).
		Watches(&v1alpha1.Directory{}, handler.EnqueueRequestsFromMapFunc(r.usersOfDirectory), builder.WithPredicates(connection.UsabilityChanged)).
		Watches(&v1alpha1.DirectoryUser{}, handler.EnqueueRequestsFromMapFunc(r.reportsOf), builder.WithPredicates(userIdentityChanged)).
		Watches(&v1alpha1.DirectoryUser{}, handler.EnqueueRequestsFromMapFunc(r.claimantsOf), builder.WithPredicates(claimChanged)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named(name)
	if r.Filter != nil {
		bld = bld.WithEventFilter(r.Filter)
	}
	return bld.Complete(rec)
}

// indexes are the field indexes the watches and steps look DirectoryUsers
// up by.
var indexes = map[string]client.IndexerFunc{
	directoryIndex: func(o client.Object) []string {
		return []string{o.(*v1alpha1.DirectoryUser).Spec.DirectoryRef.Name}
	},
	managerIndex: func(o client.Object) []string {
		if m := o.(*v1alpha1.DirectoryUser).Spec.Manager; m != nil && m.UserRef != nil {
			return []string{m.UserRef.Name}
		}
		return nil
	},
	idIndex: func(o client.Object) []string {
		if id := o.(*v1alpha1.DirectoryUser).Status.ID; id != "" {
			return []string{id}
		}
		return nil
	},
	upnIndex: indexUPN,
}

// deletionStarted passes the update that sets deletionTimestamp, whatever
// happens to the generation.
var deletionStarted = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// userIdentityChanged passes DirectoryUser events that matter to the users
// it manages: it appeared, went, or got (another) object ID or UPN.
var userIdentityChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*v1alpha1.DirectoryUser)
		n, ok2 := e.ObjectNew.(*v1alpha1.DirectoryUser)
		if !ok1 || !ok2 {
			return true
		}
		return o.Status.ID != n.Status.ID || o.Status.UserPrincipalName != n.Status.UserPrincipalName
	},
}

// claimChanged passes DirectoryUser events that can change who wins a UPN:
// it appeared, started deleting or went, claims another UPN, or got bound.
var claimChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*v1alpha1.DirectoryUser)
		n, ok2 := e.ObjectNew.(*v1alpha1.DirectoryUser)
		if !ok1 || !ok2 {
			return true
		}
		return !strings.EqualFold(o.Spec.UserPrincipalName, n.Spec.UserPrincipalName) || o.Status.ID != n.Status.ID ||
			o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
	},
}

func (r *Reconciler) usersOfDirectory(ctx context.Context, o client.Object) []reconcile.Request {
	return r.listRequests(ctx, o.GetNamespace(), directoryIndex, o.GetName())
}

func (r *Reconciler) reportsOf(ctx context.Context, o client.Object) []reconcile.Request {
	return r.listRequests(ctx, o.GetNamespace(), managerIndex, o.GetName())
}

func (r *Reconciler) listRequests(ctx context.Context, ns, index, value string) []reconcile.Request {
	var list v1alpha1.DirectoryUserList
	if err := r.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index: value}); err != nil {
		log.FromContext(ctx).Error(err, "Listing DirectoryUsers failed", "index", index, "value", value)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: list.Items[i].Name}})
	}
	return reqs
}
