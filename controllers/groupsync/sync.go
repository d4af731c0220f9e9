package groupsync

import (
	"context"
	"errors"
	"fmt"
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
