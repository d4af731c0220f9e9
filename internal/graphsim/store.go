package graphsim

import (
	"sort"
	"strings"
	"time"
)

// User is a directory user as the emulator stores it. The typed fields are
// the ones the operator reads and writes; every other user property of the
// Graph v1.0 schema written through the API is kept verbatim and returned
// when selected, so clients can round-trip any documented property.
type User struct {
	ID                string
	UserPrincipalName string
	DisplayName       string
	GivenName         string
	Surname           string
	Mail              string
	MailNickname      string
	JobTitle          string
	Department        string
	OfficeLocation    string
	UsageLocation     string
	EmployeeID        string
	AccountEnabled    bool
	ManagerID         string
	CreatedDateTime   time.Time

	// Additional default-projection properties (Graph returns them without
	// $select), kept typed so generated tenants look like real ones.
	BusinessPhones    []string
	MobilePhone       string
	PreferredLanguage string

	// Properties served with $select only.
	SignInActivity        *SignInActivity // nil: never signed in (needs AuditLog.Read.All)
	EmployeeLeaveDateTime time.Time       // needs User-LifeCycleInfo.Read.All
	AssignedLicenses      []AssignedLicense
	// Extensions holds directory extension attributes
	// (extension_<appId>_<name>) and schema extension values by name.
	Extensions map[string]any
	// Password is write-only on the wire; fixtures and PutUser may set it.
	Password string
}

// Group is a directory group. Members holds object ids of users or groups.
type Group struct {
	ID              string
	DisplayName     string
	Description     string
	Mail            string
	MailNickname    string
	SecurityEnabled bool
	MailEnabled     bool
	GroupTypes      []string
	Members         []string
	CreatedDateTime time.Time
	// HasMembersWithLicenseErrors is licensing state (set by tests).
	HasMembersWithLicenseErrors bool
}

type userRec struct {
	u     User
	extra map[string]any // other schema properties written via the API

	forceChange     bool
	seq             uint64 // sequence number of the latest change (delta)
	createdAt       time.Time
	changedAt       time.Time
	prev            *userSnap // state before the latest change (replication lag)
	deleted         bool
	purged          bool // permanently deleted: a tombstone kept for delta
	deletedAt       time.Time
	origUPN         string
	leftGroups      []string // groups the soft delete removed it from (restore re-adds)
	exManager       string   // manager removed by the latest change (manager@delta)
	signInValidFrom time.Time
	lastPwdChange   time.Time
	// seededAt (generated users): the served-only properties are derived
	// from the id as of this time until the user is written (materialize).
	seededAt time.Time
}

// materialize stores a generated user's derived properties in r.u.
func (r *userRec) materialize() {
	if !r.seededAt.IsZero() {
		seedLifecycle(&r.u, r.seededAt)
		r.seededAt = time.Time{}
	}
}

// effective returns u with the derived properties of a generated user.
func (r *userRec) effective(u User) User {
	if r != nil && !r.seededAt.IsZero() {
		seedLifecycle(&u, r.seededAt)
	}
	return u
}

type userSnap struct {
	u     User
	extra map[string]any
}

type memberEvent struct {
	seq   uint64
	id    string
	added bool
}

type groupRec struct {
	g         Group // g.Members is not maintained here; see members
	members   []string
	memberSet map[string]struct{}
	membersOK bool // members slice sorted
	memberLog []memberEvent
	seq       uint64
	createdAt time.Time
	changedAt time.Time
	prev      *Group
	deleted   bool
	deletedAt time.Time
	sid       string
}

type logEntry struct {
	seq uint64
	id  string
}

// store holds the tenant's directory. It is guarded by Server.mu.
type store struct {
	users     map[string]*userRec // live and soft-deleted, by lower-case id
	upn       map[string]string   // lower-case UPN of live users -> id
	userOrder []string            // live user ids sorted; rebuilt lazily
	orderOK   bool
	liveN     int // number of live users (tenant size class)
	inserts   int // in-place inserts since the last rebuild
	groups    map[string]*groupRec
	gOrder    []string
	gOrderOK  bool
	seq       uint64
	uLog      []logEntry
	gLog      []logEntry
	// purgedGroups: permanently deleted group id -> its final log seq.
	purgedGroups map[string]uint64
	// outbox holds the mails sendMail accepted.
	outbox []Mail
}

func newStore() *store {
	return &store{
		users:        map[string]*userRec{},
		upn:          map[string]string{},
		groups:       map[string]*groupRec{},
		purgedGroups: map[string]uint64{},
	}
}

func (st *store) nextSeq() uint64 { st.seq++; return st.seq }

