package directoryuser

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/userspec"
)

// sync runs the steps in order. Each returns a typed error (ctrlkit) that
// decides conditions and requeue; the first error ends the reconcile.
func (r *Reconciler) sync(ctx context.Context, s *state) error {
	du := s.du
	if err := r.claimConflict(ctx, s); err != nil {
		return err
	}
	conn, err := r.Connector.Connect(ctx, du.Namespace, du.Spec.DirectoryRef)
	if err != nil {
		return err
	}
	s.conn, s.gc = conn, conn.Graph
	if !conn.Safety.DomainAllowed(du.Spec.UserPrincipalName) {
		return ctrlkit.Stalled(v1alpha1.ReasonDomainNotAllowed,
			"the domain of %s is not in Directory %q safety.allowedDomains", du.Spec.UserPrincipalName, du.Spec.DirectoryRef.Name)
	}
	if !observeOnly(du) && du.Spec.AccountEnabled != nil && !*du.Spec.AccountEnabled &&
		conn.Safety.Protected(du.Status.ID, du.Spec.UserPrincipalName, du.Status.UserPrincipalName) {
		return ctrlkit.Stalled(v1alpha1.ReasonProtectedUser,
			"%s is a protected user of Directory %q and is never disabled", du.Spec.UserPrincipalName, du.Spec.DirectoryRef.Name)
	}
	if r.unchanged(ctx, s) {
		// The drift watcher saw no change since the last read: nothing to
		// read, write or report (status stays as it is, so no write either).
		s.live = graph.User{ID: du.Status.ID, UserPrincipalName: du.Status.UserPrincipalName}
		return nil
	}
	readAt := r.now()
	steps := []func(context.Context, *state) error{r.findOrCreate, r.updateFields, r.syncManager}
	for _, step := range steps {
		if err := step(ctx, s); err != nil {
			if s.found {
				r.setStatusFromLive(s)
			}
			return err
		}
	}
	r.setStatusFromLive(s)
	if !s.readAt.IsZero() {
		readAt = s.readAt // taken from an enumeration: as old as that
	}
	if r.drift != nil && s.live.ID != "" {
		r.drift.read(directoryKey(du), s.live.ID, readAt)
	}
	return nil
}

// unchanged reports whether this reconcile can skip Graph: the spec is the
// one last synced successfully, the manager it names is the one Graph
// had, and the drift watcher covers the user with no change reported since
// it was last read. Anything else (a spec edit, a new manager ID, a drift
// report, a watcher that lost its delta link) reads the user as usual.
func (r *Reconciler) unchanged(ctx context.Context, s *state) bool {
	du := s.du
	st := &du.Status
	if r.drift == nil || du.Spec.DirectoryRef.IsCluster() || st.ID == "" || st.LastSyncTime == nil || len(st.Drift) > 0 ||
		st.ObservedGeneration != du.Generation || !ctrlkit.IsReady(&st.CommonStatus, du.Generation) {
		return false
	}
	if m := du.Spec.Manager; m != nil {
		want := m.UserPrincipalName
		if m.UserRef != nil {
			ref := &v1alpha1.DirectoryUser{}
			if err := r.Get(ctx, client.ObjectKey{Namespace: du.Namespace, Name: m.UserRef.Name}, ref); err != nil {
				return false
			}
			want = ref.Status.UserPrincipalName
		}
		if want == "" || !strings.EqualFold(want, st.ManagerUserPrincipalName) {
			return false
		}
	}
	r.drift.ensurePolled(ctx, types.NamespacedName{Namespace: du.Namespace, Name: du.Spec.DirectoryRef.Name})
	return r.drift.covered(directoryKey(du), st.ID, st.LastSyncTime.Time, interval(du))
}

func directoryKey(du *v1alpha1.DirectoryUser) string {
	return du.Namespace + "/" + du.Spec.DirectoryRef.Name
}

