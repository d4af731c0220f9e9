package graphsim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

var groupSchema = newSchema("microsoft.graph.group", "Group", []propDef{
	{"id", pString, true},
	{"deletedDateTime", pDate, false},
	{"classification", pString, true},
	{"createdDateTime", pDate, true},
	{"creationOptions", pStrings, false},
	{"description", pString, true},
	{"displayName", pString, true},
	{"expirationDateTime", pDate, true},
	{"groupTypes", pStrings, true},
	{"isAssignableToRole", pBool, true},
	{"mail", pString, true},
	{"mailEnabled", pBool, true},
	{"mailNickname", pString, true},
	{"membershipRule", pString, true},
	{"membershipRuleProcessingState", pString, true},
	{"onPremisesDomainName", pString, false},
	{"onPremisesLastSyncDateTime", pDate, true},
	{"onPremisesNetBiosName", pString, false},
	{"onPremisesSamAccountName", pString, true},
	{"onPremisesSecurityIdentifier", pString, true},
	{"onPremisesSyncEnabled", pBool, true},
	{"preferredDataLocation", pString, true},
	{"preferredLanguage", pString, true},
	{"proxyAddresses", pStrings, true},
	{"renewedDateTime", pDate, true},
	{"resourceBehaviorOptions", pStrings, false},
	{"resourceProvisioningOptions", pStrings, true},
	{"securityEnabled", pBool, true},
	{"securityIdentifier", pString, true},
	{"theme", pString, false},
	{"visibility", pString, true},
	{"onPremisesProvisioningErrors", pObjects, false},
	{"serviceProvisioningErrors", pObjects, false},
	{"hasMembersWithLicenseErrors", pBool, true},
	// Exchange-backed and other real properties not modelled: served as null
	{"allowExternalSenders", pBool, false},
	{"autoSubscribeNewMembers", pBool, false},
	{"hideFromAddressLists", pBool, false},
	{"hideFromOutlookClients", pBool, false},
	{"isSubscribedByMail", pBool, false},
	{"unseenCount", pInt, false},
	{"assignedLabels", pObjects, false},
	{"assignedLicenses", pObjects, false},
	{"licenseProcessingState", pObject, false},
	{"onPremisesSyncBehavior", pObject, false},
	{"uniqueName", pString, true},
}, []string{"id", "deletedDateTime", "classification", "createdDateTime", "creationOptions", "description", "displayName",
	"expirationDateTime", "groupTypes", "isAssignableToRole", "mail", "mailEnabled", "mailNickname", "membershipRule",
	"membershipRuleProcessingState", "onPremisesDomainName", "onPremisesLastSyncDateTime", "onPremisesNetBiosName",
	"onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled", "preferredDataLocation",
	"preferredLanguage", "proxyAddresses", "renewedDateTime", "resourceBehaviorOptions", "resourceProvisioningOptions",
	"securityEnabled", "securityIdentifier", "theme", "visibility", "onPremisesProvisioningErrors", "serviceProvisioningErrors"})

// dirObjSchema is the union of the user and group schemas: what a
// collection of directoryObjects (members without a cast) can be queried by.
var dirObjSchema = func() *schema {
	props := append([]propDef{}, userSchema.props...)
	for _, p := range groupSchema.props {
		if userSchema.prop(p.name) == nil {
			props = append(props, p)
		}
	}
	return newSchema("microsoft.graph.directoryObject", "DirectoryObject", props, nil)
}()

func isUnified(g *Group) bool {
	for _, t := range g.GroupTypes {
		if strings.EqualFold(t, "Unified") {
			return true
		}
	}
	return false
}

