package groupsync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// syncResult is what one sync did.
type syncResult struct {
	mode                    v1alpha1.SyncMode
	added, removed, updated int
	plan                    Plan
}

func (r *syncResult) changed() bool { return r.added+r.removed+r.updated > 0 }

func (r *syncResult) summary(group string) string {
	s := fmt.Sprintf("%s sync of %q: %d joined, %d left, %d changed", r.mode, group, r.added, r.removed, r.updated)
	if r.mode == v1alpha1.SyncFull {
		s += fmt.Sprintf(" (managers: %s)", r.plan.Strategy)
	}
	return s
}

// errResync means a delta link can no longer be used: one full sync follows.
var errResync = errors.New("delta link expired")

// syncer runs one sync of one GroupSync against its state (the previous
// users.csv). Graph answers are gathered before the state is changed, so a
// failed sync leaves it as it was.
type syncer struct {
	gc  Graph
	gs  *v1alpha1.GroupSync
	now time.Time
	st  state // nil: no previous export

	groupID, displayName string
	cursor               v1alpha1.SyncCursor
}

func (s *syncer) transitive() bool { return s.gs.Spec.Transitive }
func (s *syncer) managers() bool   { return includeManagers(s.gs) }

// run picks delta or full, applies the result to s.st and prunes leavers
// past retention.
func (s *syncer) run(ctx context.Context) (*syncResult, error) {
	res := &syncResult{mode: v1alpha1.SyncDelta}
	canDelta := s.st != nil && s.deltaReady()
	if s.st == nil {
		s.st = state{}
	}
	before := s.st.snapshot()
	var err error
	if canDelta {
		if err = s.delta(ctx); errors.Is(err, errResync) {
			log.FromContext(ctx).Info("Delta link expired; running one full sync", "group", s.gs.Status.GroupID)
		}
	}
	if !canDelta || errors.Is(err, errResync) {
		res.mode = v1alpha1.SyncFull
		res.plan, err = s.full(ctx)
	}
	if err != nil {
		return nil, err
	}
	res.added, res.removed, res.updated = s.st.diff(before)
	s.st.prune(s.now, retention(s.gs))
	return res, nil
}

// deltaReady reports whether the cursor was built for the current spec.
func (s *syncer) deltaReady() bool {
	c := s.gs.Status.Cursor
	if c == nil || s.gs.Status.GroupID == "" || c.UsersDeltaLink == "" {
		return false
	}
	if c.Group != selector(s.gs.Spec.Group) || c.Transitive != s.transitive() || c.IncludeManagers != s.managers() {
		return false
	}
	return s.transitive() || c.GroupDeltaLink != ""
}

func selector(g v1alpha1.GroupSelector) string {
	if g.ID != "" {
		return "id:" + strings.ToLower(g.ID)
	}
	return "displayName:" + g.DisplayName
}

// --- full sync -------------------------------------------------------------

// full reads the group from scratch with the cheapest plan (see
// costmodel.go) and replaces the state's active members with it.
func (s *syncer) full(ctx context.Context) (Plan, error) {
	if err := s.resolveGroup(ctx); err != nil {
		return Plan{}, err
	}
	s.cursor = v1alpha1.SyncCursor{Group: selector(s.gs.Spec.Group), Transitive: s.transitive(), IncludeManagers: s.managers()}
	plan := PlanFullSync(0, 0, s.transitive(), false)
	if s.managers() {
		groupSize, err := s.gc.CountGroupMembers(ctx, s.groupID, s.transitive())
		if err != nil {
			return plan, err
		}
		tenantSize, err := s.gc.CountUsers(ctx)
		if err != nil {
			return plan, err
		}
		plan = PlanFullSync(groupSize, tenantSize, s.transitive(), true)
	}
	var rows state
	var err error
	if plan.Strategy == v1alpha1.ManagersTenantSweep {
		rows, err = s.sweep(ctx)
	} else {
		rows, err = s.listMembers(ctx)
	}
	if err != nil {
		return plan, err
	}
	for id, m := range s.st {
		if rows[id] == nil {
			m.markRemoved(s.now)
		}
	}
	for id, m := range rows {
		s.st[id] = m
	}
	return plan, nil
}