// findOrCreate sets s.live: the user by its recorded ID, else by UPN
// (adopting it when allowed), else a new user.
func (r *Reconciler) findOrCreate(ctx context.Context, s *state) error {
	du := s.du
	if id := du.Status.ID; id != "" {
		u, err := s.gc.GetUser(ctx, id)
		switch {
		case err == nil:
			s.live, s.found = u, true
			return nil
		case graph.IsNotFound(err) && r.recentlyCreated(du):
			// Never POST again here: the user exists, Graph's read replicas
			// have not caught up yet.
			return ctrlkit.Waiting(ctrlkit.Jitter(orDefault(r.LagRetry, DefaultLagRetry), 0.2), v1alpha1.ReasonReplicationLag,
				"user %s was created moments ago and is not readable yet (Graph replication lag)", id)
		case graph.IsNotFound(err):
			log.FromContext(ctx).Info("User no longer exists in Graph; looking it up by UPN", "id", id, "upn", du.Spec.UserPrincipalName)
			du.Status.ID, du.Status.Adopted, du.Status.CreatedDateTime = "", false, nil
		default:
			return graphError(err, "reading user "+id)
		}
	}

	if p := du.Status.CreatePending; p != nil && !observeOnly(du) {
		return r.resolvePending(ctx, s, p)
	}
	u, err := r.lookUp(ctx, s)
	switch {
	case err == nil:
		return r.adopt(ctx, s, u)
	case !graph.IsNotFound(err):
		return graphError(err, "looking up user "+du.Spec.UserPrincipalName)
	case observeOnly(du):
		return ctrlkit.Waiting(interval(du), v1alpha1.ReasonUserNotFound,
			"no user %s in the directory; ObserveOnly never creates one", du.Spec.UserPrincipalName)
	}
	return r.create(ctx, s)
}

// lookUp finds an unbound resource's user by UPN: in the drift watcher's
// enumeration when one was made for a large apply (snapshot.go), else in
// Graph.
func (r *Reconciler) lookUp(ctx context.Context, s *state) (graph.User, error) {
	du := s.du
	if r.drift != nil && !du.Spec.DirectoryRef.IsCluster() {
		switch u, at, answer := r.drift.lookup(ctx, directoryKey(du), du.Spec.UserPrincipalName); answer {
		case present:
			s.readAt = at
			return u, nil
		case absent:
			return graph.User{}, &graph.Error{Kind: graph.NotFound, StatusCode: http.StatusNotFound, Code: "Request_ResourceNotFound",
				Message: "no user " + du.Spec.UserPrincipalName + " in the tenant's enumeration"}
		}
	}
	return s.gc.GetUser(ctx, du.Spec.UserPrincipalName)
}

// adopt binds the resource to a user that existed before it. ObserveOnly
// only watches it (no ID recorded: the operator does not own it); Full
// takes it over only with spec.adopt, and never sets its password.
func (r *Reconciler) adopt(ctx context.Context, s *state, u graph.User) error {
	du := s.du
	if observeOnly(du) {
		s.live, s.found = u, true
		return nil
	}
	if !du.Spec.Adopt {
		return ctrlkit.Stalled(v1alpha1.ReasonUserExists,
			"a user with userPrincipalName %s already exists (id %s); set spec.adopt: true to manage it", u.UserPrincipalName, u.ID)
	}
	s.live, s.found, s.adopted = u, true, true
	du.Status.ID, du.Status.Adopted = u.ID, true
	du.Status.CreatedDateTime = metaTime(u.CreatedDateTime)
	return r.recordID(ctx, s)
}

// recordID puts what identifies the user into status; the reconcile's one
// status patch at its end writes it. No patch of its own: a crash or a
// failed write before that leaves status.createPending in place, and the
// next reconcile binds the user by UPN (ownCreation) instead of posting
// again; an adoption that is lost is simply redone. That saves one API
// server write per created user.
func (r *Reconciler) recordID(_ context.Context, s *state) error {
	r.setStatusFromLive(s)
	return nil
}

func (r *Reconciler) recentlyCreated(du *v1alpha1.DirectoryUser) bool {
	if du.Status.Adopted || du.Status.CreatedDateTime == nil {
		return false
	}
	return r.now().Sub(du.Status.CreatedDateTime.Time) < orDefault(r.ReplicationGrace, DefaultReplicationGrace)
}

