package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/userspec"
)

// userItem is one DirectoryUser of the manifests on its way through the plan.
type userItem struct {
	du   *v1alpha1.DirectoryUser // desired, defaulted (a copy: a hold edits it)
	spec v1alpha1.DirectoryUserSpec
	live *v1alpha1.DirectoryUser // the cluster's, or nil
	env  *env
	// done is set when the outcome is known without Graph.
	done *Item
	// byID: the user is read by the object ID the cluster recorded.
	byID bool
	held string
}

func (p *planner) prepareUsers() []*userItem {
	var out []*userItem
	losers := p.conflictLosers()
	for i := range p.in.Desired.Users {
		du := p.in.Desired.Users[i].DeepCopy()
		u := &userItem{du: du, spec: *du.Spec.DeepCopy(), live: p.live.users[du.Namespace+"/"+du.Name], env: p.env(du.Namespace, du.Spec.DirectoryRef.Name)}
		out = append(out, u)
		if it := u.precheck(losers); it != nil {
			u.done = it
			continue
		}
		if u.live != nil && u.live.Status.ID != "" && !observeOnly(du) {
			u.byID = true
			u.env.reads.want(u.live.Status.ID)
		} else {
			u.env.reads.want(du.Spec.UserPrincipalName)
		}
	}
	return out
}

func observeOnly(du *v1alpha1.DirectoryUser) bool {
	return du.Spec.ManagementPolicy == v1alpha1.ManagementObserveOnly
}

func (u *userItem) item(a Action) Item {
	return Item{Kind: KindDirectoryUser, Namespace: u.du.Namespace, Name: u.du.Name, Directory: u.du.Spec.DirectoryRef.Name, Action: a}
}

// stalled is the item of a user the controller would refuse; like the
// controller, these checks come before any Graph read.
func (u *userItem) stalled(a Action, reason, format string, args ...any) *Item {
	it := u.item(a)
	it.Reason, it.Message = reason, fmt.Sprintf(format, args...)
	return &it
}

// precheck applies, in the controller's order, what it decides before
// reading Graph: the Directory, claims on the UPN, the hold, the safety rails.
func (u *userItem) precheck(losers map[string]string) *Item {
	du := u.du
	if u.env == nil || u.env.dir == nil {
		return u.stalled(ActionWait, v1alpha1.ReasonDirectoryNotFound, "Directory %q not found", du.Spec.DirectoryRef.Name)
	}
	if winner, lost := losers[du.Namespace+"/"+du.Name]; lost {
		return u.stalled(ActionStalled, v1alpha1.ReasonConflict, "DirectoryUser %q already manages userPrincipalName %s in Directory %q; delete one of the two",
			winner, du.Spec.UserPrincipalName, du.Spec.DirectoryRef.Name)
	}
	if u.live != nil && !observeOnly(du) {
		if u.held = u.live.Annotations[v1alpha1.HoldAnnotation]; u.held != "" {
			du.Spec.AccountEnabled = nil
		}
	}
	if !u.env.safety.DomainAllowed(du.Spec.UserPrincipalName) {
		return u.stalled(ActionStalled, v1alpha1.ReasonDomainNotAllowed,
			"the domain of %s is not in Directory %q safety.allowedDomains", du.Spec.UserPrincipalName, du.Spec.DirectoryRef.Name)
	}
	if !observeOnly(du) && du.Spec.AccountEnabled != nil && !*du.Spec.AccountEnabled && u.env.safety.Protected(u.ids()...) {
		return u.stalled(ActionStalled, v1alpha1.ReasonProtectedUser,
			"%s is a protected user of Directory %q and is never disabled", du.Spec.UserPrincipalName, du.Spec.DirectoryRef.Name)
	}
	return nil
}

func (u *userItem) ids() []string {
	ids := []string{u.du.Spec.UserPrincipalName}
	if u.live != nil {
		ids = append(ids, u.live.Status.ID, u.live.Status.UserPrincipalName)
	}
	return ids
}

