// Package directory reconciles Directory: it checks that the tenant
// connection works (token, permissions, GET /organization), reports why not
// in terms a user can act on, and publishes the shared throttle figures.
package directory

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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

// DefaultInterval between health checks.
const DefaultInterval = 5 * time.Minute

// secretIndex indexes Directories by the Secrets they reference, so a
// rotated Secret reconciles exactly the Directories that use it.
const secretIndex = "spec.secretRefs"

// RequiredPermissions are the application permissions the operator needs at
// the least, each satisfied by any of its alternatives (Graph accepts a
// broader permission in place of a narrower one).
var RequiredPermissions = []Permission{
	{Name: "User.Read.All", SatisfiedBy: []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}},
}

// Permission is one required application permission.
type Permission struct {
	Name        string
	SatisfiedBy []string
}

// Graph is what the Directory controller needs from a Graph client.
type Graph interface {
	GrantedPermissions(ctx context.Context) ([]string, error)
	Organization(ctx context.Context) (graph.Organization, error)
	ListGroups(ctx context.Context) ([]graph.Group, error)
	Budget() *graph.Budget
}

var _ Graph = (*graph.Client)(nil)

// Clients is the cache of Graph clients the health check refreshes.
type Clients interface {
	// Forget drops a Directory's client (and its token) but keeps the
	// app+tenant budget state.
	Forget(key string)
	// Drop releases everything held for a deleted Directory.
	Drop(key string)
	// Throttle reports the budgets in force for a Directory (combined with
	// the Directories sharing its app+tenant and app).
	Throttle(key string) (graph.ThrottleReport, bool)
}

var _ Clients = (*graph.Registry)(nil)

// Reconciler reconciles Directory objects.
type Reconciler struct {
	client.Client
	// APIReader reads around the cache, which holds only labelled exports:
	// it tells a foreign ConfigMap named like the groups export from our
	// own one the cache has not seen yet. Nil: the Client.
	APIReader client.Reader
	// Dialer builds the Directory's Graph port from its spec and Secrets.
	Dialer connection.Dialer[Graph]
	// Clients is the cache of Graph clients (a *graph.Registry).
	Clients  Clients
	Recorder events.EventRecorder
	// Clock tells the time (default: the real clock); tests inject a fake.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directories,verbs=get;list;watch
// +kubebuilder:rbac:groups=entra.directory-operator.io,resources=directories/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile checks one Directory.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	dir := &v1alpha1.Directory{}
	if err := r.Get(ctx, req.NamespacedName, dir); err != nil {
		if apierrors.IsNotFound(err) {
			r.Clients.Drop(req.String())
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !dir.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, dir)
	}
	if err := r.ensureFinalizer(ctx, dir); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := dir.DeepCopy()

	err := r.check(ctx, dir)
	if forgetClient(err) {
		// A refused credential or a missing permission is fixed outside the
		// cluster (admin consent, a new secret). Drop the cached client so the
		// next check fetches a fresh token instead of reusing one that lacks
		// the newly granted roles.
		r.Clients.Forget(req.String())
	}
	wasReady := meta.IsStatusConditionTrue(before.Status.Conditions, v1alpha1.ConditionReady)
	ctrlkit.Summarize(&dir.Status.CommonStatus, dir.Generation, err, r.readyMessage(dir))
	r.recordTransition(dir, wasReady, err)

	if perr := ctrlkit.PatchStatus(ctx, r.Client, dir, before); perr != nil {
		return ctrl.Result{}, perr
	}
	return ctrlkit.Result(err, interval(dir))
}

// check runs the health check steps in order; each fills its part of status.
func (r *Reconciler) check(ctx context.Context, dir *v1alpha1.Directory) error {
	gc, err := r.Dialer.Dial(ctx, dir)
	if err != nil {
		return err
	}
	defer r.publishThrottling(dir, gc)
	if err := r.checkPermissions(ctx, dir, gc); err != nil {
		return err
	}
	if err := r.checkOrganization(ctx, dir, gc); err != nil {
		return err
	}
	return r.exportGroups(ctx, dir, gc)
}