func (st *store) touchUser(r *userRec) {
	r.seq = st.nextSeq()
	st.uLog = append(st.uLog, logEntry{seq: r.seq, id: r.u.ID})
}

func (st *store) touchGroup(r *groupRec) {
	r.seq = st.nextSeq()
	st.gLog = append(st.gLog, logEntry{seq: r.seq, id: r.g.ID})
}

// orderInsert and orderRemove keep the sorted live-id slice current in
// O(n) memmove instead of forcing an O(n log n) rebuild after every write:
// tenant sizing and listing read it on every request.
func (st *store) orderInsert(id string) {
	st.liveN++
	if !st.orderOK {
		return
	}
	i := sort.SearchStrings(st.userOrder, id)
	if i < len(st.userOrder) && st.userOrder[i] == id {
		return
	}
	if st.inserts++; st.inserts > 64 {
		st.orderOK = false // a bulk load: one rebuild later beats n memmoves
		return
	}
	st.userOrder = append(st.userOrder, "")
	copy(st.userOrder[i+1:], st.userOrder[i:])
	st.userOrder[i] = id
}

func (st *store) orderRemove(id string) {
	st.liveN--
	if !st.orderOK {
		return
	}
	i := sort.SearchStrings(st.userOrder, id)
	if i < len(st.userOrder) && st.userOrder[i] == id {
		st.userOrder = append(st.userOrder[:i], st.userOrder[i+1:]...)
	}
}

func (st *store) liveUserIDs() []string {
	if !st.orderOK {
		st.userOrder = st.userOrder[:0]
		for id, r := range st.users {
			if !r.deleted {
				st.userOrder = append(st.userOrder, id)
			}
		}
		sort.Strings(st.userOrder)
		st.orderOK = true
		st.inserts = 0
	}
	return st.userOrder
}

func (st *store) liveGroupIDs() []string {
	if !st.gOrderOK {
		st.gOrder = st.gOrder[:0]
		for id, r := range st.groups {
			if !r.deleted {
				st.gOrder = append(st.gOrder, id)
			}
		}
		sort.Strings(st.gOrder)
		st.gOrderOK = true
	}
	return st.gOrder
}

// lookupUser resolves an id or UPN to a live user record.
func (st *store) lookupUser(idOrUPN string) *userRec {
	k := strings.ToLower(idOrUPN)
	if r, ok := st.users[k]; ok && !r.deleted {
		return r
	}
	if id, ok := st.upn[k]; ok {
		return st.users[id]
	}
	return nil
}

func (st *store) liveGroup(id string) *groupRec {
	if r, ok := st.groups[strings.ToLower(id)]; ok && !r.deleted {
		return r
	}
	return nil
}

func (g *groupRec) sortedMembers() []string {
	if !g.membersOK {
		sort.Strings(g.members)
		g.membersOK = true
	}
	return g.members
}

func (g *groupRec) addMember(id string, seq uint64) bool {
	if _, ok := g.memberSet[id]; ok {
		return false
	}
	g.memberSet[id] = struct{}{}
	g.members = append(g.members, id)
	g.membersOK = false
	g.memberLog = append(g.memberLog, memberEvent{seq: seq, id: id, added: true})
	return true
}

func (g *groupRec) removeMember(id string, seq uint64) bool {
	if _, ok := g.memberSet[id]; !ok {
		return false
	}
	delete(g.memberSet, id)
	ms := g.sortedMembers()
	i := sort.SearchStrings(ms, id)
	if i < len(ms) && ms[i] == id {
		g.members = append(ms[:i], ms[i+1:]...)
	}
	g.memberLog = append(g.memberLog, memberEvent{seq: seq, id: id, added: false})
	return true
}

func cloneUser(u User) User {
	u.BusinessPhones = append([]string(nil), u.BusinessPhones...)
	if u.SignInActivity != nil {
		a := *u.SignInActivity
		u.SignInActivity = &a
	}
	if u.AssignedLicenses != nil {
		ls := make([]AssignedLicense, len(u.AssignedLicenses))
		for i, l := range u.AssignedLicenses {
			ls[i] = AssignedLicense{SkuID: l.SkuID, DisabledPlans: append([]string(nil), l.DisabledPlans...)}
		}
		u.AssignedLicenses = ls
	}
	u.Extensions = cloneExtra(u.Extensions)
	return u
}

func cloneExtra(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func cloneGroup(g Group) Group {
	g.GroupTypes = append([]string(nil), g.GroupTypes...)
	g.Members = append([]string(nil), g.Members...)
	return g
}