// updateFields patches the fields the spec sets and the live user does not
// match, in one PATCH (a UPN change is a rename, not delete+create).
// ObserveOnly only records the difference.
func (r *Reconciler) updateFields(ctx context.Context, s *state) error {
	if _, err := r.holdForBatch(ctx, s); err != nil {
		return err
	}
	upd, fields := userspec.Diff(s.du.Spec, s.live)
	if len(fields) == 0 {
		return nil
	}
	if observeOnly(s.du) {
		s.drift = append(s.drift, fields...)
		return nil
	}
	if upd.AccountEnabled != nil && !*upd.AccountEnabled && s.conn.Safety.Protected(s.live.ID, s.live.UserPrincipalName) {
		return ctrlkit.Stalled(v1alpha1.ReasonProtectedUser,
			"%s is a protected user of Directory %q and is never disabled", s.live.UserPrincipalName, s.du.Spec.DirectoryRef.Name)
	}
	if err := s.gc.UpdateUser(ctx, s.live.ID, upd); err != nil {
		switch {
		case graph.KindOf(err) == graph.Conflict:
			return ctrlkit.Stalled(v1alpha1.ReasonUserExists, "cannot rename to %s: %v", s.du.Spec.UserPrincipalName, err)
		case graph.IsNotFound(err) && r.recentlyCreated(s.du):
			return ctrlkit.Waiting(ctrlkit.Jitter(orDefault(r.LagRetry, DefaultLagRetry), 0.2), v1alpha1.ReasonReplicationLag,
				"user %s is not writable yet (Graph replication lag)", s.live.ID)
		}
		return graphError(err, "updating user "+s.live.ID)
	}
	apply(&s.live, upd)
	s.updated = append(s.updated, fields...)
	return nil
}

// apply records a successful update in the live copy, so status shows the
// new values without another GET.
func apply(live *graph.User, u graph.UserUpdate) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&live.UserPrincipalName, u.UserPrincipalName)
	set(&live.DisplayName, u.DisplayName)
	set(&live.GivenName, u.GivenName)
	set(&live.Surname, u.Surname)
	set(&live.MailNickname, u.MailNickname)
	set(&live.JobTitle, u.JobTitle)
	set(&live.Department, u.Department)
	set(&live.OfficeLocation, u.OfficeLocation)
	set(&live.UsageLocation, u.UsageLocation)
	set(&live.EmployeeID, u.EmployeeID)
	if u.AccountEnabled != nil {
		v := *u.AccountEnabled
		live.AccountEnabled = &v
	}
}

// syncManager sets the manager when the spec names one. A manager that does
// not exist yet (or a referenced DirectoryUser without an object ID) waits.
func (r *Reconciler) syncManager(ctx context.Context, s *state) error {
	m := s.du.Spec.Manager
	if m == nil {
		return nil
	}
	want, err := r.resolveManager(ctx, s, m)
	if err != nil || want.ID == "" {
		return err
	}
	if cur := s.live.Manager; cur != nil && cur.ID == want.ID {
		return nil
	}
	if observeOnly(s.du) {
		s.drift = append(s.drift, "manager")
		return nil
	}
	if err := s.gc.SetManager(ctx, s.live.ID, want.ID); err != nil {
		if graph.IsNotFound(err) {
			return ctrlkit.Waiting(ctrlkit.Jitter(orDefault(r.ManagerRetry, DefaultManagerRetry), 0.1), v1alpha1.ReasonWaitingForManager,
				"manager %s or user %s is not visible in Graph yet", want.UserPrincipalName, s.live.ID)
		}
		return graphError(err, "setting the manager of "+s.live.ID)
	}
	s.live.Manager = &want
	s.updated = append(s.updated, "manager")
	return nil
}

// resolveManager finds the manager's object ID. A UPN manager the live user
// already has costs no Graph read.
func (r *Reconciler) resolveManager(ctx context.Context, s *state, m *v1alpha1.ManagerReference) (graph.UserRef, error) {
	wait := func(format string, args ...any) error {
		return ctrlkit.Waiting(ctrlkit.Jitter(orDefault(r.ManagerRetry, DefaultManagerRetry), 0.1), v1alpha1.ReasonWaitingForManager, format, args...)
	}
	if m.UserRef != nil {
		other := &v1alpha1.DirectoryUser{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: s.du.Namespace, Name: m.UserRef.Name}, other); err != nil {
			if apierrors.IsNotFound(err) {
				return graph.UserRef{}, wait("manager DirectoryUser %q does not exist", m.UserRef.Name)
			}
			return graph.UserRef{}, err
		}
		if other.Status.ID == "" {
			return graph.UserRef{}, wait("manager DirectoryUser %q has no user yet", m.UserRef.Name)
		}
		upn := other.Status.UserPrincipalName
		if upn == "" {
			upn = other.Spec.UserPrincipalName
		}
		return graph.UserRef{ID: other.Status.ID, UserPrincipalName: upn}, nil
	}
	if cur := s.live.Manager; cur != nil && strings.EqualFold(cur.UserPrincipalName, m.UserPrincipalName) {
		return *cur, nil
	}
	mu, err := s.gc.GetUser(ctx, m.UserPrincipalName)
	if err != nil {
		if graph.IsNotFound(err) {
			return graph.UserRef{}, wait("manager %s does not exist in the directory yet", m.UserPrincipalName)
		}
		return graph.UserRef{}, graphError(err, "looking up manager "+m.UserPrincipalName)
	}
	return graph.UserRef{ID: mu.ID, UserPrincipalName: mu.UserPrincipalName}, nil
}

