package graphsim

import (
	"sort"
	"strings"
	"time"
)

// The data API below is the test control plane: it bypasses throttling,
// permissions and replication lag, and is not counted. Changes it makes are
// logged for delta like any other change.

// PutUser creates or replaces a user; it fills ID and CreatedDateTime when
// empty. A replaced user keeps its security identifier and delta history.
func (s *Server) PutUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	u = cloneUser(u)
	if u.ID != "" {
		u.ID = strings.ToLower(u.ID)
		if r := s.st.users[u.ID]; r != nil && !r.deleted {
			if u.CreatedDateTime.IsZero() {
				u.CreatedDateTime = r.u.CreatedDateTime
			}
			delete(s.st.upn, strings.ToLower(r.u.UserPrincipalName))
			r.prev = nil
			r.seededAt = time.Time{}
			r.u = u
			if u.UserPrincipalName != "" {
				s.st.upn[strings.ToLower(u.UserPrincipalName)] = u.ID
			}
			s.st.touchUser(r)
			return cloneUser(r.u)
		}
	}
	r := s.insertUserLocked(u, map[string]any{}, now, false)
	return cloneUser(r.u)
}

// GetUser finds a live user by id or UPN (no replication lag).
func (s *Server) GetUser(idOrUPN string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.lookupUser(idOrUPN)
	if r == nil {
		return User{}, false
	}
	return r.effective(cloneUser(r.u)), true
}

// UpdateUser edits a live user out of band (e.g. "someone changed it in the
// portal"); the change is visible at once and reported by delta.
func (s *Server) UpdateUser(id string, f func(*User)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.lookupUser(id)
	if r == nil {
		return
	}
	r.materialize()
	u := cloneUser(r.u)
	f(&u)
	u.ID = r.u.ID
	if !strings.EqualFold(u.UserPrincipalName, r.u.UserPrincipalName) {
		delete(s.st.upn, strings.ToLower(r.u.UserPrincipalName))
		s.st.upn[strings.ToLower(u.UserPrincipalName)] = u.ID
	}
	if u.ManagerID == "" && r.u.ManagerID != "" {
		r.exManager = r.u.ManagerID
	}
	r.prev = nil
	r.u = u
	s.st.touchUser(r)
}

// DeleteUser soft-deletes a user (it goes to deleted items for 30 days).
func (s *Server) DeleteUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.st.lookupUser(id); r != nil {
		now := s.nowLocked()
		s.softDeleteUserLocked(r, now)
		r.prev = nil
	}
}

// Users lists live users sorted by id.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.st.liveUserIDs()
	out := make([]User, 0, len(ids))
	for _, id := range ids {
		r := s.st.users[id]
		out = append(out, r.effective(cloneUser(r.u)))
	}
	return out
}

// DeletedUsers lists soft-deleted users (their UPN carries the id prefix
// Entra adds on deletion).
func (s *Server) DeletedUsers() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeExpiredLocked(s.nowLocked())
	var out []User
	for _, r := range s.st.users {
		if r.deleted && !r.purged {
			out = append(out, cloneUser(r.u))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PutGroup creates or replaces a group (members included).
func (s *Server) PutGroup(g Group) Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putGroupLocked(g)
}

func (s *Server) putGroupLocked(g Group) Group {
	now := s.nowLocked()
	g = cloneGroup(g)
	if g.ID == "" {
		g.ID = s.newID()
	}
	g.ID = strings.ToLower(g.ID)
	if g.CreatedDateTime.IsZero() {
		g.CreatedDateTime = now.UTC().Truncate(time.Second)
	}
	members := g.Members
	g.Members = nil
	r := s.st.groups[g.ID]
	if r == nil || r.deleted {
		r = &groupRec{memberSet: map[string]struct{}{}, sid: sidFor(g.ID)}
		s.st.groups[g.ID] = r
		s.st.gOrderOK = false
	}
	r.g = g
	s.st.touchGroup(r)
	want := map[string]struct{}{}
	for _, m := range members {
		want[strings.ToLower(m)] = struct{}{}
	}
	for _, m := range append([]string(nil), r.members...) {
		if _, ok := want[m]; !ok {
			s.changeMemberLocked(r, m, false)
		}
	}
	if len(r.members) == 0 && len(want) > 0 {
		// Bulk path for generated tenants: one sort, one log entry.
		seq := s.st.nextSeq()
		for m := range want {
			r.memberSet[m] = struct{}{}
			r.members = append(r.members, m)
			r.memberLog = append(r.memberLog, memberEvent{seq: seq, id: m, added: true})
		}
		r.membersOK = false
		r.seq = seq
		s.st.gLog = append(s.st.gLog, logEntry{seq: seq, id: g.ID})
	} else {
		for m := range want {
			s.changeMemberLocked(r, m, true)
		}
	}
	out := cloneGroup(r.g)
	out.Members = append([]string(nil), r.sortedMembers()...)
	return out
}

// GetGroup returns a live group with its direct members.
func (s *Server) GetGroup(id string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.liveGroup(id)
	if r == nil {
		return Group{}, false
	}
	g := cloneGroup(r.g)
	g.Members = append([]string(nil), r.sortedMembers()...)
	return g, true
}

// UpdateGroup edits a group out of band; Members edits are applied as
// membership changes (and show up in members@delta).
func (s *Server) UpdateGroup(id string, f func(*Group)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.liveGroup(id)
	if r == nil {
		return
	}
	g := cloneGroup(r.g)
	g.Members = append([]string(nil), r.sortedMembers()...)
	f(&g)
	g.ID = r.g.ID
	s.putGroupLocked(g)
}

// AddMember adds a user or group to a group.
func (s *Server) AddMember(groupID, memberID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.st.liveGroup(groupID); r != nil {
		s.changeMemberLocked(r, strings.ToLower(memberID), true)
	}
}

// RemoveMember removes a member from a group.
func (s *Server) RemoveMember(groupID, memberID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.st.liveGroup(groupID); r != nil {
		s.changeMemberLocked(r, strings.ToLower(memberID), false)
	}
}

// DeleteGroup deletes a group: Microsoft 365 groups are soft-deleted,
// security groups permanently.
func (s *Server) DeleteGroup(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.st.liveGroup(id); r != nil {
		s.deleteGroupLocked(r, s.nowLocked(), !isUnified(&r.g))
	}
}

// Groups lists live groups sorted by id, with direct members.
func (s *Server) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.st.liveGroupIDs()
	out := make([]Group, 0, len(ids))
	for _, id := range ids {
		r := s.st.groups[id]
		g := cloneGroup(r.g)
		g.Members = append([]string(nil), r.sortedMembers()...)
		out = append(out, g)
	}
	return out
}