// resolveGroup finds the group: by spec id, by the id resolved earlier
// from the same display name (so a renamed group keeps syncing), or by
// display name.
func (s *syncer) resolveGroup(ctx context.Context) error {
	spec := s.gs.Spec.Group
	id := spec.ID
	if c := s.gs.Status.Cursor; id == "" && c != nil && c.Group == selector(spec) {
		id = s.gs.Status.GroupID
	}
	if id != "" {
		g, err := s.gc.GetGroup(ctx, id)
		switch {
		case err == nil:
			s.groupID, s.displayName = strings.ToLower(g.ID), g.DisplayName
			return nil
		case !graph.IsNotFound(err):
			return err
		case spec.ID != "":
			return &groupGoneError{reason: v1alpha1.ReasonGroupNotFound, msg: fmt.Sprintf("no group with id %s in the tenant", spec.ID)}
		}
		// The group tracked for this display name was deleted: look the
		// name up again (it may have been recreated).
	}
	groups, err := s.gc.FindGroups(ctx, spec.DisplayName)
	if err != nil {
		return err
	}
	switch len(groups) {
	case 0:
		return &groupGoneError{reason: v1alpha1.ReasonGroupNotFound, msg: fmt.Sprintf("no group named %q in the tenant", spec.DisplayName)}
	case 1:
		s.groupID, s.displayName = strings.ToLower(groups[0].ID), groups[0].DisplayName
		return nil
	}
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	sort.Strings(ids)
	return &groupGoneError{reason: v1alpha1.ReasonInvalidSpec, msg: fmt.Sprintf(
		"%d groups are named %q (%s); set spec.group.id to the one to mirror", len(groups), spec.DisplayName, strings.Join(ids, ", "))}
}