func groupProp(r *groupRec, name string) any {
	g := &r.g
	switch name {
	case "id":
		return g.ID
	case "displayName":
		return g.DisplayName
	case "description":
		return g.Description
	case "mail":
		return g.Mail
	case "mailNickname":
		return g.MailNickname
	case "mailEnabled":
		return g.MailEnabled
	case "securityEnabled":
		return g.SecurityEnabled
	case "groupTypes":
		if g.GroupTypes == nil {
			return []string{}
		}
		return g.GroupTypes
	case "createdDateTime":
		return g.CreatedDateTime
	case "renewedDateTime":
		return g.CreatedDateTime
	case "securityIdentifier":
		return r.sid
	case "deletedDateTime":
		if r.deleted {
			return r.deletedAt
		}
		return time.Time{}
	case "visibility":
		if isUnified(g) {
			return "Public"
		}
		return nil
	case "proxyAddresses":
		if g.Mail != "" {
			return []string{"SMTP:" + g.Mail}
		}
		return []string{}
	case "hasMembersWithLicenseErrors":
		return g.HasMembersWithLicenseErrors
	case "isAssignableToRole", "onPremisesSyncEnabled":
		return nil
	}
	return nil
}

func groupJSON(r *groupRec, sel []string, withType bool) *jobj {
	props := sel
	if props == nil {
		props = groupSchema.defaults
	}
	o := newObj(len(props) + 1)
	if withType {
		o.add("@odata.type", "#microsoft.graph.group")
	}
	for _, p := range props {
		d := groupSchema.prop(p)
		if d == nil {
			continue // an unset extension attribute
		}
		o.add(d.name, jsonValue(d.kind, groupProp(r, d.name)))
	}
	return o
}

var groupOrderFree = map[string]bool{"displayName": true}

func hGroupList(s *Server, c *call) gresp {
	lq, gerr := parseListQuery(c, groupSchema, groupOrderFree)
	if gerr != nil {
		return c.errResp(gerr)
	}
	if lq.expand != nil {
		return c.errResp(badRequest("Request_UnsupportedQuery", "graphsim does not support $expand on groups."))
	}
	s.mu.Lock()
	ids := s.st.liveGroupIDs()
	match := func(id string) bool {
		r := s.st.groups[id]
		g := func(p string) any { return groupProp(r, p) }
		return (lq.filter == nil || lq.filter(g)) && (lq.search == nil || lq.search(g))
	}
	less := func(a, b string) bool {
		return orderedBefore(lq.order, a, b, func(id, p string) any { return groupProp(s.st.groups[id], p) })
	}
	page, next, total, gerr := pageIDs(c, ids, lq, match, less)
	if gerr != nil {
		s.mu.Unlock()
		return c.errResp(gerr)
	}
	vals := make([]any, 0, len(page))
	for _, id := range page {
		vals = append(vals, groupJSON(s.st.groups[id], lq.sel, false))
	}
	s.mu.Unlock()
	out := newObj(4).add("@odata.context", c.ctx("groups"+selectSuffix(lq.sel)))
	if lq.count {
		out.add("@odata.count", total)
	}
	if next != "" {
		out.add("@odata.nextLink", nextLink(c, "/groups", next))
	}
	out.add("value", vals)
	return c.jsonResp(200, out)
}

func hGroupCount(s *Server, c *call) gresp {
	if !c.eventual() {
		return c.errResp(badRequest("Request_BadRequest", "$count is not currently supported."))
	}
	s.mu.Lock()
	n := len(s.st.liveGroupIDs())
	s.mu.Unlock()
	return gresp{status: 200, body: []byte(strconv.Itoa(n)), ctype: "text/plain"}
}