// readManagers reads from Graph the managers of the users found by UPN
// whose spec names a manager (the cluster has no status for them): one
// $batch per 20 such users.
func (p *planner) readManagers(users []*userItem) error {
	want := map[*env][]string{}
	for _, u := range users {
		if u.done != nil || u.byID || p.managerUPN(u.du) == "" || (u.live != nil && u.live.Status.ID != "") {
			continue
		}
		if live, ok := u.env.reads.get(u.du.Spec.UserPrincipalName); ok {
			want[u.env] = append(want[u.env], live.ID)
		}
	}
	for e, ids := range want {
		res, err := e.gc.GetManagers(p.ctx, ids)
		if err != nil {
			return fmt.Errorf("reading managers: %w", err)
		}
		for _, r := range res {
			if r.Err != nil {
				continue // listed as a change: unknown
			}
			upn := ""
			if r.Manager != nil {
				upn = r.Manager.UserPrincipalName
			}
			e.managers[strings.ToLower(r.UserID)] = upn
		}
	}
	return nil
}

// rereadMissing looks up by UPN the users whose recorded ID Graph no
// longer knows, as the controller does (one more $batch per 20 of them).
func (p *planner) rereadMissing(users []*userItem) error {
	for _, u := range users {
		if u.done != nil || !u.byID {
			continue
		}
		if _, ok := u.env.reads.get(u.live.Status.ID); !ok {
			u.byID = false
			u.env.reads.want(u.du.Spec.UserPrincipalName)
		}
	}
	return p.readAll()
}

// finish decides the user's action from what Graph holds.
func (u *userItem) finish(p *planner) Item {
	if u.done != nil {
		return u.withChanged(*u.done)
	}
	du := u.du
	key := du.Spec.UserPrincipalName
	if u.byID {
		key = u.live.Status.ID
	}
	live, found := u.env.reads.get(key)
	var it Item
	switch {
	case u.env.reads.invalid(key) != nil:
		it = *u.stalled(ActionStalled, v1alpha1.ReasonInvalidSpec, "Graph refused reading %s: %v", key, u.env.reads.invalid(key))
	case !found && observeOnly(du):
		it = *u.stalled(ActionWait, v1alpha1.ReasonUserNotFound, "no user %s in the directory; ObserveOnly never creates one", du.Spec.UserPrincipalName)
	case !found:
		it = u.create(p)
	case observeOnly(du):
		it = u.item(ActionObserve)
		it.Changes = u.changes(p, live, false)
		if len(it.Changes) > 0 {
			it.Message = "ObserveOnly: these differences are reported as drift, never written"
		}
	case u.byID || p.in.Live == nil || u.ours(live):
		it = u.update(p, live)
	case !du.Spec.Adopt:
		it = *u.stalled(ActionStalled, v1alpha1.ReasonUserExists,
			"a user with userPrincipalName %s already exists (id %s); set spec.adopt: true to manage it", live.UserPrincipalName, live.ID)
	default:
		it = u.update(p, live)
		it.Action = ActionAdopt
		it.Message = strings.TrimSpace("takes over existing user " + live.ID + ". " + it.Message)
	}
	if u.held != "" {
		it.Message = strings.TrimSpace(it.Message + fmt.Sprintf(" accountEnabled is held by UserDisableBatch %s and not synced.", u.held))
	}
	return u.withChanged(it)
}

// ours: a user found by UPN that the DirectoryUser itself created (a
// create whose answer was lost, recorded in status.createPending).
func (u *userItem) ours(live graph.User) bool {
	return u.live != nil && u.live.Status.CreatePending != nil && strings.EqualFold(u.live.Status.CreatePending.UserPrincipalName, live.UserPrincipalName)
}

func (u *userItem) create(p *planner) Item {
	it := u.item(ActionCreate)
	it.Changes = u.changes(p, graph.User{}, true)
	local, _, _ := strings.Cut(u.du.Spec.UserPrincipalName, "@")
	var unset []string
	if u.du.Spec.DisplayName == "" {
		unset = append(unset, "displayName")
	}
	if u.du.Spec.MailNickname == "" {
		unset = append(unset, "mailNickname")
	}
	if len(unset) > 0 {
		it.Message = fmt.Sprintf("%s from the UPN (%q); a generated password unless spec.password", strings.Join(unset, " and "), local)
	}
	return it
}

