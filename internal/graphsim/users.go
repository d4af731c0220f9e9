package graphsim

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

const graphTime = "2006-01-02T15:04:05Z"

func fmtTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(graphTime)
}

var userSchema = newSchema("microsoft.graph.user", "User", []propDef{
	{"id", pString, true},
	{"accountEnabled", pBool, true},
	{"ageGroup", pString, true},
	{"assignedLicenses", pObjects, false},
	{"assignedPlans", pObjects, false},
	{"businessPhones", pStrings, false},
	{"city", pString, true},
	{"companyName", pString, true},
	{"consentProvidedForMinor", pString, true},
	{"country", pString, true},
	{"createdDateTime", pDate, true},
	{"creationType", pString, true},
	{"deletedDateTime", pDate, false},
	{"department", pString, true},
	{"displayName", pString, true},
	{"employeeHireDate", pDate, true},
	{"employeeLeaveDateTime", pDate, true},
	{"employeeId", pString, true},
	{"employeeOrgData", pObject, false},
	{"employeeType", pString, true},
	{"externalUserState", pString, true},
	{"externalUserStateChangeDateTime", pDate, false},
	{"faxNumber", pString, true},
	{"givenName", pString, true},
	{"identities", pObjects, false},
	{"imAddresses", pStrings, true},
	{"isResourceAccount", pBool, false},
	{"jobTitle", pString, true},
	{"lastPasswordChangeDateTime", pDate, false},
	{"legalAgeGroupClassification", pString, false},
	{"licenseAssignmentStates", pObjects, false},
	{"mail", pString, true},
	{"mailNickname", pString, true},
	{"mobilePhone", pString, true},
	{"officeLocation", pString, true},
	{"onPremisesDistinguishedName", pString, false},
	{"onPremisesDomainName", pString, false},
	{"onPremisesExtensionAttributes", pObject, false},
	{"onPremisesImmutableId", pString, true},
	{"onPremisesLastSyncDateTime", pDate, true},
	{"onPremisesProvisioningErrors", pObjects, false},
	{"onPremisesSamAccountName", pString, true},
	{"onPremisesSecurityIdentifier", pString, true},
	{"onPremisesSyncEnabled", pBool, true},
	{"onPremisesUserPrincipalName", pString, true},
	{"otherMails", pStrings, true},
	{"passwordPolicies", pString, false},
	{"passwordProfile", pObject, false},
	{"postalCode", pString, true},
	{"preferredDataLocation", pString, false},
	{"preferredLanguage", pString, true},
	{"provisionedPlans", pObjects, false},
	{"proxyAddresses", pStrings, true},
	{"securityIdentifier", pString, true},
	{"showInAddressList", pBool, false},
	{"signInActivity", pObject, true},
	{"signInSessionsValidFromDateTime", pDate, false},
	{"state", pString, true},
	{"streetAddress", pString, true},
	{"surname", pString, true},
	{"usageLocation", pString, true},
	{"userPrincipalName", pString, true},
	{"userType", pString, true},
	// served only when one user is read (SharePoint profile); 501 in lists
	{"aboutMe", pString, false},
	{"birthday", pDate, false},
	{"hireDate", pDate, false},
	{"interests", pStrings, false},
	{"mailboxSettings", pObject, false},
	{"mySite", pString, false},
	{"pastProjects", pStrings, false},
	{"preferredName", pString, false},
	{"responsibilities", pStrings, false},
	{"schools", pStrings, false},
	{"skills", pStrings, false},
	// real, not modelled: served as null / empty
	{"customSecurityAttributes", pObject, false},
	{"authorizationInfo", pObject, false},
	{"serviceProvisioningErrors", pObjects, false},
}, []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"})

// Properties Graph computes or manages itself; writing them is rejected.
var userReadOnly = map[string]bool{
	"id": true, "createdDateTime": true, "deletedDateTime": true, "securityIdentifier": true,
	"signInSessionsValidFromDateTime": true, "lastPasswordChangeDateTime": true, "assignedPlans": true,
	"provisionedPlans": true, "licenseAssignmentStates": true, "assignedLicenses": true, "creationType": true,
	"externalUserState": true, "externalUserStateChangeDateTime": true, "onPremisesDistinguishedName": true,
	"onPremisesDomainName": true, "onPremisesLastSyncDateTime": true, "onPremisesProvisioningErrors": true,
	"onPremisesSamAccountName": true, "onPremisesSecurityIdentifier": true, "onPremisesSyncEnabled": true,
	"onPremisesUserPrincipalName": true, "isResourceAccount": true, "legalAgeGroupClassification": true,
	"proxyAddresses": true, "signInActivity": true,
}

// userView is what a read sees of a user (possibly a stale replica).
type userView struct {
	u     *User
	extra map[string]any
	rec   *userRec
}

// userProp returns a property value for filters (typed Go values).
func (s *Server) userProp(v userView, name string) any {
	u := v.u
	switch name {
	case "id":
		return u.ID
	case "accountEnabled":
		return u.AccountEnabled
	case "businessPhones":
		return u.BusinessPhones
	case "createdDateTime":
		return u.CreatedDateTime
	case "department":
		return u.Department
	case "displayName":
		return u.DisplayName
	case "employeeId":
		return u.EmployeeID
	case "givenName":
		return u.GivenName
	case "jobTitle":
		return u.JobTitle
	case "mail":
		return u.Mail
	case "mailNickname":
		return u.MailNickname
	case "mobilePhone":
		return u.MobilePhone
	case "officeLocation":
		return u.OfficeLocation
	case "preferredLanguage":
		return u.PreferredLanguage
	case "surname":
		return u.Surname
	case "usageLocation":
		return u.UsageLocation
	case "userPrincipalName":
		return u.UserPrincipalName
	case "securityIdentifier":
		return sidFor(u.ID)
	case "userType":
		if x, ok := v.extra["userType"].(string); ok {
			return x
		}
		return "Member"
	case "creationType":
		return nil
	case "proxyAddresses":
		if u.Mail != "" {
			return []string{"SMTP:" + u.Mail}
		}
		return []string{}
	case "identities":
		if x, ok := v.extra["identities"]; ok {
			return x
		}
		return []any{map[string]any{"signInType": "userPrincipalName", "issuer": s.initialDomain(), "issuerAssignedId": u.UserPrincipalName}}
	case "signInSessionsValidFromDateTime":
		if v.rec != nil {
			return v.rec.signInValidFrom
		}
		return time.Time{}
	case "lastPasswordChangeDateTime":
		if v.rec != nil {
			return v.rec.lastPwdChange
		}
		return time.Time{}
	case "deletedDateTime":
		if v.rec != nil && v.rec.deleted {
			return v.rec.deletedAt
		}
		return time.Time{}
	case "passwordProfile":
		return nil // write-only
	case "signInActivity":
		e := v.rec.effective(*u)
		return signInJSON(u.ID, e.SignInActivity)
	case "employeeLeaveDateTime":
		return v.rec.effective(*u).EmployeeLeaveDateTime
	case "assignedLicenses":
		return licensesJSON(v.rec.effective(*u).AssignedLicenses)
	}
	if sub, ok := strings.CutPrefix(name, "signInActivity/"); ok {
		return signInField(v.rec.effective(*u).SignInActivity, sub)
	}
	if x, ok := v.extra[name]; ok {
		if t, ok := x.(string); ok {
			if d := userSchema.prop(name); d != nil && d.kind == pDate {
				if tt, err := time.Parse(time.RFC3339, t); err == nil {
					return tt
				}
			}
		}
		return x
	}
	return nil
}

func (s *Server) initialDomain() string {
	for _, d := range s.domains {
		if d.isInitial {
			return d.name
		}
	}
	return s.domains[0].name
}

// jsonValue converts a Go property value to its wire form for a schema kind.
func jsonValue(kind propKind, v any) any {
	switch kind {
	case pString:
		if x, ok := v.(string); ok && x != "" {
			return x
		}
		if v == nil {
			return nil
		}
		if x, ok := v.(string); ok && x == "" {
			return nil
		}
		return v
	case pBool:
		if b, ok := v.(bool); ok {
			return b
		}
		return nil
	case pStrings:
		switch x := v.(type) {
		case []string:
			if x == nil {
				return []string{}
			}
			return x
		case []any:
			return x
		}
		return []string{}
	case pObjects:
		if v == nil {
			return []any{}
		}
		return v
	case pDate:
		switch x := v.(type) {
		case time.Time:
			return fmtTime(x)
		case string:
			if x == "" {
				return nil
			}
			return x
		}
		return nil
	}
	return v
}

func (s *Server) userJSON(v userView, sel []string, withType bool) *jobj {
	props := sel
	if props == nil {
		props = userSchema.defaults
	}
	o := newObj(len(props) + 1)
	if withType {
		o.add("@odata.type", "#microsoft.graph.user")
	}
	for _, p := range props {
		d := userSchema.prop(p)
		if d == nil { // an extension attribute: omitted when unset
			if x, ok := extValue(v.u.Extensions, p); ok {
				o.add(p, x)
			}
			continue
		}
		o.add(d.name, jsonValue(d.kind, s.userProp(v, d.name)))
	}
	return o
}

func extValue(m map[string]any, name string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// viewUserLocked applies replication lag: a user created within the lag
// window is invisible, one changed within it shows its previous state.
func (s *Server) viewUserLocked(r *userRec, now time.Time) (userView, bool) {
	if lag := s.replLag; lag > 0 {
		if !r.createdAt.IsZero() && now.Sub(r.createdAt) < lag {
			return userView{}, false
		}
		if r.prev != nil && now.Sub(r.changedAt) < lag {
			return userView{u: &r.prev.u, extra: r.prev.extra, rec: r}, true
		}
	}
	if r.deleted {
		return userView{}, false
	}
	return userView{u: &r.u, extra: r.extra, rec: r}, true
}

// readUserLocked resolves a user for a Graph read (lag applies).
func (s *Server) readUserLocked(idOrUPN string, now time.Time) (userView, bool) {
	k := strings.ToLower(idOrUPN)
	r := s.st.users[k]
	if r == nil {
		if id, ok := s.st.upn[k]; ok {
			r = s.st.users[id]
		}
	}
	if r == nil {
		return userView{}, false
	}
	return s.viewUserLocked(r, now)
}

// writeUserLocked resolves a live user for a write (no lag: the write goes
// to the primary replica).
func (s *Server) writeUserLocked(idOrUPN string) *userRec { return s.st.lookupUser(idOrUPN) }

func selectSuffix(sel []string) string {
	if sel == nil {
		return ""
	}
	return "(" + strings.Join(sel, ",") + ")"
}

// --- list ----------------------------------------------------------------

type listQuery struct {
	sel     []string
	filter  filterFn
	search  filterFn
	order   []orderSpec
	top     int
	count   bool
	expand  []expandSpec
	advProp string
}

// parseListQuery applies the OData rules shared by collection endpoints,
// including which options need ConsistencyLevel: eventual.
func parseListQuery(c *call, sc *schema, orderFree map[string]bool) (*listQuery, *gerror) {
	lq := &listQuery{top: 100}
	var err *gerror
	if lq.sel, err = parseSelect(sc, c.q.Get("$select")); err != nil {
		return nil, err
	}
	if t := c.q.Get("$top"); t != "" {
		n, e := strconv.Atoi(t)
		if e != nil || n < 1 || n > 999 {
			return nil, badRequest("Request_UnsupportedQuery", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", t))
		}
		lq.top = n
	}
	// Advanced queries need ConsistencyLevel: eventual and $count=true
	// ($search needs only the header). Without the header, $count=true is
	// silently ignored (no @odata.count), as Graph documents.
	switch cs := c.q.Get("$count"); strings.ToLower(cs) {
	case "true":
		lq.count = c.eventual()
	case "false", "":
	default:
		return nil, badRequest("BadRequest", "Invalid value for $count: '"+cs+"'.")
	}
	if f := c.q.Get("$filter"); f != "" {
		fn, adv, advOp, e := parseFilter(sc, f)
		if e != nil {
			return nil, e
		}
		if adv && !lq.count {
			return nil, needsAdvanced(advOp)
		}
		lq.filter = fn
	}
	if sr := c.q.Get("$search"); sr != "" {
		if !c.eventual() {
			return nil, badRequest("Request_UnsupportedQuery", "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
		}
		fn, e := parseSearch(sc, sr)
		if e != nil {
			return nil, e
		}
		lq.search = fn
	}
	if ob := c.q.Get("$orderby"); ob != "" {
		o, e := parseOrderBy(sc, ob)
		if e != nil {
			return nil, e
		}
		if !lq.count && !(c.eventual() && lq.search != nil) {
			for _, x := range o {
				if !orderFree[x.prop] || lq.filter != nil {
					return nil, badRequest("Request_UnsupportedQuery", "Sorting not supported for current query.")
				}
			}
		}
		lq.order = o
	}
	if ex := c.q.Get("$expand"); ex != "" {
		e, ge := parseExpand(ex)
		if ge != nil {
			return nil, ge
		}
		lq.expand = e
	}
	return lq, nil
}

// needsAdvanced is Graph's answer to an operator used without the
// advanced query parameters.
func needsAdvanced(op string) *gerror {
	return badRequest("Request_UnsupportedQuery", fmt.Sprintf("Operator '%s' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information", op))
}

func encodeSkip(kind string, v string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("graphsim1:" + kind + ":" + v))
}

func decodeSkip(tok string) (kind, v string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", "", false
	}
	rest, found := strings.CutPrefix(string(b), "graphsim1:")
	if !found {
		return "", "", false
	}
	kind, v, ok = strings.Cut(rest, ":")
	return
}

// nextLink rebuilds the request URL with a new $skiptoken; Graph's links
// keep the original query options so the next page is served the same way.
func nextLink(c *call, path string, tok string) string {
	keys := make([]string, 0, len(c.q))
	for k := range c.q {
		if k != "$skiptoken" && k != "$deltatoken" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(c.graphBase())
	b.WriteString(path)
	sep := "?"
	for _, k := range keys {
		for _, v := range c.q[k] {
			b.WriteString(sep)
			b.WriteString(k)
			b.WriteString("=")
			b.WriteString(url.QueryEscape(v))
			sep = "&"
		}
	}
	b.WriteString(sep)
	b.WriteString("$skiptoken=")
	b.WriteString(tok)
	return b.String()
}

var userOrderFree = map[string]bool{"displayName": true, "userPrincipalName": true}

func badSkipToken() *gerror {
	return badRequest("Request_BadRequest", "The specified page token value has expired or is invalid. Please restart the query.")
}

// pageIDs pages over ids (sorted) with an opaque cursor. With $orderby or
// $search it materialises the matching set and pages by offset instead.
func pageIDs(c *call, ids []string, lq *listQuery, match func(id string) bool, less func(a, b string) bool) (page []string, next string, total int, gerr *gerror) {
	tok := c.q.Get("$skiptoken")
	if lq.order != nil {
		var all []string
		for _, id := range ids {
			if match(id) {
				all = append(all, id)
			}
		}
		sort.SliceStable(all, func(i, j int) bool { return less(all[i], all[j]) })
		off := 0
		if tok != "" {
			k, v, ok := decodeSkip(tok)
			n, err := strconv.Atoi(v)
			if !ok || k != "o" || err != nil || n < 0 {
				return nil, "", 0, badSkipToken()
			}
			off = n
		}
		total = len(all)
		if off > len(all) {
			off = len(all)
		}
		end := min(off+lq.top, len(all))
		page = all[off:end]
		if end < len(all) {
			next = encodeSkip("o", strconv.Itoa(end))
		}
		return
	}
	start := 0
	if tok != "" {
		k, v, ok := decodeSkip(tok)
		if !ok || k != "k" {
			return nil, "", 0, badSkipToken()
		}
		start = sort.SearchStrings(ids, v)
		if start < len(ids) && ids[start] == v {
			start++
		}
	}
	for i := start; i < len(ids); i++ {
		if !match(ids[i]) {
			continue
		}
		if len(page) == lq.top {
			next = encodeSkip("k", page[len(page)-1])
			break
		}
		page = append(page, ids[i])
	}
	if lq.count {
		for _, id := range ids {
			if match(id) {
				total++
			}
		}
	}
	return
}

func hUserList(s *Server, c *call) gresp {
	lq, gerr := parseListQuery(c, userSchema, userOrderFree)
	if gerr != nil {
		return c.errResp(gerr)
	}
	for _, p := range lq.sel {
		if singleUserOnly[p] {
			return c.errResp(&gerror{status: 501, code: "NotImplemented", msg: fmt.Sprintf("The property '%s' is supported only when retrieving a single user.", p)})
		}
	}
	if signInQuery(c) {
		lq.top = min(lq.top, signInMaxPage)
		if lq.sel == nil {
			// Filtering on signInActivity returns it with the defaults.
			lq.sel = append(append([]string{}, userSchema.defaults...), "signInActivity")
		}
	}
	for _, e := range lq.expand {
		if !strings.EqualFold(e.nav, "manager") {
			return c.errResp(badRequest("BadRequest", fmt.Sprintf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type 'microsoft.graph.user'.", e.nav)))
		}
	}
	s.mu.Lock()
	view := func(id string) (userView, bool) { return s.viewUserLocked(s.st.users[id], c.now) }
	ids := s.st.liveUserIDs()
	if s.replLag > 0 {
		// Recently deleted users are still visible on lagging replicas.
		ids = s.lagUserIDsLocked(c.now)
	}
	match := func(id string) bool {
		v, ok := view(id)
		if !ok {
			return false
		}
		g := func(p string) any { return s.userProp(v, p) }
		if lq.filter != nil && !lq.filter(g) {
			return false
		}
		if lq.search != nil && !lq.search(g) {
			return false
		}
		return true
	}
	less := func(a, b string) bool {
		return orderedBefore(lq.order, a, b, func(id, p string) any {
			v, _ := view(id)
			return s.userProp(v, p)
		})
	}
	page, next, total, gerr := pageIDs(c, ids, lq, match, less)
	if gerr != nil {
		s.mu.Unlock()
		return c.errResp(gerr)
	}
	vals := make([]any, 0, len(page))
	for _, id := range page {
		v, _ := view(id)
		o := s.userJSON(v, lq.sel, false)
		s.expandManagerLocked(o, v, lq.expand, c)
		vals = append(vals, o)
	}
	s.mu.Unlock()
	out := newObj(4).add("@odata.context", c.ctx("users"+selectSuffix(lq.sel)))
	if lq.count {
		out.add("@odata.count", total)
	}
	if next != "" {
		out.add("@odata.nextLink", nextLink(c, "/users", next))
	}
	out.add("value", vals)
	return c.jsonResp(200, out)
}

// lagUserIDsLocked lists ids visible to a lagging replica: live users plus
// users deleted within the lag window (the view function hides new ones).
func (s *Server) lagUserIDsLocked(now time.Time) []string {
	ids := append([]string(nil), s.st.liveUserIDs()...)
	added := false
	for id, r := range s.st.users {
		if r.deleted && now.Sub(r.deletedAt) < s.replLag {
			ids = append(ids, id)
			added = true
		}
	}
	if added {
		sort.Strings(ids)
	}
	return ids
}

func (s *Server) expandManagerLocked(o *jobj, v userView, expand []expandSpec, c *call) {
	for _, e := range expand {
		if !strings.EqualFold(e.nav, "manager") {
			continue
		}
		sel, _ := parseSelect(userSchema, e.select_)
		levels := e.levels
		switch levels {
		case 0:
			levels = 1
		case -1:
			levels = maxLevels
		}
		s.addManagerChainLocked(o, v, sel, levels, c)
	}
}

// addManagerChainLocked nests up to levels managers ($levels), each as the
// "manager" property of the one below it.
func (s *Server) addManagerChainLocked(o *jobj, v userView, sel []string, levels int, c *call) {
	seen := map[string]bool{v.u.ID: true}
	for ; levels > 0 && v.u.ManagerID != ""; levels-- {
		mr := s.st.users[strings.ToLower(v.u.ManagerID)]
		if mr == nil || seen[mr.u.ID] {
			return
		}
		mv, ok := s.viewUserLocked(mr, c.now)
		if !ok {
			return
		}
		seen[mr.u.ID] = true
		mo := s.userJSON(mv, sel, true)
		o.add("manager", mo)
		o, v = mo, mv
	}
}

func hUserCount(s *Server, c *call) gresp {
	if !c.eventual() {
		return c.errResp(badRequest("Request_BadRequest", "$count is not currently supported."))
	}
	s.mu.Lock()
	n := 0
	for _, id := range s.st.liveUserIDs() {
		if _, ok := s.viewUserLocked(s.st.users[id], c.now); ok {
			n++
		}
	}
	s.mu.Unlock()
	return gresp{status: 200, body: []byte(strconv.Itoa(n)), ctype: "text/plain"}
}

// --- get -----------------------------------------------------------------

func hUserGet(s *Server, c *call) gresp {
	sel, gerr := parseSelect(userSchema, c.q.Get("$select"))
	if gerr != nil {
		return c.errResp(gerr)
	}
	exp, gerr := parseExpand(c.q.Get("$expand"))
	if gerr != nil {
		return c.errResp(gerr)
	}
	for _, e := range exp {
		if !strings.EqualFold(e.nav, "manager") {
			return c.errResp(badRequest("BadRequest", fmt.Sprintf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type 'microsoft.graph.user'.", e.nav)))
		}
	}
	s.mu.Lock()
	v, ok := s.readUserLocked(c.segs[1], c.now)
	if !ok {
		s.mu.Unlock()
		return c.errResp(notFound(c.segs[1]))
	}
	o := newObj(16).add("@odata.context", c.ctx("users"+selectSuffix(sel)+"/$entity"))
	body := s.userJSON(v, sel, false)
	o.keys = append(o.keys, body.keys...)
	o.vals = append(o.vals, body.vals...)
	s.expandManagerLocked(o, v, exp, c)
	s.mu.Unlock()
	return c.jsonResp(200, o)
}

// --- create / update -------------------------------------------------------

func invalidValue(prop string) *gerror {
	return badRequest("Request_BadRequest", fmt.Sprintf("Invalid value specified for property '%s' of resource 'User'.", prop))
}

func passwordOK(p string) bool {
	if len(p) < 8 || len(p) > 256 {
		return false
	}
	var lo, up, dg, sy bool
	for _, r := range p {
		switch {
		case unicode.IsLower(r):
			lo = true
		case unicode.IsUpper(r):
			up = true
		case unicode.IsDigit(r):
			dg = true
		case r < 128 && unicode.IsPrint(r):
			sy = true
		default:
			// Entra rejects characters outside its allowed set.
			return false
		}
	}
	n := 0
	for _, b := range []bool{lo, up, dg, sy} {
		if b {
			n++
		}
	}
	return n >= 3
}

func badPassword() *gerror {
	return badRequest("Request_BadRequest", "The specified password does not comply with password complexity requirements. Please provide a different password.")
}

func upnConflict() *gerror {
	return &gerror{status: 400, code: "Request_BadRequest", msg: "Another object with the same value for property userPrincipalName already exists.",
		details: []any{map[string]any{"code": "ObjectConflict", "message": "Another object with the same value for property userPrincipalName already exists.", "target": "userPrincipalName"}}}
}

func badUPNDomain() *gerror {
	return &gerror{status: 400, code: "Request_BadRequest", msg: "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
		details: []any{map[string]any{"code": "InvalidValue", "target": "userPrincipalName"}}}
}

// checkUPNLocked enforces format, verified domain and uniqueness.
func (s *Server) checkUPNLocked(upn, selfID string) *gerror {
	local, domain, ok := strings.Cut(upn, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || strings.ContainsAny(upn, " \t") || len(local) > 64 {
		return invalidValue("userPrincipalName")
	}
	verified := false
	for _, d := range s.domains {
		if strings.EqualFold(d.name, domain) {
			verified = true
		}
	}
	if !verified {
		return badUPNDomain()
	}
	if id, ok := s.st.upn[strings.ToLower(upn)]; ok && id != selfID {
		return upnConflict()
	}
	return nil
}

func mailNicknameOK(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if r > 127 || strings.ContainsRune(" @()\\[]\";:<>,", r) {
			return false
		}
	}
	return !strings.HasPrefix(n, ".") && !strings.HasSuffix(n, ".")
}

// applyUserProps validates and applies a JSON body to u/extra. It returns
// the password set, if any.
func (s *Server) applyUserProps(body map[string]any, u *User, extra map[string]any, creating bool) (pwd *string, force *bool, managerBind string, gerr *gerror) {
	for k, raw := range body {
		if strings.HasPrefix(k, "@odata.") {
			continue
		}
		if strings.EqualFold(k, "manager@odata.bind") && creating {
			sv, ok := raw.(string)
			if !ok {
				return nil, nil, "", invalidValue("manager")
			}
			managerBind = sv
			continue
		}
		d := userSchema.prop(k)
		if d == nil && extensionProp.MatchString(k) {
			if u.Extensions == nil {
				u.Extensions = map[string]any{}
			}
			if raw == nil {
				delete(u.Extensions, k)
			} else {
				u.Extensions[k] = raw
			}
			continue
		}
		if d == nil {
			return nil, nil, "", badRequest("Request_BadRequest", fmt.Sprintf("Property '%s' does not exist as a declared property or extension property.", k))
		}
		name := d.name
		if userReadOnly[name] {
			return nil, nil, "", badRequest("Request_BadRequest", fmt.Sprintf("Property '%s' is read-only and cannot be set.", name))
		}
		if name == "passwordProfile" {
			pp, ok := raw.(map[string]any)
			if !ok {
				return nil, nil, "", invalidValue("passwordProfile")
			}
			if p, ok := pp["password"]; ok {
				ps, ok := p.(string)
				if !ok {
					return nil, nil, "", invalidValue("passwordProfile")
				}
				pwd = &ps
			}
			if f, ok := pp["forceChangePasswordNextSignIn"]; ok {
				fb, ok := f.(bool)
				if !ok {
					return nil, nil, "", invalidValue("passwordProfile")
				}
				force = &fb
			}
			continue
		}
		// type check by kind
		switch d.kind {
		case pString:
			if raw != nil {
				if _, ok := raw.(string); !ok {
					return nil, nil, "", invalidValue(name)
				}
			}
		case pBool:
			if _, ok := raw.(bool); !ok {
				return nil, nil, "", invalidValue(name)
			}
		case pStrings:
			if raw != nil {
				arr, ok := raw.([]any)
				if !ok {
					return nil, nil, "", invalidValue(name)
				}
				for _, x := range arr {
					if _, ok := x.(string); !ok {
						return nil, nil, "", invalidValue(name)
					}
				}
			}
		case pDate:
			if raw != nil {
				sv, ok := raw.(string)
				if !ok {
					return nil, nil, "", invalidValue(name)
				}
				if _, err := time.Parse(time.RFC3339, sv); err != nil {
					return nil, nil, "", invalidValue(name)
				}
			}
		}
		str, _ := raw.(string)
		switch name {
		case "accountEnabled":
			u.AccountEnabled = raw.(bool)
		case "displayName":
			if str == "" || len(str) > 256 {
				return nil, nil, "", invalidValue(name)
			}
			u.DisplayName = str
		case "givenName":
			u.GivenName = str
		case "surname":
			u.Surname = str
		case "mail":
			u.Mail = str
		case "mailNickname":
			if !mailNicknameOK(str) {
				return nil, nil, "", invalidValue(name)
			}
			u.MailNickname = str
		case "jobTitle":
			u.JobTitle = str
		case "department":
			u.Department = str
		case "officeLocation":
			u.OfficeLocation = str
		case "usageLocation":
			if str != "" && len(str) != 2 {
				return nil, nil, "", invalidValue(name)
			}
			u.UsageLocation = strings.ToUpper(str)
		case "employeeId":
			if len(str) > 16 {
				return nil, nil, "", invalidValue(name)
			}
			u.EmployeeID = str
		case "mobilePhone":
			u.MobilePhone = str
		case "preferredLanguage":
			u.PreferredLanguage = str
		case "userPrincipalName":
			u.UserPrincipalName = str
		case "employeeLeaveDateTime":
			u.EmployeeLeaveDateTime = time.Time{}
			if str != "" {
				u.EmployeeLeaveDateTime, _ = time.Parse(time.RFC3339, str)
			}
		case "businessPhones":
			u.BusinessPhones = nil
			if arr, ok := raw.([]any); ok {
				if len(arr) > 1 {
					// Graph allows only one business phone for users.
					return nil, nil, "", invalidValue(name)
				}
				for _, x := range arr {
					u.BusinessPhones = append(u.BusinessPhones, x.(string))
				}
			}
		default:
			if raw == nil {
				delete(extra, name)
			} else {
				extra[name] = raw
			}
		}
	}
	return pwd, force, managerBind, nil
}

func hUserCreate(s *Server, c *call) gresp {
	var body map[string]any
	if gerr := decodeJSONBody(c, &body); gerr != nil {
		return c.errResp(gerr)
	}
	u := User{}
	extra := map[string]any{}
	pwd, force, mgr, gerr := s.applyUserProps(body, &u, extra, true)
	if gerr != nil {
		return c.errResp(gerr)
	}
	for _, req := range []string{"accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"} {
		if _, ok := body[req]; !ok {
			return c.errResp(badRequest("Request_BadRequest", fmt.Sprintf("Property %s value is required but is empty or missing.", req)))
		}
	}
	if pwd == nil || *pwd == "" {
		return c.errResp(badRequest("Request_BadRequest", "Property password value is required but is empty or missing."))
	}
	if !passwordOK(*pwd) {
		return c.errResp(badPassword())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if gerr := s.checkUPNLocked(u.UserPrincipalName, ""); gerr != nil {
		return c.errResp(gerr)
	}
	if mgr != "" {
		mid := refID(mgr)
		mr := s.st.lookupUser(mid)
		if mr == nil {
			return c.errResp(notFound(mid))
		}
		u.ManagerID = mr.u.ID
	}
	u.Password = *pwd
	r := s.insertUserLocked(u, extra, c.now, true)
	if force != nil {
		r.forceChange = *force
	}
	c.writtenUser = r.u.ID
	c.created = true
	v := userView{u: &r.u, extra: r.extra, rec: r}
	o := newObj(16).add("@odata.context", c.ctx("users/$entity"))
	b := s.userJSON(v, nil, false)
	// Graph's create answer leads with id.
	o.add("id", r.u.ID)
	for i, k := range b.keys {
		if k != "id" {
			o.add(k, b.vals[i])
		}
	}
	resp := c.jsonResp(201, o)
	resp.hdr = map[string][]string{"Location": {c.graphBase() + "/directoryObjects/" + r.u.ID + "/Microsoft.DirectoryServices.User"}}
	return resp
}

// refID extracts the object id from an @odata.id / @odata.bind URL (any
// host), or returns the value itself.
func refID(ref string) string {
	ref = strings.TrimRight(ref, "/")
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		last := ref[i+1:]
		if strings.HasPrefix(strings.ToLower(last), "microsoft.") {
			rest := ref[:i]
			if j := strings.LastIndex(rest, "/"); j >= 0 {
				return rest[j+1:]
			}
		}
		// users('id') form
		if k := strings.Index(last, "('"); k >= 0 && strings.HasSuffix(last, "')") {
			return last[k+2 : len(last)-2]
		}
		return last
	}
	return ref
}

// insertUserLocked stores a new user. viaAPI marks it for replication lag.
func (s *Server) insertUserLocked(u User, extra map[string]any, now time.Time, viaAPI bool) *userRec {
	if u.ID == "" {
		u.ID = s.newID()
	}
	u.ID = strings.ToLower(u.ID)
	if u.CreatedDateTime.IsZero() {
		u.CreatedDateTime = now.UTC().Truncate(time.Second)
	}
	r := &userRec{u: u, extra: extra, changedAt: now, lastPwdChange: u.CreatedDateTime}
	if viaAPI {
		r.createdAt = now
	}
	wasLive := false
	if old := s.st.users[u.ID]; old != nil && !old.deleted {
		delete(s.st.upn, strings.ToLower(old.u.UserPrincipalName))
		wasLive = true
	}
	s.st.users[u.ID] = r
	if u.UserPrincipalName != "" {
		s.st.upn[strings.ToLower(u.UserPrincipalName)] = u.ID
	}
	if !wasLive {
		s.st.orderInsert(u.ID)
	}
	s.st.touchUser(r)
	return r
}

// sidFor derives an Entra-style security identifier from the object id.
func sidFor(id string) string {
	h := strings.ReplaceAll(id, "-", "")
	if len(h) < 32 {
		return "S-1-12-1-0-0-0-0"
	}
	parts := make([]string, 4)
	for i := 0; i < 4; i++ {
		var n uint32
		for j := 3; j >= 0; j-- {
			b, _ := strconv.ParseUint(h[i*8+j*2:i*8+j*2+2], 16, 8)
			n = n<<8 | uint32(b)
		}
		parts[i] = strconv.FormatUint(uint64(n), 10)
	}
	return "S-1-12-1-" + strings.Join(parts, "-")
}

// snapshotLocked records the pre-change state for replication lag.
func (s *Server) snapshotLocked(r *userRec, now time.Time) {
	if s.replLag > 0 {
		r.prev = &userSnap{u: cloneUser(r.u), extra: cloneExtra(r.extra)}
	} else {
		r.prev = nil
	}
	r.changedAt = now
}

func hUserPatch(s *Server, c *call) gresp {
	var body map[string]any
	if gerr := decodeJSONBody(c, &body); gerr != nil {
		return c.errResp(gerr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.writeUserLocked(c.segs[1])
	if r == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	r.materialize()
	u := cloneUser(r.u)
	extra := cloneExtra(r.extra)
	if extra == nil {
		extra = map[string]any{}
	}
	pwd, force, _, gerr := s.applyUserProps(body, &u, extra, false)
	if gerr != nil {
		return c.errResp(gerr)
	}
	for _, req := range []string{"displayName", "mailNickname", "userPrincipalName"} {
		if v, ok := body[req]; ok && v == nil {
			return c.errResp(invalidValue(req))
		}
	}
	if pwd != nil && !passwordOK(*pwd) {
		return c.errResp(badPassword())
	}
	if !strings.EqualFold(u.UserPrincipalName, r.u.UserPrincipalName) || u.UserPrincipalName != r.u.UserPrincipalName {
		if gerr := s.checkUPNLocked(u.UserPrincipalName, r.u.ID); gerr != nil {
			return c.errResp(gerr)
		}
	}
	s.snapshotLocked(r, c.now)
	if u.UserPrincipalName != r.u.UserPrincipalName {
		delete(s.st.upn, strings.ToLower(r.u.UserPrincipalName))
		s.st.upn[strings.ToLower(u.UserPrincipalName)] = r.u.ID
	}
	if pwd != nil {
		u.Password = *pwd
		r.lastPwdChange = c.now.UTC().Truncate(time.Second)
	}
	if force != nil {
		r.forceChange = *force
	}
	r.u = u
	r.extra = extra
	s.st.touchUser(r)
	c.writtenUser = r.u.ID
	c.disabled = body["accountEnabled"] == false
	return noContent()
}

func hUserDelete(s *Server, c *call) gresp {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.writeUserLocked(c.segs[1])
	if r == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	s.softDeleteUserLocked(r, c.now)
	c.writtenUser = r.u.ID
	return noContent()
}

// softDeleteUserLocked moves a user to deleted items. Like Entra, the UPN is
// freed for reuse: the deleted object's UPN gets its id (without dashes)
// prefixed, and a restore puts the original back if it is still free.
func (s *Server) softDeleteUserLocked(r *userRec, now time.Time) {
	s.snapshotLocked(r, now)
	delete(s.st.upn, strings.ToLower(r.u.UserPrincipalName))
	r.origUPN = r.u.UserPrincipalName
	r.u.UserPrincipalName = strings.ReplaceAll(r.u.ID, "-", "") + r.u.UserPrincipalName
	r.deleted = true
	r.deletedAt = now
	s.st.orderRemove(r.u.ID)
	s.st.touchUser(r)
	// Entra drops a deleted user from its groups (members@delta reports the
	// removal) and puts the memberships back on restore.
	r.leftGroups = r.leftGroups[:0]
	for gid, g := range s.st.groups {
		if _, ok := g.memberSet[r.u.ID]; ok {
			s.changeMemberLocked(g, r.u.ID, false)
			r.leftGroups = append(r.leftGroups, gid)
		}
	}
}

// changeMemberLocked adds or removes a member and logs the group change.
func (s *Server) changeMemberLocked(g *groupRec, id string, add bool) bool {
	seq := s.st.seq + 1
	var changed bool
	if add {
		changed = g.addMember(id, seq)
	} else {
		changed = g.removeMember(id, seq)
	}
	if changed {
		s.st.seq = seq
		g.seq = seq
		s.st.gLog = append(s.st.gLog, logEntry{seq: seq, id: g.g.ID})
	}
	return changed
}

// --- manager ---------------------------------------------------------------

func hManagerGet(s *Server, c *call) gresp {
	sel, gerr := parseSelect(userSchema, c.q.Get("$select"))
	if gerr != nil {
		return c.errResp(gerr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.readUserLocked(c.segs[1], c.now)
	if !ok {
		return c.errResp(notFound(c.segs[1]))
	}
	if v.u.ManagerID == "" {
		return c.errResp(notFound("manager"))
	}
	mr := s.st.users[strings.ToLower(v.u.ManagerID)]
	if mr == nil {
		return c.errResp(notFound("manager"))
	}
	mv, ok := s.viewUserLocked(mr, c.now)
	if !ok {
		return c.errResp(notFound("manager"))
	}
	o := newObj(16).add("@odata.context", c.ctx("directoryObjects/$entity"))
	b := s.userJSON(mv, sel, true)
	o.keys = append(o.keys, b.keys...)
	o.vals = append(o.vals, b.vals...)
	return c.jsonResp(200, o)
}

func hManagerRefGet(s *Server, c *call) gresp {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.readUserLocked(c.segs[1], c.now)
	if !ok {
		return c.errResp(notFound(c.segs[1]))
	}
	if v.u.ManagerID == "" {
		return c.errResp(notFound("manager"))
	}
	return c.jsonResp(200, newObj(2).add("@odata.context", c.ctx("directoryObjects/$ref")).
		add("@odata.id", c.graphBase()+"/directoryObjects/"+v.u.ManagerID+"/Microsoft.DirectoryServices.User"))
}

func hManagerPut(s *Server, c *call) gresp {
	var body map[string]any
	if gerr := decodeJSONBody(c, &body); gerr != nil {
		return c.errResp(gerr)
	}
	ref, _ := body["@odata.id"].(string)
	if ref == "" {
		return c.errResp(badRequest("Request_BadRequest", "Invalid object identifier ''."))
	}
	mid := refID(ref)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.writeUserLocked(c.segs[1])
	if r == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	mr := s.st.lookupUser(mid)
	if mr == nil {
		return c.errResp(notFound(mid))
	}
	if mr.u.ID == r.u.ID {
		return c.errResp(badRequest("Request_BadRequest", "An object cannot be its own manager."))
	}
	// Graph rejects manager cycles.
	for cur, hops := mr, 0; cur != nil && cur.u.ManagerID != "" && hops < 10000; hops++ {
		if strings.EqualFold(cur.u.ManagerID, r.u.ID) {
			return c.errResp(badRequest("Request_BadRequest", "A circular reference was detected in the manager chain."))
		}
		cur = s.st.users[strings.ToLower(cur.u.ManagerID)]
	}
	if r.u.ManagerID != mr.u.ID {
		s.snapshotLocked(r, c.now)
		r.u.ManagerID = mr.u.ID
		r.exManager = ""
		s.st.touchUser(r)
	}
	c.writtenUser = r.u.ID
	return noContent()
}

func hManagerDelete(s *Server, c *call) gresp {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.writeUserLocked(c.segs[1])
	if r == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	if r.u.ManagerID == "" {
		return c.errResp(notFound("manager"))
	}
	s.snapshotLocked(r, c.now)
	r.exManager = r.u.ManagerID
	r.u.ManagerID = ""
	s.st.touchUser(r)
	c.writtenUser = r.u.ID
	return noContent()
}

func hRevoke(s *Server, c *call) gresp {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.writeUserLocked(c.segs[1])
	if r == nil {
		return c.errResp(notFound(c.segs[1]))
	}
	r.signInValidFrom = c.now.UTC().Truncate(time.Second)
	c.writtenUser = r.u.ID
	return c.jsonResp(200, newObj(2).add("@odata.context", c.ctx("Edm.Boolean")).add("value", true))
}

// orderedBefore is $orderby's comparison for every collection: properties
// in order, strings case-insensitively, timestamps by time, ties by id so
// that paging is stable.
func orderedBefore(order []orderSpec, a, b string, prop func(id, p string) any) bool {
	for _, o := range order {
		x, y := prop(a, o.prop), prop(b, o.prop)
		var cmp int
		if tx, ok := x.(time.Time); ok {
			ty, _ := y.(time.Time)
			cmp = tx.Compare(ty)
		} else {
			xs, _ := x.(string)
			ys, _ := y.(string)
			cmp = strings.Compare(strings.ToLower(xs), strings.ToLower(ys))
		}
		if cmp != 0 {
			return (cmp < 0) != o.desc
		}
	}
	return a < b
}
