package groupsync

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/directory-operator/directory-operator/internal/graph"
)

// UsersHeader is the column order of users.csv.
var UsersHeader = []string{
	"id", "userPrincipalName", "displayName", "mail", "jobTitle", "department", "accountEnabled",
	"managerId", "managerUserPrincipalName", "state", "removedAt",
}

// UsersFile is the file name inside the export ConfigMap(s).
const UsersFile = "users.csv"

// Member states in users.csv.
const (
	StateActive  = "active"
	StateRemoved = "removed"
)

// memberSelect is what the sync reads of each user.
var memberSelect = []string{"id", "userPrincipalName", "displayName", "mail", "jobTitle", "department", "accountEnabled"}

// member is one row of users.csv. The CSV is the persisted state of the
// mirror: a restarted manager reads it back and continues from it.
type member struct {
	ID, UPN, DisplayName, Mail, JobTitle, Department string
	// AccountEnabled is "true", "false" or "" (unknown).
	AccountEnabled        string
	ManagerID, ManagerUPN string
	Removed               bool
	RemovedAt             time.Time
}

// attrs is the part of a row that comes from Graph (everything but state).
type attrs struct {
	ID, UPN, DisplayName, Mail, JobTitle, Department, AccountEnabled, ManagerID, ManagerUPN string
}

func (m *member) attrs() attrs {
	return attrs{m.ID, m.UPN, m.DisplayName, m.Mail, m.JobTitle, m.Department, m.AccountEnabled, m.ManagerID, m.ManagerUPN}
}

// setUser copies the attributes of a user read with memberSelect.
func (m *member) setUser(u graph.User) {
	m.ID = strings.ToLower(u.ID)
	m.UPN, m.DisplayName, m.Mail, m.JobTitle, m.Department = u.UserPrincipalName, u.DisplayName, u.Mail, u.JobTitle, u.Department
	m.AccountEnabled = boolString(u.AccountEnabled)
}

// applyChange merges a users/delta entry: only the properties it carried.
func (m *member) applyChange(ch graph.UserChange) {
	u := ch.User
	set := func(prop string, dst *string, v string) {
		if ch.Props[prop] {
			*dst = v
		}
	}
	set("userPrincipalName", &m.UPN, u.UserPrincipalName)
	set("displayName", &m.DisplayName, u.DisplayName)
	set("mail", &m.Mail, u.Mail)
	set("jobTitle", &m.JobTitle, u.JobTitle)
	set("department", &m.Department, u.Department)
	if ch.Props["accountEnabled"] {
		m.AccountEnabled = boolString(u.AccountEnabled)
	}
	if ch.ManagerChanged {
		if u.Manager == nil {
			m.ManagerID, m.ManagerUPN = "", ""
		} else if !strings.EqualFold(u.Manager.ID, m.ManagerID) {
			m.ManagerID, m.ManagerUPN = strings.ToLower(u.Manager.ID), u.Manager.UserPrincipalName
		}
	}
}

func boolString(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

// state is the mirror, by lower-case object id.
type state map[string]*member

// parseState reads users.csv back. A file with other columns (an older
// format) yields an error: the caller then runs a full sync.
func parseState(b []byte) (state, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("reading users.csv header: %w", err)
	}
	if !slices.Equal(head, UsersHeader) {
		return nil, fmt.Errorf("users.csv has columns %v, want %v", head, UsersHeader)
	}
	st := state{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading users.csv: %w", err)
		}
		m := &member{
			ID: strings.ToLower(rec[0]), UPN: rec[1], DisplayName: rec[2], Mail: rec[3], JobTitle: rec[4],
			Department: rec[5], AccountEnabled: rec[6], ManagerID: rec[7], ManagerUPN: rec[8],
			Removed: rec[9] == StateRemoved,
		}
		if rec[10] != "" {
			if m.RemovedAt, err = time.Parse(time.RFC3339, rec[10]); err != nil {
				return nil, fmt.Errorf("users.csv row %s: removedAt: %w", m.ID, err)
			}
		}
		st[m.ID] = m
	}
}

// render writes users.csv sorted by UPN (then id) for stable diffs.
func (st state) render() []byte {
	rows := make([]*member, 0, len(st))
	for _, m := range st {
		rows = append(rows, m)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := strings.ToLower(rows[i].UPN), strings.ToLower(rows[j].UPN)
		if a != b {
			return a < b
		}
		return rows[i].ID < rows[j].ID
	})
	var buf bytes.Buffer
	buf.Grow(len(rows) * 200)
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	_ = w.Write(UsersHeader)
	rec := make([]string, len(UsersHeader))
	for _, m := range rows {
		stateCol, removedAt := StateActive, ""
		if m.Removed {
			stateCol = StateRemoved
			removedAt = m.RemovedAt.UTC().Format(time.RFC3339)
		}
		rec[0], rec[1], rec[2], rec[3], rec[4], rec[5] = m.ID, m.UPN, m.DisplayName, m.Mail, m.JobTitle, m.Department
		rec[6], rec[7], rec[8], rec[9], rec[10] = m.AccountEnabled, m.ManagerID, m.ManagerUPN, stateCol, removedAt
		_ = w.Write(rec) // writes to a bytes.Buffer cannot fail
	}
	w.Flush()
	return buf.Bytes()
}

// counts returns active members, removed members and active members with a manager.
func (st state) counts() (active, removed, withManager int) {
	for _, m := range st {
		switch {
		case m.Removed:
			removed++
		default:
			active++
			if m.ManagerID != "" {
				withManager++
			}
		}
	}
	return
}

// knownUPNs maps user ids to UPNs from what the mirror already holds:
// members and the managers recorded on their rows. It saves a Graph read
// whenever a manager changes to someone already known.
func (st state) knownUPNs() map[string]string {
	known := make(map[string]string, len(st))
	for id, m := range st {
		if m.UPN != "" {
			known[id] = m.UPN
		}
		if m.ManagerID != "" && m.ManagerUPN != "" {
			if _, ok := known[m.ManagerID]; !ok {
				known[m.ManagerID] = m.ManagerUPN
			}
		}
	}
	return known
}

// markRemoved records that a member left; a member already gone keeps the
// time it first left.
func (m *member) markRemoved(now time.Time) bool {
	if m.Removed {
		return false
	}
	m.Removed, m.RemovedAt = true, now.UTC().Truncate(time.Second)
	return true
}

// prune drops members removed longer ago than retention.
func (st state) prune(now time.Time, retention time.Duration) int {
	n := 0
	for id, m := range st {
		if m.Removed && !m.RemovedAt.Add(retention).After(now) {
			delete(st, id)
			n++
		}
	}
	return n
}

// rowState is a row as it was before a sync, to count what the sync did.
type rowState struct {
	attrs   attrs
	removed bool
}

func (st state) snapshot() map[string]rowState {
	snap := make(map[string]rowState, len(st))
	for id, m := range st {
		snap[id] = rowState{m.attrs(), m.Removed}
	}
	return snap
}

// diff counts members who joined (or came back), left, and changed
// attributes or manager since snapshot.
func (st state) diff(before map[string]rowState) (added, removed, updated int) {
	for id, m := range st {
		b, ok := before[id]
		switch {
		case !m.Removed && (!ok || b.removed):
			added++
		case m.Removed && ok && !b.removed:
			removed++
		case !m.Removed && b.attrs != m.attrs():
			updated++
		}
	}
	return
}