func (r *Reconciler) checkPermissions(ctx context.Context, dir *v1alpha1.Directory, gc Graph) error {
	granted, err := gc.GrantedPermissions(ctx)
	if err != nil {
		return classify(err, dir)
	}
	if len(granted) == 0 {
		return ctrlkit.Stalled(v1alpha1.ReasonConsentRequired,
			"the app %s has no application permissions granted in tenant %s; an administrator must grant admin consent at %s",
			dir.Spec.ClientID, dir.Spec.TenantID, adminConsentURL(dir))
	}
	if missing := missingPermissions(granted); len(missing) > 0 {
		return ctrlkit.Stalled(v1alpha1.ReasonPermissionMissing,
			"the app %s lacks application permission %s; add it to the app registration and grant admin consent at %s",
			dir.Spec.ClientID, strings.Join(missing, ", "), adminConsentURL(dir))
	}
	return nil
}

func (r *Reconciler) checkOrganization(ctx context.Context, dir *v1alpha1.Directory, gc Graph) error {
	org, err := gc.Organization(ctx)
	if err != nil {
		return classify(err, dir)
	}
	domains := append([]string(nil), org.VerifiedDomains...)
	sort.Strings(domains)
	dir.Status.Organization = &v1alpha1.OrganizationStatus{ID: org.ID, DisplayName: org.DisplayName, VerifiedDomains: domains}
	now := metav1.NewTime(r.now().Truncate(time.Second))
	dir.Status.LastCheckTime = &now
	return nil
}

func (r *Reconciler) publishThrottling(dir *v1alpha1.Directory, gc Graph) {
	s := gc.Budget().Stats()
	dir.Status.Throttling = &v1alpha1.ThrottlingStatus{
		WindowSeconds: int64(s.WindowSeconds),
		Requests:      s.Requests,
		ResourceUnits: s.ResourceUnits,
		Writes:        s.Writes,
		Throttled:     s.Throttled,
	}
	r.publishBudgets(dir)
}

// classify applies the one Graph error policy (ctrlkit.FromGraph) to the
// health check. A credential the token endpoint refused keeps its AADSTS
// code in the message, which is what tells a wrong secret from an unknown app.
func classify(err error, dir *v1alpha1.Directory) error {
	return ctrlkit.FromGraph(err, ctrlkit.GraphOp{Doing: "checking the connection",
		Permissions: "the operator's permissions (admin consent at " + adminConsentURL(dir) + ")"})
}

func forgetClient(err error) bool {
	var s *ctrlkit.StalledError
	if !errors.As(err, &s) {
		return false
	}
	switch s.Reason {
	case v1alpha1.ReasonInvalidCredentials, v1alpha1.ReasonConsentRequired, v1alpha1.ReasonPermissionMissing:
		return true
	}
	return false
}

func missingPermissions(granted []string) []string {
	have := map[string]bool{}
	for _, g := range granted {
		have[g] = true
	}
	var missing []string
	for _, p := range RequiredPermissions {
		ok := false
		for _, alt := range p.SatisfiedBy {
			ok = ok || have[alt]
		}
		if !ok {
			missing = append(missing, p.Name)
		}
	}
	return missing
}

func adminConsentURL(dir *v1alpha1.Directory) string {
	authority, _ := graph.CloudEndpoints(string(dir.Spec.Cloud.Name))
	if dir.Spec.Cloud.Name == v1alpha1.CloudCustom || authority == "" {
		authority = dir.Spec.Cloud.AuthorityHost
	}
	return strings.TrimSuffix(authority, "/") + "/" + url.PathEscape(dir.Spec.TenantID) +
		"/adminconsent?client_id=" + url.QueryEscape(dir.Spec.ClientID)
}

func (r *Reconciler) readyMessage(dir *v1alpha1.Directory) string {
	if o := dir.Status.Organization; o != nil {
		return fmt.Sprintf("Connected to %s (%d verified domains)", o.DisplayName, len(o.VerifiedDomains))
	}
	return "Connected"
}