func hGroupGet(s *Server, c *call) gresp {
	sel, gerr := parseSelect(groupSchema, c.q.Get("$select"))
	if gerr != nil {
		return c.errResp(gerr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.liveGroup(c.segs[1])
	if r == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	o := newObj(40).add("@odata.context", c.ctx("groups"+selectSuffix(sel)+"/$entity"))
	b := groupJSON(r, sel, false)
	o.keys = append(o.keys, b.keys...)
	o.vals = append(o.vals, b.vals...)
	return c.jsonResp(200, o)
}

// hGroupDelete: Microsoft 365 groups go to deleted items; security groups
// are deleted permanently (they cannot be restored).
func hGroupDelete(s *Server, c *call) gresp {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.liveGroup(c.segs[1])
	if r == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	s.deleteGroupLocked(r, c.now, !isUnified(&r.g))
	return noContent()
}

func (s *Server) deleteGroupLocked(r *groupRec, now time.Time, hard bool) {
	r.deleted = true
	r.deletedAt = now
	if hard {
		delete(s.st.groups, r.g.ID)
		s.st.gLog = append(s.st.gLog, logEntry{seq: s.st.nextSeq(), id: r.g.ID})
		s.st.purgedGroups[r.g.ID] = s.st.seq
	} else {
		s.st.touchGroup(r)
	}
	s.st.gOrderOK = false
}

// memberVisibleLocked reports whether a member object exists for reads and
// its kind ('u' or 'g').
func (s *Server) memberKindLocked(id string, now time.Time) byte {
	if r := s.st.users[id]; r != nil {
		if _, ok := s.viewUserLocked(r, now); ok {
			return 'u'
		}
		return 0
	}
	if g := s.st.liveGroup(id); g != nil {
		return 'g'
	}
	return 0
}

// transitiveLocked returns the sorted transitive member ids (users and
// nested groups) of a group.
func (s *Server) transitiveLocked(root *groupRec) []string {
	seen := map[string]struct{}{root.g.ID: {}}
	var out []string
	queue := []*groupRec{root}
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		for _, m := range g.sortedMembers() {
			if _, ok := seen[m]; ok {
				continue
			}
			seen[m] = struct{}{}
			out = append(out, m)
			if ng := s.st.liveGroup(m); ng != nil {
				queue = append(queue, ng)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) memberJSONLocked(id string, kind byte, sel []string, now time.Time) *jobj {
	if kind == 'u' {
		v, _ := s.viewUserLocked(s.st.users[id], now)
		return s.userJSON(v, sel, true)
	}
	return groupJSON(s.st.groups[id], sel, true)
}

// hMembers serves members and transitiveMembers, with optional type cast
// and $count segments.
func hMembers(s *Server, c *call) gresp {
	transitive := c.lsegs[2] == "transitivemembers"
	rest := c.lsegs[3:]
	var cast byte
	countOnly := false
	for _, r := range rest {
		switch r {
		case "microsoft.graph.user":
			cast = 'u'
		case "microsoft.graph.group":
			cast = 'g'
		case "$count":
			countOnly = true
		}
	}
	if countOnly && !c.eventual() {
		return c.errResp(badRequest("Request_BadRequest", "$count is not currently supported."))
	}
	var sc *schema
	switch cast {
	case 'u':
		sc = userSchema
	case 'g':
		sc = groupSchema
	default:
		// Without a cast, $select and $filter name properties of any member
		// type; each member answers with those its type has.
		sc = dirObjSchema
	}
	lq, gerr := parseListQuery(c, sc, map[string]bool{"displayName": true})
	if gerr != nil {
		return c.errResp(gerr)
	}
	// group-list-members.md: $filter and $orderby on members need the
	// advanced query parameters (ConsistencyLevel: eventual and
	// $count=true), with or without an OData cast.
	if (lq.filter != nil || lq.order != nil) && !lq.count {
		return c.errResp(needsAdvancedMembers())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.st.liveGroup(c.segs[1])
	if g == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	var ids []string
	if transitive {
		ids = s.transitiveLocked(g)
	} else {
		ids = g.sortedMembers()
	}
	kinds := map[string]byte{}
	match := func(id string) bool {
		k := s.memberKindLocked(id, c.now)
		if k == 0 || (cast != 0 && k != cast) {
			return false
		}
		kinds[id] = k
		if lq.filter != nil || lq.search != nil {
			var gt getter
			if k == 'u' {
				v, _ := s.viewUserLocked(s.st.users[id], c.now)
				gt = func(p string) any { return s.userProp(v, p) }
			} else {
				gr := s.st.groups[id]
				gt = func(p string) any { return groupProp(gr, p) }
			}
			if lq.filter != nil && !lq.filter(gt) {
				return false
			}
			if lq.search != nil && !lq.search(gt) {
				return false
			}
		}
		return true
	}
	if countOnly {
		n := 0
		for _, id := range ids {
			if match(id) {
				n++
			}
		}
		return gresp{status: 200, body: []byte(strconv.Itoa(n)), ctype: "text/plain"}
	}
	less := func(a, b string) bool {
		get := func(id string) string {
			if kinds[id] == 'u' {
				v, _ := s.viewUserLocked(s.st.users[id], c.now)
				return strings.ToLower(v.u.DisplayName)
			}
			return strings.ToLower(s.st.groups[id].g.DisplayName)
		}
		x, y := get(a), get(b)
		if x != y {
			return (x < y) != (len(lq.order) > 0 && lq.order[0].desc)
		}
		return a < b
	}
	page, next, total, gerr := pageIDs(c, ids, lq, match, less)
	if gerr != nil {
		return c.errResp(gerr)
	}
	vals := make([]any, 0, len(page))
	for _, id := range page {
		k := kinds[id]
		sel := lq.sel
		if cast == 0 && sel != nil {
			if k == 'g' {
				sel = filterSel(groupSchema, sel)
			} else {
				sel = filterSel(userSchema, sel)
			}
		}
		o := s.memberJSONLocked(id, k, sel, c.now)
		if transitive && cast == 'g' {
			// Graph's transitive group cast answers with these two extra
			// members (documented sample), in this position.
			o2 := newObj(len(o.keys)+2).add("@odata.id", "https://graph.microsoft.com/v2/"+s.tenantID+"/directoryObjects/"+id+"/Microsoft.DirectoryServices.Group")
			for i, k := range o.keys {
				o2.add(k, o.vals[i])
				if k == "id" {
					o2.add("organizationId", s.tenantID)
				}
			}
			o = o2
		}
		vals = append(vals, o)
	}
	ctx := "directoryObjects"
	switch cast {
	case 'u':
		ctx = "users" + selectSuffix(lq.sel)
	case 'g':
		ctx = "groups" + selectSuffix(lq.sel)
	}
	out := newObj(4).add("@odata.context", c.ctx(ctx))
	if lq.count {
		out.add("@odata.count", total)
	}
	if next != "" {
		out.add("@odata.nextLink", nextLink(c, "/"+strings.Join(escapeSegs(c.segs), "/"), next))
	}
	out.add("value", vals)
	return c.jsonResp(200, out)
}

func needsAdvancedMembers() *gerror {
	return badRequest("Request_UnsupportedQuery", "Filter and orderby on members require the advanced query parameters: add $count=true and the ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information")
}

func escapeSegs(segs []string) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = strings.ReplaceAll(s, "/", "%2F")
	}
	return out
}

func filterSel(sc *schema, sel []string) []string {
	out := []string{}
	for _, p := range sel {
		if sc.prop(p) != nil {
			out = append(out, sc.prop(p).name)
		}
	}
	return out
}

func hMemberAdd(s *Server, c *call) gresp {
	var body map[string]any
	if gerr := decodeJSONBody(c, &body); gerr != nil {
		return c.errResp(gerr)
	}
	ref, _ := body["@odata.id"].(string)
	mid := strings.ToLower(refID(ref))
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.st.liveGroup(c.segs[1])
	if g == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	if s.st.lookupUser(mid) == nil && s.st.liveGroup(mid) == nil {
		return c.errResp(notFound(mid))
	}
	if _, ok := g.memberSet[mid]; ok {
		return c.errResp(badRequest("Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'."))
	}
	s.changeMemberLocked(g, mid, true)
	return noContent()
}

func hMemberRemove(s *Server, c *call) gresp {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.st.liveGroup(c.segs[1])
	if g == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	mid := strings.ToLower(c.segs[3])
	if _, ok := g.memberSet[mid]; !ok {
		return c.errResp(notFound(c.segs[3]))
	}
	s.changeMemberLocked(g, mid, false)
	return noContent()
}

func hUserMemberOf(s *Server, c *call) gresp {
	lq, gerr := parseListQuery(c, groupSchema, map[string]bool{"displayName": true})
	if gerr != nil {
		return c.errResp(gerr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.readUserLocked(c.segs[1], c.now)
	if !ok {
		return c.errResp(notFound(c.segs[1]))
	}
	transitive := c.lsegs[2] == "transitivememberof"
	direct := map[string][]string{} // member -> groups containing it
	for _, gid := range s.st.liveGroupIDs() {
		for m := range s.st.groups[gid].memberSet {
			direct[m] = append(direct[m], gid)
		}
	}
	seen := map[string]bool{}
	queue := []string{v.u.ID}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, gid := range direct[cur] {
			if !seen[gid] {
				seen[gid] = true
				if transitive {
					queue = append(queue, gid)
				}
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	match := func(id string) bool {
		if lq.filter == nil {
			return true
		}
		r := s.st.groups[id]
		return lq.filter(func(p string) any { return groupProp(r, p) })
	}
	page, next, total, gerr := pageIDs(c, ids, lq, match, func(a, b string) bool { return a < b })
	if gerr != nil {
		return c.errResp(gerr)
	}
	vals := make([]any, 0, len(page))
	for _, id := range page {
		vals = append(vals, groupJSON(s.st.groups[id], lq.sel, true))
	}
	out := newObj(4).add("@odata.context", c.ctx("directoryObjects"))
	if lq.count {
		out.add("@odata.count", total)
	}
	if next != "" {
		out.add("@odata.nextLink", nextLink(c, "/"+strings.Join(escapeSegs(c.segs), "/"), next))
	}
	out.add("value", vals)
	return c.jsonResp(200, out)
}

// --- directoryObjects --------------------------------------------------------

// getByIds answers with a wider projection than GET /users (the documented
// sample includes accountEnabled).
var getByIDsUserSel = append(append([]string{}, userSchema.defaults...), "accountEnabled", "createdDateTime", "department",
	"employeeId", "mailNickname", "usageLocation", "userType")

func hGetByIDs(s *Server, c *call) gresp {
	var body struct {
		IDs   []string `json:"ids"`
		Types []string `json:"types"`
	}
	if len(c.body) == 0 || json.Unmarshal(c.body, &body) != nil {
		return c.errResp(badRequest("Request_BadRequest", "Invalid request body: expected {\"ids\":[...]}."))
	}
	if len(body.IDs) == 0 {
		return c.errResp(badRequest("Request_BadRequest", "Property ids value is required but is empty or missing."))
	}
	if len(body.IDs) > 1000 {
		return c.errResp(badRequest("Request_BadRequest", "The number of ids (1001 or more) exceeds the maximum of 1000."))
	}
	wantU, wantG := len(body.Types) == 0, len(body.Types) == 0
	for _, t := range body.Types {
		switch strings.ToLower(strings.TrimPrefix(strings.ToLower(t), "microsoft.graph.")) {
		case "user":
			wantU = true
		case "group":
			wantG = true
		case "directoryobject":
			wantU, wantG = true, true
		}
	}
	rawSel := c.q.Get("$select")
	var selU, selG []string
	if rawSel != "" {
		for _, p := range strings.Split(rawSel, ",") {
			p = strings.TrimSpace(p)
			du, dg := userSchema.prop(p), groupSchema.prop(p)
			if du == nil && dg == nil {
				return c.errResp(badRequest("BadRequest", fmt.Sprintf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type 'microsoft.graph.directoryObject'.", p)))
			}
			if du != nil {
				selU = append(selU, du.name)
			}
			if dg != nil {
				selG = append(selG, dg.name)
			}
		}
		if selU == nil {
			selU = []string{}
		}
		if selG == nil {
			selG = []string{}
		}
	}
	s.mu.Lock()
	vals := []any{}
	for _, id := range body.IDs {
		id = strings.ToLower(id)
		if r := s.st.users[id]; r != nil && wantU {
			if v, ok := s.viewUserLocked(r, c.now); ok {
				sel := selU
				if sel == nil {
					sel = getByIDsUserSel
				}
				vals = append(vals, s.userJSON(v, sel, true))
			}
			continue
		}
		if g := s.st.liveGroup(id); g != nil && wantG {
			vals = append(vals, groupJSON(g, selG, true))
		}
	}
	s.mu.Unlock()
	return c.jsonResp(200, newObj(2).add("@odata.context", c.ctx("directoryObjects")).add("value", vals))
}

func hDirObjectGet(s *Server, c *call) gresp {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strings.ToLower(c.segs[1])
	var b *jobj
	if r := s.st.users[id]; r != nil {
		if v, ok := s.viewUserLocked(r, c.now); ok {
			b = s.userJSON(v, nil, true)
		}
	} else if g := s.st.liveGroup(id); g != nil {
		b = groupJSON(g, nil, true)
	}
	if b == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	o := newObj(40).add("@odata.context", c.ctx("directoryObjects/$entity"))
	o.keys = append(o.keys, b.keys...)
	o.vals = append(o.vals, b.vals...)
	return c.jsonResp(200, o)
}

// --- deleted items -----------------------------------------------------------

const deletedRetention = 30 * 24 * time.Hour

// purgeExpiredLocked permanently deletes items kept longer than 30 days.
func (s *Server) purgeExpiredLocked(now time.Time) {
	for id, r := range s.st.users {
		if r.deleted && !r.purged && now.Sub(r.deletedAt) >= deletedRetention {
			s.purgeUserLocked(id, r)
		}
	}
	for id, g := range s.st.groups {
		if g.deleted && now.Sub(g.deletedAt) >= deletedRetention {
			delete(s.st.groups, id)
			s.st.gLog = append(s.st.gLog, logEntry{seq: s.st.nextSeq(), id: id})
			s.st.purgedGroups[id] = s.st.seq
		}
	}
}

func (s *Server) purgeUserLocked(id string, r *userRec) {
	r.purged = true
	s.st.touchUser(r)
	// Purged users never come back to the groups they left.
	r.leftGroups = nil
}

func deletedUserSel() []string {
	return append(append([]string{}, userSchema.defaults...), "deletedDateTime")
}

func hDeletedList(s *Server, c *call) gresp {
	isUser := c.lsegs[2] == "microsoft.graph.user"
	sc := groupSchema
	if isUser {
		sc = userSchema
	}
	lq, gerr := parseListQuery(c, sc, map[string]bool{"displayName": true, "deletedDateTime": true})
	if gerr != nil {
		return c.errResp(gerr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeExpiredLocked(c.now)
	var ids []string
	if isUser {
		for id, r := range s.st.users {
			if r.deleted && !r.purged {
				ids = append(ids, id)
			}
		}
	} else {
		for id, g := range s.st.groups {
			if g.deleted {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	get := func(id string) getter {
		if isUser {
			r := s.st.users[id]
			v := userView{u: &r.u, extra: r.extra, rec: r}
			return func(p string) any { return s.userProp(v, p) }
		}
		g := s.st.groups[id]
		return func(p string) any { return groupProp(g, p) }
	}
	match := func(id string) bool {
		g := get(id)
		return (lq.filter == nil || lq.filter(g)) && (lq.search == nil || lq.search(g))
	}
	less := func(a, b string) bool {
		return orderedBefore(lq.order, a, b, func(id, p string) any { return get(id)(p) })
	}
	page, next, total, gerr := pageIDs(c, ids, lq, match, less)
	if gerr != nil {
		return c.errResp(gerr)
	}
	vals := make([]any, 0, len(page))
	for _, id := range page {
		if isUser {
			r := s.st.users[id]
			sel := lq.sel
			if sel == nil {
				sel = deletedUserSel()
			}
			vals = append(vals, s.userJSON(userView{u: &r.u, extra: r.extra, rec: r}, sel, false))
		} else {
			vals = append(vals, groupJSON(s.st.groups[id], lq.sel, false))
		}
	}
	ctx := "groups"
	if isUser {
		ctx = "users"
	}
	out := newObj(4).add("@odata.context", c.ctx(ctx+selectSuffix(lq.sel)))
	if lq.count {
		out.add("@odata.count", total)
	}
	if next != "" {
		out.add("@odata.nextLink", nextLink(c, "/directory/deletedItems/"+c.segs[2], next))
	}
	out.add("value", vals)
	return c.jsonResp(200, out)
}

func (s *Server) deletedObjLocked(id string) (*userRec, *groupRec) {
	id = strings.ToLower(id)
	if r := s.st.users[id]; r != nil && r.deleted && !r.purged {
		return r, nil
	}
	if g := s.st.groups[id]; g != nil && g.deleted {
		return nil, g
	}
	return nil, nil
}

func hDeletedGet(s *Server, c *call) gresp {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeExpiredLocked(c.now)
	u, g := s.deletedObjLocked(c.segs[2])
	o := newObj(40).add("@odata.context", c.ctx("directoryObjects/$entity"))
	var b *jobj
	switch {
	case u != nil:
		b = s.userJSON(userView{u: &u.u, extra: u.extra, rec: u}, deletedUserSel(), true)
	case g != nil:
		b = groupJSON(g, nil, true)
	default:
		return c.errResp(notFound(c.segs[2]))
	}
	o.keys = append(o.keys, b.keys...)
	o.vals = append(o.vals, b.vals...)
	return c.jsonResp(200, o)
}

func hDeletedPurge(s *Server, c *call) gresp {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, g := s.deletedObjLocked(c.segs[2])
	switch {
	case u != nil:
		s.purgeUserLocked(u.u.ID, u)
		c.writtenUser = u.u.ID
	case g != nil:
		delete(s.st.groups, g.g.ID)
		s.st.gLog = append(s.st.gLog, logEntry{seq: s.st.nextSeq(), id: g.g.ID})
		s.st.purgedGroups[g.g.ID] = s.st.seq
	default:
		return c.errResp(notFound(c.segs[2]))
	}
	return noContent()
}

func hRestore(s *Server, c *call) gresp {
	if len(strings.TrimSpace(string(c.body))) > 0 {
		var body map[string]any
		if gerr := decodeJSONBody(c, &body); gerr != nil {
			return c.errResp(gerr)
		}
		for k := range body {
			if k != "autoReconcileProxyConflict" {
				return c.errResp(badRequest("Request_BadRequest", fmt.Sprintf("Property '%s' does not exist as a declared property or extension property.", k)))
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeExpiredLocked(c.now)
	u, g := s.deletedObjLocked(c.segs[2])
	o := newObj(40).add("@odata.context", c.ctx("directoryObjects/$entity"))
	var b *jobj
	switch {
	case u != nil:
		if id, taken := s.st.upn[strings.ToLower(u.origUPN)]; taken && id != u.u.ID {
			return c.errResp(upnConflict())
		}
		s.snapshotLocked(u, c.now)
		u.u.UserPrincipalName = u.origUPN
		u.deleted = false
		u.deletedAt = time.Time{}
		s.st.upn[strings.ToLower(u.origUPN)] = u.u.ID
		s.st.orderInsert(u.u.ID)
		s.st.touchUser(u)
		for _, gid := range u.leftGroups {
			if g := s.st.groups[gid]; g != nil {
				s.changeMemberLocked(g, u.u.ID, true)
			}
		}
		u.leftGroups = nil
		c.writtenUser = u.u.ID
		b = s.userJSON(userView{u: &u.u, extra: u.extra, rec: u}, nil, true)
	case g != nil:
		g.deleted = false
		g.deletedAt = time.Time{}
		s.st.gOrderOK = false
		s.st.touchGroup(g)
		b = groupJSON(g, nil, true)
	default:
		return c.errResp(notFound(c.segs[2]))
	}
	o.keys = append(o.keys, b.keys...)
	o.vals = append(o.vals, b.vals...)
	return c.jsonResp(200, o)
}