func (u *userItem) update(p *planner, live graph.User) Item {
	it := u.item(ActionUpdate)
	upd, _ := userspec.Diff(u.du.Spec, live)
	if upd.AccountEnabled != nil && !*upd.AccountEnabled && u.env.safety.Protected(live.ID, live.UserPrincipalName) {
		return *u.stalled(ActionStalled, v1alpha1.ReasonProtectedUser,
			"%s is a protected user of Directory %q and is never disabled", live.UserPrincipalName, u.du.Spec.DirectoryRef.Name)
	}
	it.Changes = u.changes(p, live, !u.byID && (u.live == nil || u.live.Status.ID == ""))
	if len(it.Changes) == 0 {
		it.Action = ActionNoop
	}
	return it
}

// changes lists the fields the controller would write: the userspec
// diff, plus the manager. managerUnknown: the cluster holds no status for
// the live user, so its manager is the one readManagers read from Graph.
func (u *userItem) changes(p *planner, live graph.User, managerUnknown bool) []Change {
	upd, fields := userspec.Diff(u.du.Spec, live)
	oldV, newV := userValues(live), updateValues(upd)
	out := make([]Change, 0, len(fields)+1)
	for _, f := range fields {
		out = append(out, Change{Field: f, Old: oldV[f], New: newV[f]})
	}
	if want := p.managerUPN(u.du); want != "" {
		have, known := "", true
		switch {
		case managerUnknown:
			have, known = u.env.managerOf(live.ID)
		case u.live != nil:
			have = u.live.Status.ManagerUserPrincipalName
		}
		if !strings.EqualFold(have, want) || !known {
			out = append(out, Change{Field: "manager", Old: have, New: want})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// managerUPN is the UPN of the manager du's spec names, as it will be after
// the apply ("" when none, or a userRef to an unknown DirectoryUser).
func (p *planner) managerUPN(du *v1alpha1.DirectoryUser) string {
	m := du.Spec.Manager
	switch {
	case m == nil:
		return ""
	case m.UserRef == nil:
		return m.UserPrincipalName
	}
	key := du.Namespace + "/" + m.UserRef.Name
	if ref := p.desired.users[key]; ref != nil {
		return ref.Spec.UserPrincipalName
	}
	if ref := p.live.users[key]; ref != nil {
		return ref.Spec.UserPrincipalName
	}
	return ""
}

// withChanged sets Changed: anything but a no-op or an observation is a
// change, except a stall the cluster already shows for an unchanged spec.
// Without the cluster, stalls count as changes (a reviewer must see them).
func (u *userItem) withChanged(it Item) Item {
	specSame := u.live != nil && equality.Semantic.DeepEqual(u.live.Spec, u.spec)
	switch {
	case it.Action == ActionNoop || it.Action == ActionObserve:
		it.Changed = u.live != nil && !specSame
		if it.Changed {
			it.Message = strings.TrimSpace(it.Message + " spec changes with no Graph write: " + strings.Join(specFieldChanges(u.live.Spec, u.spec), ", "))
		}
	case it.Action == ActionStalled || it.Action == ActionWait:
		it.Changed = !specSame
	default:
		it.Changed = true
	}
	return it
}

func userValues(u graph.User) map[string]string {
	m := map[string]string{
		"userPrincipalName": u.UserPrincipalName, "displayName": u.DisplayName, "givenName": u.GivenName,
		"surname": u.Surname, "mailNickname": u.MailNickname, "jobTitle": u.JobTitle, "department": u.Department,
		"officeLocation": u.OfficeLocation, "usageLocation": u.UsageLocation, "employeeId": u.EmployeeID,
	}
	if u.AccountEnabled != nil {
		m["accountEnabled"] = strconv.FormatBool(*u.AccountEnabled)
	}
	return m
}

func updateValues(u graph.UserUpdate) map[string]string {
	m := map[string]string{}
	set := func(k string, v *string) {
		if v != nil {
			m[k] = *v
		}
	}
	set("userPrincipalName", u.UserPrincipalName)
	set("displayName", u.DisplayName)
	set("givenName", u.GivenName)
	set("surname", u.Surname)
	set("mailNickname", u.MailNickname)
	set("jobTitle", u.JobTitle)
	set("department", u.Department)
	set("officeLocation", u.OfficeLocation)
	set("usageLocation", u.UsageLocation)
	set("employeeId", u.EmployeeID)
	if u.AccountEnabled != nil {
		m["accountEnabled"] = strconv.FormatBool(*u.AccountEnabled)
	}
	return m
}