// recordTransition emits an event when Ready changes, not on every check,
// so a healthy Directory does not fill the event stream.
func (r *Reconciler) recordTransition(dir *v1alpha1.Directory, wasReady bool, err error) {
	ready := meta.FindStatusCondition(dir.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil {
		return
	}
	isReady := ready.Status == metav1.ConditionTrue
	if isReady == wasReady && isReady {
		return
	}
	if !isReady && err != nil {
		var w *ctrlkit.WaitingError
		if errors.As(err, &w) && w.Reason == v1alpha1.ReasonThrottled {
			return
		}
	}
	kind := corev1.EventTypeNormal
	if !isReady {
		kind = corev1.EventTypeWarning
	}
	ctrlkit.Event(r.Recorder, dir, nil, kind, ready.Reason, "HealthCheck", "%s", ready.Message)
}

func interval(dir *v1alpha1.Directory) time.Duration {
	if dir.Spec.Interval != nil && dir.Spec.Interval.Duration > 0 {
		return dir.Spec.Interval.Duration
	}
	return DefaultInterval
}

func (r *Reconciler) now() time.Time { return ctrlkit.Now(r.Clock) }

// SetupWithManager registers the controller and its Secret watch.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Directory{}, secretIndex, secretNames); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Directory{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, deletionStarted))).
		Owns(&corev1.ConfigMap{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.directoriesForSecret))
	return r.watchDependents(b).Named("directory").Complete(r)
}

func secretNames(o client.Object) []string {
	dir := o.(*v1alpha1.Directory)
	var names []string
	if s := dir.Spec.Credential.ClientSecret; s != nil {
		names = append(names, s.Name)
	}
	if c := dir.Spec.Credential.ClientCertificate; c != nil {
		names = append(names, c.SecretName)
	}
	if ca := dir.Spec.Cloud.CABundle; ca != nil {
		names = append(names, ca.Name)
	}
	return names
}

func (r *Reconciler) directoriesForSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.DirectoryList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{secretIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing Directories for Secret failed", "secret", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, d := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&d)})
	}
	return reqs
}

var _ runtime.Object = (*v1alpha1.Directory)(nil)

// exportGroups refreshes ConfigMap <directory>-groups on every health check
// when exports.groups is on, and removes it when turned off.
func (r *Reconciler) exportGroups(ctx context.Context, dir *v1alpha1.Directory, gc Graph) error {
	name := export.GroupsConfigMapName(dir)
	if !dir.Spec.Exports.Groups {
		meta.RemoveStatusCondition(&dir.Status.Conditions, v1alpha1.ConditionGroupsExported)
		if dir.Status.GroupsExport == "" {
			return nil
		}
		dir.Status.GroupsExport = ""
		return export.Delete(ctx, r.Client, dir, name)
	}
	// The export is an extra: whatever goes wrong with it (a 403 without
	// Group.Read.All, throttling, a ConfigMap write) is reported on its own
	// condition and never makes the Directory unusable for its users and
	// batches. It is tried again at the next health check.
	exportFailed := func(err error) error {
		ctrlkit.SetCondition(&dir.Status.CommonStatus, dir.Generation, v1alpha1.ConditionGroupsExported, false, ctrlkit.ReasonOf(err), err.Error())
		log.FromContext(ctx).Info("Groups export failed; the Directory stays usable", "reason", ctrlkit.ReasonOf(err), "error", err.Error())
		return nil
	}
	groups, err := gc.ListGroups(ctx)
	if err != nil {
		return exportFailed(ctrlkit.FromGraph(err, ctrlkit.GraphOp{Doing: "listing groups for the groups export", Permissions: "Group.Read.All"}))
	}
	live := r.APIReader
	if live == nil {
		live = r.Client
	}
	res, err := export.WriteGroupsCSV(ctx, r.Client, live, r.Scheme(), dir, groups)
	var conflict *ctrlkit.StalledError
	if errors.As(err, &conflict) && conflict.Reason == v1alpha1.ReasonExportConflict {
		// Someone else's ConfigMap holds the name: say so, but keep the
		// Directory usable; its users and batches do not need the export.
		dir.Status.GroupsExport = ""
		ctrlkit.SetCondition(&dir.Status.CommonStatus, dir.Generation, v1alpha1.ConditionGroupsExported, false, conflict.Reason, conflict.Message)
		return nil
	}
	if err != nil {
		return exportFailed(err)
	}
	meta.RemoveStatusCondition(&dir.Status.Conditions, v1alpha1.ConditionGroupsExported)
	dir.Status.GroupsExport = res.Command
	return nil
}
