package groupsync

import (
	"context"
	"fmt"
	"strings"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// membership is what changed in the group's members since the cursor.
type membership struct {
	joined, left []string
	// listed is the transitive member list (transitive groups only).
	listed []graph.User
}

// userChanges is what users/delta reported since the cursor.
type userChanges struct {
	changes []graph.UserChange // of current rows
	renamed map[string]string  // id → new UPN, for managers' UPN column
	deleted map[string]bool    // users deleted from the tenant
}

// delta applies the changes since the cursor: membership from groups/delta
// (or, for transitive groups, a fresh transitive member list: groups/delta
// reports direct members only), attributes and managers from users/delta.
// Both are read before anything is applied, so a failed read leaves the
// state as it was.
func (s *syncer) delta(ctx context.Context) error {
	s.groupID, s.displayName = s.gs.Status.GroupID, s.gs.Status.DisplayName
	s.cursor = *s.gs.Status.Cursor
	ms, err := s.membershipDelta(ctx)
	if err != nil {
		return err
	}
	uc, err := s.usersDelta(ctx)
	if err != nil {
		return err
	}

	// Graph has answered: apply.
	for _, ch := range uc.changes {
		if m := s.st[strings.ToLower(ch.User.ID)]; !m.Removed {
			m.applyChange(ch)
		}
	}
	left, err := s.applyMembership(ctx, ms, uc.deleted)
	if err != nil {
		return err
	}
	for _, id := range left {
		if m := s.st[strings.ToLower(id)]; m != nil {
			m.markRemoved(s.now)
		}
	}
	for id := range uc.deleted {
		if m := s.st[id]; m != nil {
			m.markRemoved(s.now)
		}
	}
	return s.resolveManagerUPNs(ctx, uc.renamed)
}

// membershipDelta reads who joined and left.
func (s *syncer) membershipDelta(ctx context.Context) (membership, error) {
	var ms membership
	if s.transitive() {
		g, err := s.gc.GetGroup(ctx, s.groupID)
		if graph.IsNotFound(err) {
			return ms, &groupGoneError{reason: v1alpha1.ReasonGroupNotFound, msg: fmt.Sprintf("group %s (%s) was deleted", s.displayName, s.groupID)}
		}
		if err != nil {
			return ms, err
		}
		s.displayName = g.DisplayName
		ms.listed, err = s.gc.ListGroupMembers(ctx, s.groupID, true, memberSelect...)
		return ms, err
	}
	gd, err := s.gc.GroupMembersDelta(ctx, s.cursor.GroupDeltaLink, s.groupID)
	if err != nil {
		return ms, resyncIfExpired(err)
	}
	if gd.Deleted {
		return ms, &groupGoneError{reason: v1alpha1.ReasonGroupNotFound, msg: fmt.Sprintf("group %s (%s) was deleted", s.displayName, s.groupID)}
	}
	if gd.Seen && gd.DisplayName != "" {
		s.displayName = gd.DisplayName
	}
	ms.joined, ms.left = gd.Added, gd.Removed
	s.cursor.GroupDeltaLink = gd.DeltaLink
	return ms, nil
}

// usersDelta reads the attribute and manager changes of the rows.
func (s *syncer) usersDelta(ctx context.Context) (userChanges, error) {
	uc := userChanges{renamed: map[string]string{}, deleted: map[string]bool{}}
	link, err := s.gc.UsersDelta(ctx, graph.UsersDeltaQuery{Link: s.cursor.UsersDeltaLink}, func(ch graph.UserChange) error {
		id := strings.ToLower(ch.User.ID)
		if ch.Removed {
			uc.deleted[id] = true
			return nil
		}
		if ch.Props["userPrincipalName"] {
			uc.renamed[id] = ch.User.UserPrincipalName
		}
		if s.st[id] != nil {
			uc.changes = append(uc.changes, ch)
		}
		return nil
	})
	if err != nil {
		return uc, resyncIfExpired(err)
	}
	s.cursor.UsersDeltaLink = link
	return uc, nil
}

// applyMembership adds the members who joined and returns those who left.
func (s *syncer) applyMembership(ctx context.Context, ms membership, deleted map[string]bool) ([]string, error) {
	left := ms.left
	var newIDs []string
	if !s.transitive() {
		for _, id := range ms.joined {
			id = strings.ToLower(id)
			if m := s.st[id]; (m == nil || m.Removed) && !deleted[id] {
				newIDs = append(newIDs, id)
			}
		}
		return left, s.addMembers(ctx, newIDs, nil)
	}
	current := make(map[string]bool, len(ms.listed))
	for _, u := range ms.listed {
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
	return left, s.addMembers(ctx, newIDs, ms.listed)
}
