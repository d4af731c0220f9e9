package groupsync

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

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