// setStatusFromLive shows what Graph holds (never the spec's wishes).
func (r *Reconciler) setStatusFromLive(s *state) {
	st := &s.du.Status
	u := s.live
	st.UserPrincipalName = u.UserPrincipalName
	st.DisplayName = u.DisplayName
	st.JobTitle = u.JobTitle
	st.Department = u.Department
	st.AccountEnabled = nil
	if u.AccountEnabled != nil {
		v := *u.AccountEnabled
		st.AccountEnabled = &v
	}
	st.ManagerUserPrincipalName = ""
	if u.Manager != nil {
		st.ManagerUserPrincipalName = u.Manager.UserPrincipalName
	}
	if t := metaTime(u.CreatedDateTime); t != nil {
		st.CreatedDateTime = t
	}
	now := metav1.NewTime(r.now().Truncate(time.Second))
	st.LastSyncTime = &now
	st.Drift = nil
	if len(s.drift) > 0 {
		st.Drift = append([]string(nil), s.drift...)
		sort.Strings(st.Drift)
	}
}

// newUser is the POST body: spec values, and defaults Graph requires.
func newUser(du *v1alpha1.DirectoryUser, password string, forceChange bool) graph.NewUser {
	spec := du.Spec
	local, _, _ := strings.Cut(spec.UserPrincipalName, "@")
	nu := graph.NewUser{
		UserPrincipalName:     spec.UserPrincipalName,
		DisplayName:           spec.DisplayName,
		MailNickname:          spec.MailNickname,
		GivenName:             spec.GivenName,
		Surname:               spec.Surname,
		UsageLocation:         spec.UsageLocation,
		AccountEnabled:        spec.AccountEnabled == nil || *spec.AccountEnabled,
		Password:              password,
		ForceChangeNextSignIn: forceChange,
	}
	if nu.DisplayName == "" {
		nu.DisplayName = local
	}
	if nu.MailNickname == "" {
		nu.MailNickname = mailNickname(local)
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	nu.JobTitle, nu.Department = deref(spec.JobTitle), deref(spec.Department)
	nu.OfficeLocation, nu.EmployeeID = deref(spec.OfficeLocation), deref(spec.EmployeeID)
	return nu
}

// mailNickname keeps the characters Graph accepts in a mail nickname.
func mailNickname(local string) string {
	n := strings.Map(func(r rune) rune {
		if r > 127 || strings.ContainsRune(" @()\\[]\";:<>,", r) {
			return -1
		}
		return r
	}, local)
	n = strings.Trim(n, ".")
	if len(n) > 64 {
		n = n[:64]
	}
	if n == "" {
		n = "user"
	}
	return n
}

// fillCreated completes a POST answer that omitted properties we sent.
func fillCreated(u *graph.User, nu graph.NewUser) {
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&u.UserPrincipalName, nu.UserPrincipalName)
	fill(&u.DisplayName, nu.DisplayName)
	fill(&u.MailNickname, nu.MailNickname)
	fill(&u.GivenName, nu.GivenName)
	fill(&u.Surname, nu.Surname)
	fill(&u.JobTitle, nu.JobTitle)
	fill(&u.Department, nu.Department)
	fill(&u.OfficeLocation, nu.OfficeLocation)
	fill(&u.UsageLocation, nu.UsageLocation)
	fill(&u.EmployeeID, nu.EmployeeID)
	if u.AccountEnabled == nil {
		v := nu.AccountEnabled
		u.AccountEnabled = &v
	}
}

// graphError applies the operator's one Graph error policy
// (ctrlkit.FromGraph) with this controller's context.
func graphError(err error, doing string) error {
	return ctrlkit.FromGraph(err, ctrlkit.GraphOp{Doing: doing, Permissions: "User.ReadWrite.All"})
}

func metaTime(t *time.Time) *metav1.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	m := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &m
}

func joinFields(fields []string) string {
	f := append([]string(nil), fields...)
	sort.Strings(f)
	return strings.Join(f, ", ")
}