// listMembers is the perMember (and no-manager) plan: delta links taken
// first (changes made while listing show up again in the next delta, which
// is harmless), then the member list with attributes, then each member's
// manager in $batch.
func (s *syncer) listMembers(ctx context.Context) (state, error) {
	if !s.transitive() {
		gd, err := s.gc.GroupMembersDelta(ctx, graph.DeltaLatest, s.groupID)
		if err != nil {
			return nil, err
		}
		s.cursor.GroupDeltaLink = gd.DeltaLink
	}
	link, err := s.gc.UsersDelta(ctx, s.usersQuery(graph.DeltaLatest), func(graph.UserChange) error { return nil })
	if err != nil {
		return nil, err
	}
	s.cursor.UsersDeltaLink = link
	users, err := s.gc.ListGroupMembers(ctx, s.groupID, s.transitive(), memberSelect...)
	if err != nil {
		return nil, err
	}
	rows := make(state, len(users))
	ids := make([]string, 0, len(users))
	for _, u := range users {
		m := &member{}
		m.setUser(u)
		rows[m.ID] = m
		ids = append(ids, m.ID)
	}
	if s.managers() {
		if err := s.fetchManagers(ctx, ids, rows); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// sweep is the tenantSweep plan: the member ids from one groups/delta
// enumeration (or the transitive member list), then one users/delta
// enumeration of the whole tenant with managers expanded. Users stream
// through: only members' rows and an id→UPN map (to name managers who are
// not members) are kept.
func (s *syncer) sweep(ctx context.Context) (state, error) {
	var ids []string
	if s.transitive() {
		users, err := s.gc.ListGroupMembers(ctx, s.groupID, true, "id")
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			ids = append(ids, u.ID)
		}
	} else {
		gd, err := s.gc.GroupMembersDelta(ctx, "", s.groupID)
		if err != nil {
			return nil, err
		}
		if !gd.Seen || gd.Deleted {
			return nil, &groupGoneError{reason: v1alpha1.ReasonGroupNotFound, msg: fmt.Sprintf("group %s was deleted", s.groupID)}
		}
		ids = gd.Added
		s.cursor.GroupDeltaLink = gd.DeltaLink
	}
	rows := make(state, len(ids))
	for _, id := range ids {
		id = strings.ToLower(id)
		rows[id] = &member{ID: id}
	}
	filled := make(map[string]bool, len(rows))
	upns := map[string]string{}
	link, err := s.gc.UsersDelta(ctx, s.usersQuery(""), func(ch graph.UserChange) error {
		if ch.Removed {
			return nil
		}
		id := strings.ToLower(ch.User.ID)
		upns[id] = ch.User.UserPrincipalName
		if m := rows[id]; m != nil {
			m.setUser(ch.User)
			if mgr := ch.User.Manager; mgr != nil {
				m.ManagerID = strings.ToLower(mgr.ID)
			}
			filled[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.cursor.UsersDeltaLink = link
	var missing []string
	for id, m := range rows {
		if !filled[id] {
			missing = append(missing, id)
			continue
		}
		if m.ManagerID != "" {
			m.ManagerUPN = upns[m.ManagerID]
		}
	}
	// A member the enumeration did not return (created moments ago, or
	// not a user) is read directly.
	if err := s.fetchUsers(ctx, missing, rows); err != nil {
		return nil, err
	}
	return rows, s.resolveManagerUPNs(ctx, nil)
}

// usersQuery is the users/delta query: member attributes, and the manager
// when managers are mirrored.
func (s *syncer) usersQuery(link string) graph.UsersDeltaQuery {
	return graph.UsersDeltaQuery{Link: link, Select: memberSelect, ExpandManager: s.managers()}
}

// --- delta sync ------------------------------------------------------------

// delta applies the changes since the cursor: membership from groups/delta
// (or, for transitive groups, a fresh transitive member list: groups/delta
// reports direct members only), attributes and managers from users/delta.
func (s *syncer) delta(ctx context.Context) error {
	s.groupID, s.displayName = s.gs.Status.GroupID, s.gs.Status.DisplayName
	s.cursor = *s.gs.Status.Cursor
	var joined, left []string
	var listed []graph.User
	if s.transitive() {
		g, err := s.gc.GetGroup(ctx, s.groupID)
		if graph.IsNotFound(err) {
			return &groupGoneError{reason: v1alpha1.ReasonGroupNotFound, msg: fmt.Sprintf("group %s (%s) was deleted", s.displayName, s.groupID)}
		}
		if err != nil {
			return err
		}
		s.displayName = g.DisplayName
		if listed, err = s.gc.ListGroupMembers(ctx, s.groupID, true, memberSelect...); err != nil {
			return err
		}
	} else {
		gd, err := s.gc.GroupMembersDelta(ctx, s.cursor.GroupDeltaLink, s.groupID)
		if err != nil {
			return resyncIfExpired(err)
		}
		if gd.Deleted {
			return &groupGoneError{reason: v1alpha1.ReasonGroupNotFound, msg: fmt.Sprintf("group %s (%s) was deleted", s.displayName, s.groupID)}
		}
		if gd.Seen && gd.DisplayName != "" {
			s.displayName = gd.DisplayName
		}
		joined, left = gd.Added, gd.Removed
		s.cursor.GroupDeltaLink = gd.DeltaLink
	}

	var changes []graph.UserChange
	renamed := map[string]string{} // id → new UPN, for managers' UPN column
	deleted := map[string]bool{}
	link, err := s.gc.UsersDelta(ctx, graph.UsersDeltaQuery{Link: s.cursor.UsersDeltaLink}, func(ch graph.UserChange) error {
		id := strings.ToLower(ch.User.ID)
		if ch.Removed {
			deleted[id] = true
			return nil
		}
		if ch.Props["userPrincipalName"] {
			renamed[id] = ch.User.UserPrincipalName
		}
		if s.st[id] != nil {
			changes = append(changes, ch)
		}
		return nil
	})
	if err != nil {
		return resyncIfExpired(err)
	}
	s.cursor.UsersDeltaLink = link

	// Graph has answered: apply.
	for _, ch := range changes {
		if m := s.st[strings.ToLower(ch.User.ID)]; !m.Removed {
			m.applyChange(ch)
		}
	}
	var newIDs []string
	if s.transitive() {
		current := make(map[string]bool, len(listed))
		for _, u := range listed {
			id := strings.ToLower(u.ID)
			current[id] = true
			if m := s.st[id]; m != nil && !m.Removed {
				m.setUser(u)
			} else {
				newIDs = append(newIDs, id)
			}
		}
		for id, m := range s.st {
			if !m.Removed && !current[id] {
				left = append(left, id)
			}
		}
		if err := s.addMembers(ctx, newIDs, listed); err != nil {
			return err
		}
	} else {
		for _, id := range joined {
			id = strings.ToLower(id)
			if m := s.st[id]; (m == nil || m.Removed) && !deleted[id] {
				newIDs = append(newIDs, id)
			}
		}
		if err := s.addMembers(ctx, newIDs, nil); err != nil {
			return err
		}
	}
	for _, id := range left {
		if m := s.st[strings.ToLower(id)]; m != nil {
			m.markRemoved(s.now)
		}
	}
	for id := range deleted {
		if m := s.st[id]; m != nil {
			m.markRemoved(s.now)
		}
	}
	return s.resolveManagerUPNs(ctx, renamed)
}

// resyncIfExpired turns an expired (or refused) delta link into errResync.
func resyncIfExpired(err error) error {
	if graph.IsDeltaExpired(err) || graph.KindOf(err) == graph.Invalid {
		return fmt.Errorf("%w: %v", errResync, err)
	}
	return err
}

// addMembers adds members who joined: their attributes (from listed when
// the caller already has them, else read in $batch) and managers.
func (s *syncer) addMembers(ctx context.Context, ids []string, listed []graph.User) error {
	if len(ids) == 0 {
		return nil
	}
	rows := make(state, len(ids))
	if listed != nil {
		want := make(map[string]bool, len(ids))
		for _, id := range ids {
			want[id] = true
		}
		for _, u := range listed {
			if id := strings.ToLower(u.ID); want[id] {
				m := &member{}
				m.setUser(u)
				rows[id] = m
			}
		}
		if s.managers() {
			if err := s.fetchManagers(ctx, ids, rows); err != nil {
				return err
			}
		}
	} else if err := s.fetchUsers(ctx, ids, rows); err != nil {
		return err
	}
	for id, m := range rows {
		s.st[id] = m
	}
	return nil
}

// fetchUsers reads users (and their managers) by id in $batch into rows. A
// user Graph does not find yet is replication lag: the sync waits and
// reads the same changes again.
func (s *syncer) fetchUsers(ctx context.Context, ids []string, rows state) error {
	if len(ids) == 0 {
		return nil
	}
	res, err := s.gc.GetUsers(ctx, ids, memberSelect...)
	if err != nil {
		return err
	}
	var found []string
	for _, r := range res {
		if r.Err != nil {
			if graph.IsNotFound(r.Err) {
				return ctrlkit.Waiting(10*time.Second, v1alpha1.ReasonReplicationLag, "member %s is not readable yet", r.Key)
			}
			return r.Err
		}
		m := &member{}
		m.setUser(r.User)
		rows[m.ID] = m
		found = append(found, m.ID)
	}
	if s.managers() {
		return s.fetchManagers(ctx, found, rows)
	}
	return nil
}

// fetchManagers reads the managers of ids (20 per $batch) into rows.
func (s *syncer) fetchManagers(ctx context.Context, ids []string, rows state) error {
	if len(ids) == 0 {
		return nil
	}
	res, err := s.gc.GetManagers(ctx, ids)
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			return r.Err
		}
		m := rows[strings.ToLower(r.UserID)]
		if m == nil {
			continue
		}
		m.ManagerID, m.ManagerUPN = "", ""
		if r.Manager != nil {
			m.ManagerID, m.ManagerUPN = strings.ToLower(r.Manager.ID), r.Manager.UserPrincipalName
		}
	}
	return nil
}

// resolveManagerUPNs fills managerUserPrincipalName where the manager
// changed (users/delta names managers by id) or was renamed: from what the
// mirror knows, else with one $batch read per 20 unknown managers.
func (s *syncer) resolveManagerUPNs(ctx context.Context, renamed map[string]string) error {
	var need []*member
	for _, m := range s.st {
		if m.Removed || m.ManagerID == "" {
			continue
		}
		if upn, ok := renamed[m.ManagerID]; ok {
			m.ManagerUPN = upn
		} else if m.ManagerUPN == "" {
			need = append(need, m)
		}
	}
	if len(need) == 0 {
		return nil
	}
	known := s.st.knownUPNs()
	var unknown []string
	seen := map[string]bool{}
	for _, m := range need {
		if upn := known[m.ManagerID]; upn != "" {
			m.ManagerUPN = upn
		} else if !seen[m.ManagerID] {
			seen[m.ManagerID] = true
			unknown = append(unknown, m.ManagerID)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	res, err := s.gc.GetUsers(ctx, unknown, "id", "userPrincipalName")
	if err != nil {
		return err
	}
	upns := make(map[string]string, len(res))
	for _, r := range res {
		switch {
		case r.Err == nil:
			upns[strings.ToLower(r.Key)] = r.User.UserPrincipalName
		case !graph.IsNotFound(r.Err):
			return r.Err
		}
	}
	for _, m := range need {
		if m.ManagerUPN == "" {
			m.ManagerUPN = upns[m.ManagerID]
		}
	}
	return nil
}
