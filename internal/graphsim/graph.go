package graphsim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const jsonCT = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// gerror is a Graph error answer.
type gerror struct {
	status  int
	code    string
	msg     string
	details []any
}

func badRequest(code, msg string) *gerror { return &gerror{status: 400, code: code, msg: msg} }

func notFound(id string) *gerror {
	return &gerror{status: 404, code: "Request_ResourceNotFound", msg: fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)}
}

// gresp is one Graph answer, top-level or inside $batch.
type gresp struct {
	status int
	hdr    http.Header
	body   []byte
	ctype  string
}

// call is one Graph request being executed (top-level or a batch item).
type call struct {
	method      string
	ver         string   // "v1.0" or "beta": the version segment the client used
	segs        []string // unescaped path segments after the version
	lsegs       []string // lower-cased segs
	rawQuery    string
	q           url.Values // keys lower-cased
	hdr         http.Header
	body        []byte
	claims      *tokenClaims
	base        string // scheme://host of the emulator as the client sees it
	reqID       string
	clientReqID string
	now         time.Time
	inBatch     bool
	tmpl        string
	writtenUser string // set by handlers that change a user, for UserWrites
	created     bool   // POST /users succeeded
	disabled    bool   // a PATCH set accountEnabled false, for UserDisables
}

func (c *call) graphBase() string {
	if c.ver == "beta" {
		return c.base + "/beta"
	}
	return c.base + "/v1.0"
}

func (c *call) ctx(suffix string) string { return c.graphBase() + "/$metadata#" + suffix }

func (c *call) eventual() bool {
	return strings.EqualFold(strings.TrimSpace(c.hdr.Get("ConsistencyLevel")), "eventual")
}

func (c *call) errResp(e *gerror) gresp {
	inner := map[string]any{
		"date":              c.now.UTC().Format("2006-01-02T15:04:05"),
		"request-id":        c.reqID,
		"client-request-id": c.clientReqID,
	}
	body := newObj(4).add("code", e.code).add("message", e.msg)
	if len(e.details) > 0 {
		body.add("details", e.details)
	}
	if e.status == 429 {
		// Graph's throttling answer carries extra innerError members.
		inner["code"] = "429"
		inner["status"] = "429"
		inner["message"] = "Please retry after"
	}
	body.add("innerError", inner)
	b, _ := json.Marshal(map[string]any{"error": body})
	return gresp{status: e.status, body: b, ctype: "application/json"}
}

func (c *call) jsonResp(status int, v any) gresp {
	var b []byte
	var err error
	if o, ok := v.(*jobj); ok {
		b, err = o.appendTo(make([]byte, 0, 4096))
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return c.errResp(&gerror{status: 500, code: "generalException", msg: "graphsim: " + err.Error()})
	}
	return gresp{status: status, body: b, ctype: jsonCT}
}

func noContent() gresp { return gresp{status: 204} }

type handlerFunc func(s *Server, c *call) gresp

// costKind classifies a request for resource-unit pricing (GRAPH.md table).
type costKind int

const (
	costRead       costKind = iota // any identity GET: 1
	costList                       // GET /users (collection): 2
	costMembers                    // GET /groups/{id}/members: 3
	costTransitive                 // transitiveMembers: 5
	costGetByIds                   // 5, or 2 with $select
	costWrite                      // 1 RU + 1 write
	costFree                       // $batch envelope
)

type route struct {
	tmpl  string
	h     handlerFunc
	perms func(c *call) [][]string
	cost  costKind
}

func denied() *gerror {
	return &gerror{status: 403, code: "Authorization_RequestDenied", msg: "Insufficient privileges to complete the operation."}
}

func hasPerms(roles []string, alts [][]string) bool {
	have := map[string]bool{}
	for _, r := range roles {
		have[strings.ToLower(r)] = true
	}
	for _, alt := range alts {
		ok := true
		for _, p := range alt {
			if !have[strings.ToLower(p)] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// resolve maps a request to its handler. It returns a *gerror for unknown
// segments (400, like Graph's "Resource not found for the segment") or
// methods (405).
func resolve(method string, ls []string) (route, *gerror) {
	n := len(ls)
	seg := func(i int) string {
		if i < n {
			return ls[i]
		}
		return ""
	}
	notAllowed := &gerror{status: 405, code: "Request_BadRequest", msg: "Specified HTTP method is not allowed for the request target."}
	pick := func(m map[string]route) (route, *gerror) {
		if r, ok := m[method]; ok {
			return r, nil
		}
		return route{}, notAllowed
	}
	if n == 0 {
		return route{}, badRequest("BadRequest", "Invalid request.")
	}
	switch seg(0) {
	case "$batch":
		if n == 1 {
			return pick(map[string]route{"POST": {tmpl: "/$batch", cost: costFree}})
		}
	case "me":
		return route{tmpl: "/me", h: hMe, perms: fixed(nil), cost: costRead}, nil
	case "organization":
		switch n {
		case 1:
			return pick(map[string]route{"GET": {tmpl: "/organization", h: hOrgList, perms: fixed(permReadOrg), cost: costRead}})
		case 2:
			return pick(map[string]route{"GET": {tmpl: "/organization/{id}", h: hOrgGet, perms: fixed(permReadOrg), cost: costRead}})
		}
	case "users":
		if n == 1 {
			return pick(map[string]route{
				"GET":  {tmpl: "/users", h: hUserList, perms: fixed(permReadUser), cost: costList},
				"POST": {tmpl: "/users", h: hUserCreate, perms: fixed(permWriteUser), cost: costWrite},
			})
		}
		if n == 2 && seg(1) == "$count" {
			return pick(map[string]route{"GET": {tmpl: "/users/$count", h: hUserCount, perms: fixed(permReadUser), cost: costRead}})
		}
		if n == 2 && (seg(1) == "delta()" || seg(1) == "delta" || seg(1) == "microsoft.graph.delta()" || seg(1) == "microsoft.graph.delta") {
			return pick(map[string]route{"GET": {tmpl: "/users/delta", h: hUserDelta, perms: fixed(permReadUser), cost: costRead}})
		}
		switch {
		case n == 2:
			return pick(map[string]route{
				"GET":    {tmpl: "/users/{id}", h: hUserGet, perms: fixed(permReadUser), cost: costRead},
				"PATCH":  {tmpl: "/users/{id}", h: hUserPatch, perms: patchPerms, cost: costWrite},
				"DELETE": {tmpl: "/users/{id}", h: hUserDelete, perms: fixed(permDeleteUser), cost: costWrite},
			})
		case n == 3 && seg(2) == "manager":
			return pick(map[string]route{"GET": {tmpl: "/users/{id}/manager", h: hManagerGet, perms: fixed(permReadUser), cost: costRead}})
		case n == 4 && seg(2) == "manager" && seg(3) == "$ref":
			return pick(map[string]route{
				"GET":    {tmpl: "/users/{id}/manager/$ref", h: hManagerRefGet, perms: fixed(permReadUser), cost: costRead},
				"PUT":    {tmpl: "/users/{id}/manager/$ref", h: hManagerPut, perms: fixed(permWriteUser), cost: costWrite},
				"DELETE": {tmpl: "/users/{id}/manager/$ref", h: hManagerDelete, perms: fixed(permWriteUser), cost: costWrite},
			})
		case n == 3 && (seg(2) == "revokesigninsessions" || seg(2) == "microsoft.graph.revokesigninsessions"):
			return pick(map[string]route{"POST": {tmpl: "/users/{id}/revokeSignInSessions", h: hRevoke, perms: fixed(permRevoke), cost: costWrite}})
		case n == 3 && (seg(2) == "sendmail" || seg(2) == "microsoft.graph.sendmail"):
			return pick(map[string]route{"POST": {tmpl: "/users/{id}/sendMail", h: hSendMail, perms: fixed(permMail), cost: costWrite}})
		case n == 3 && (seg(2) == "memberof" || seg(2) == "transitivememberof"):
			t := "/users/{id}/" + map[string]string{"memberof": "memberOf", "transitivememberof": "transitiveMemberOf"}[seg(2)]
			ck := costMembers
			if seg(2) == "transitivememberof" {
				ck = costTransitive
			}
			return pick(map[string]route{"GET": {tmpl: t, h: hUserMemberOf, perms: fixed(permMemberOf), cost: ck}})
		}
	case "groups":
		if n == 1 {
			return pick(map[string]route{"GET": {tmpl: "/groups", h: hGroupList, perms: fixed(permReadGroup), cost: costList}})
		}
		if n == 2 && seg(1) == "$count" {
			return pick(map[string]route{"GET": {tmpl: "/groups/$count", h: hGroupCount, perms: fixed(permReadGroup), cost: costRead}})
		}
		if n == 2 && (seg(1) == "delta()" || seg(1) == "delta" || seg(1) == "microsoft.graph.delta()" || seg(1) == "microsoft.graph.delta") {
			return pick(map[string]route{"GET": {tmpl: "/groups/delta", h: hGroupDelta, perms: fixed(permReadGroup), cost: costRead}})
		}
		if n == 2 {
			return pick(map[string]route{
				"GET":    {tmpl: "/groups/{id}", h: hGroupGet, perms: fixed(permReadGroup), cost: costRead},
				"DELETE": {tmpl: "/groups/{id}", h: hGroupDelete, perms: fixed(permWriteGrp), cost: costWrite},
			})
		}
		if n >= 3 && (seg(2) == "members" || seg(2) == "transitivemembers") {
			name := map[string]string{"members": "members", "transitivemembers": "transitiveMembers"}[seg(2)]
			ck := costMembers
			if name == "transitiveMembers" {
				ck = costTransitive
			}
			rest := ls[3:]
			t := "/groups/{id}/" + name
			switch {
			case len(rest) == 0:
				return pick(map[string]route{"GET": {tmpl: t, h: hMembers, perms: fixed(permReadGroup), cost: ck}})
			case len(rest) == 1 && rest[0] == "$count":
				return pick(map[string]route{"GET": {tmpl: t + "/$count", h: hMembers, perms: fixed(permReadGroup), cost: costRead}})
			case len(rest) == 1 && (rest[0] == "microsoft.graph.user" || rest[0] == "microsoft.graph.group"):
				return pick(map[string]route{"GET": {tmpl: t + "/" + rest[0], h: hMembers, perms: fixed(permReadGroup), cost: ck}})
			case len(rest) == 2 && (rest[0] == "microsoft.graph.user" || rest[0] == "microsoft.graph.group") && rest[1] == "$count":
				return pick(map[string]route{"GET": {tmpl: t + "/" + rest[0] + "/$count", h: hMembers, perms: fixed(permReadGroup), cost: costRead}})
			case len(rest) == 1 && rest[0] == "$ref" && name == "members":
				return pick(map[string]route{"POST": {tmpl: t + "/$ref", h: hMemberAdd, perms: fixed(permMembers), cost: costWrite}})
			case len(rest) == 2 && rest[1] == "$ref" && name == "members":
				return pick(map[string]route{"DELETE": {tmpl: t + "/{id}/$ref", h: hMemberRemove, perms: fixed(permMembers), cost: costWrite}})
			}
		}
	case "directoryobjects":
		if n == 2 && (seg(1) == "getbyids" || seg(1) == "microsoft.graph.getbyids") {
			return pick(map[string]route{"POST": {tmpl: "/directoryObjects/getByIds", h: hGetByIDs, perms: fixed(permDirObjects), cost: costGetByIds}})
		}
		if n == 2 {
			return pick(map[string]route{"GET": {tmpl: "/directoryObjects/{id}", h: hDirObjectGet, perms: fixed(permDirObjects), cost: costRead}})
		}
	case "directory":
		if n >= 2 && seg(1) == "deleteditems" {
			switch {
			case n == 3 && (seg(2) == "microsoft.graph.user" || seg(2) == "microsoft.graph.group"):
				p := permReadUser
				if seg(2) == "microsoft.graph.group" {
					p = permReadGroup
				}
				return pick(map[string]route{"GET": {tmpl: "/directory/deletedItems/" + seg(2), h: hDeletedList, perms: fixed(p), cost: costRead}})
			case n == 3:
				return pick(map[string]route{
					"GET":    {tmpl: "/directory/deletedItems/{id}", h: hDeletedGet, perms: fixed(permReadDeleted), cost: costRead},
					"DELETE": {tmpl: "/directory/deletedItems/{id}", h: hDeletedPurge, perms: fixed(permRestore), cost: costWrite},
				})
			case n == 4 && (seg(3) == "restore" || seg(3) == "microsoft.graph.restore"):
				return pick(map[string]route{"POST": {tmpl: "/directory/deletedItems/{id}/restore", h: hRestore, perms: fixed(permRestore), cost: costWrite}})
			}
		}
	}
	bad := ls[0]
	if n > 1 {
		bad = ls[n-1]
	}
	return route{}, badRequest("BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", bad))
}

// templateOf names a request for the ByEndpoint counter.
func templateOf(method string, ls []string) string {
	r, err := resolve(method, ls)
	if err != nil {
		return method + " (unknown)"
	}
	return method + " " + r.tmpl
}

func splitPath(escaped string) ([]string, []string, error) {
	escaped = strings.Trim(escaped, "/")
	if escaped == "" {
		return nil, nil, nil
	}
	raw := strings.Split(escaped, "/")
	segs := make([]string, 0, len(raw))
	lsegs := make([]string, 0, len(raw))
	for _, r := range raw {
		u, err := url.PathUnescape(r)
		if err != nil {
			return nil, nil, err
		}
		segs = append(segs, u)
		l := strings.ToLower(u)
		// The SDK writes type casts as "graph.user"; Graph accepts that
		// alias of "microsoft.graph.user".
		if strings.HasPrefix(l, "graph.") {
			l = "microsoft." + l
		}
		lsegs = append(lsegs, l)
	}
	return segs, lsegs, nil
}

var knownOptions = map[string]bool{"$select": true, "$filter": true, "$top": true, "$skip": true, "$count": true,
	"$expand": true, "$orderby": true, "$search": true, "$skiptoken": true, "$deltatoken": true, "$format": true}

// serveGraph is the top-level /v1.0 (and /beta) entry: request ids,
// realism switches, body decoding, authentication, then $batch or a single
// call. /beta serves the same paths with the same semantics: third-party
// clients (Terraform's azuread provider reads GET /beta/users/{id}) run
// unmodified; beta-only behaviour is not modelled.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, ver string) {
	reqID := randomRequestID()
	crid := r.Header.Get("client-request-id")
	if crid == "" {
		crid = reqID
	}
	s.mu.Lock()
	s.cnt.requests++
	if ver == "beta" {
		s.cnt.betaRequests++
	}
	now := s.nowLocked()
	lat := s.opts.Latency
	if s.opts.LatencyJitter > 0 {
		lat += time.Duration(s.rng.Int64N(int64(s.opts.LatencyJitter)))
	}
	drop := s.opts.DropRate > 0 && s.rng.Float64() < s.opts.DropRate
	if drop {
		s.cnt.dropped++
	}
	s.mu.Unlock()
	if lat > 0 {
		time.Sleep(lat)
	}
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2 or recorder: abort the stream
	}
	h := w.Header()
	h.Set("request-id", reqID)
	h.Set("client-request-id", crid)
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	h.Set("Cache-Control", "no-cache")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"graphsim","Slice":"E","Ring":"1","ScaleUnit":"000","RoleInstance":"graphsim"}}`)

	c := &call{method: r.Method, ver: ver, hdr: r.Header, base: s.baseURL(r), reqID: reqID, clientReqID: crid, now: now}
	segs, lsegs, perr := splitPath(strings.TrimPrefix(r.URL.EscapedPath(), "/"+ver))
	c.segs, c.lsegs = segs, lsegs
	c.rawQuery = r.URL.RawQuery
	finish := func(resp gresp) {
		if s.answerLost(r, resp.status) {
			abortAnswer(w)
			return
		}
		s.writeResp(w, resp)
	}
	if perr != nil {
		resp := c.errResp(badRequest("BadRequest", "Invalid request URI."))
		s.count(c.method+" (unknown)", resp.status, false)
		finish(resp)
		return
	}
	body, err := readBody(r)
	if err != nil {
		resp := c.errResp(&gerror{status: 415, code: "BadRequest", msg: err.Error()})
		s.count(templateOf(c.method, lsegs), resp.status, false)
		finish(resp)
		return
	}
	c.body = body
	// Authentication comes first: Graph answers 401 before looking at the URL.
	auth := r.Header.Get("Authorization")
	var claims *tokenClaims
	var why string
	if tok, ok := strings.CutPrefix(auth, "Bearer "); !ok || strings.TrimSpace(tok) == "" {
		why = "Access token is empty."
	} else {
		claims, why = s.verifyToken(strings.TrimSpace(tok), now)
	}
	if claims == nil {
		resp := c.errResp(&gerror{status: 401, code: "InvalidAuthenticationToken", msg: why})
		resp.hdr = http.Header{"Www-Authenticate": {`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`}}
		s.count(templateOf(c.method, lsegs), resp.status, false)
		finish(resp)
		return
	}
	c.claims = claims
	if len(lsegs) == 1 && lsegs[0] == "$batch" {
		if r.Method != http.MethodPost {
			resp := c.errResp(&gerror{status: 405, code: "Request_BadRequest", msg: "Specified HTTP method is not allowed for the request target."})
			s.count("POST /$batch", resp.status, false)
			finish(resp)
			return
		}
		resp := s.serveBatch(c)
		s.count("POST /$batch", resp.status, false)
		finish(resp)
		return
	}
	finish(s.exec(c))
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	var rd io.Reader = io.LimitReader(r.Body, 16<<20)
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))) {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("request body is not valid gzip: %v", err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", r.Header.Get("Content-Encoding"))
	}
	return io.ReadAll(rd)
}

func (s *Server) writeResp(w http.ResponseWriter, resp gresp) {
	h := w.Header()
	for k, vs := range resp.hdr {
		h[k] = vs
	}
	if resp.body != nil {
		ct := resp.ctype
		if ct == "" {
			ct = jsonCT
		}
		h.Set("Content-Type", ct)
		if strings.HasPrefix(ct, "application/json;odata") {
			h.Set("OData-Version", "4.0")
		}
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	}
	w.WriteHeader(resp.status)
	if resp.body != nil {
		_, _ = w.Write(resp.body)
	}
}

// exec runs one Graph call: routing, query validation, permission check,
// failure injection, throttling, the handler, counters.
func (s *Server) exec(c *call) gresp {
	rt, gerr := resolve(c.method, c.lsegs)
	tmpl := c.method + " (unknown)"
	if gerr == nil {
		tmpl = c.method + " " + rt.tmpl
	}
	c.tmpl = tmpl
	ruHdr := ""
	done := func(resp gresp) gresp {
		// Every answer names its resource-unit cost, rejected ones included.
		if ruHdr != "" {
			if resp.hdr == nil {
				resp.hdr = http.Header{}
			}
			if resp.hdr.Get("x-ms-resource-unit") == "" {
				resp.hdr.Set("x-ms-resource-unit", ruHdr)
			}
		}
		s.count(tmpl, resp.status, c.inBatch)
		return resp
	}
	if gerr != nil {
		return done(c.errResp(gerr))
	}
	q, err := parseQuery(c.rawQuery)
	if err != nil {
		return done(c.errResp(badRequest("BadRequest", "Invalid query string: "+err.Error())))
	}
	c.q = q
	if ru, _ := s.costOf(rt, c); rt.cost != costFree {
		ruHdr = strconv.Itoa(ru)
	}
	for k := range q {
		if strings.HasPrefix(k, "$") && !knownOptions[k] {
			return done(c.errResp(badRequest("BadRequest", fmt.Sprintf("The query parameter '%s' is not supported.", k))))
		}
	}
	if _, ok := q["$skip"]; ok {
		return done(c.errResp(badRequest("Request_UnsupportedQuery", "The query specified in the URI is not valid. Query option 'Skip' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.")))
	}
	if alts := rt.perms(c); alts != nil && !hasPerms(c.claims.Roles, alts) {
		return done(c.errResp(denied()))
	}
	if c.method == "GET" || rt.cost == costGetByIds {
		for _, alts := range propertyPerms(c) {
			if !hasPerms(c.claims.Roles, alts) {
				return done(c.errResp(denied()))
			}
		}
	}
	ru, writes := s.costOf(rt, c)

	s.mu.Lock()
	fail := 0
	if s.failureRate > 0 && s.rng.Float64() < s.failureRate {
		fail = 503
		if s.rng.IntN(2) == 0 {
			fail = 504
		}
	}
	applyAnyway := fail == 504 && writes > 0 && s.rng.IntN(2) == 0
	var tr throttleResult
	if fail == 0 || applyAnyway {
		tr = s.chargeLocked(c.claims.AppID, ru, writes, rt.cost == costList && signInQuery(c), c.now)
	} else {
		tr = throttleResult{ok: true}
	}
	if !tr.ok {
		s.cnt.throttled++
		kind, _, _ := strings.Cut(tr.scope, "/")
		s.cnt.throttledBy[tr.info+" "+kind]++
	} else if fail == 0 || applyAnyway {
		s.cnt.ru += int64(ru)
		s.cnt.writes += int64(writes)
	}
	if !tr.ok || fail == 0 || applyAnyway {
		s.opts.AppBudgets.record(c.claims.AppID, ru, writes, tr)
	}
	ra := s.opts.FailureRetryAfter
	s.mu.Unlock()

	hdr := http.Header{}
	hdr.Set("x-ms-resource-unit", strconv.Itoa(ru))
	if tr.percent > 0.8 {
		hdr.Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(min(tr.percent, 1.8), 'f', 2, 64))
	}
	if !tr.ok {
		resp := c.errResp(&gerror{status: 429, code: "TooManyRequests", msg: "Please retry again later."})
		hdr.Set("Retry-After", formatRetryAfter(tr.retryAfter))
		hdr.Set("x-ms-throttle-scope", tr.scope)
		hdr.Set("x-ms-throttle-information", tr.info)
		resp.hdr = hdr
		return done(resp)
	}
	if fail != 0 {
		// A gateway timeout may hide a write that did happen: half of the
		// injected 504s on writes apply the write first, so clients learn to
		// reconcile instead of blindly retrying creates.
		if applyAnyway {
			_ = s.runHandler(rt, c)
		}
		msg := "The service is temporarily unavailable. Please retry."
		if fail == 504 {
			msg = "The operation has timed out."
		}
		resp := c.errResp(&gerror{status: fail, code: "generalException", msg: msg})
		if ra > 0 {
			hdr.Set("Retry-After", formatRetryAfter(ra.Seconds()/s.opts.TimeScale))
		}
		resp.hdr = hdr
		return done(resp)
	}
	resp := s.runHandler(rt, c)
	if resp.hdr == nil {
		resp.hdr = http.Header{}
	}
	for k, v := range hdr {
		resp.hdr[k] = v
	}
	return done(resp)
}

func (s *Server) runHandler(rt route, c *call) gresp {
	resp := rt.h(s, c)
	if resp.status >= 200 && resp.status < 300 {
		s.mu.Lock()
		if c.writtenUser != "" {
			s.cnt.userWrites[c.writtenUser]++
			if c.disabled {
				s.cnt.userDisables[c.writtenUser]++
			}
		}
		if c.created {
			s.cnt.posts++
		}
		s.mu.Unlock()
	}
	return resp
}

// costOf prices a request per GRAPH.md: base cost by request type, then
// $select -1, $expand +1, $top < 20 -1, never below 1; writes cost 1 RU and
// 1 write whatever the modifiers.
func (s *Server) costOf(rt route, c *call) (ru, writes int) {
	switch rt.cost {
	case costFree:
		return 0, 0
	case costWrite:
		return 1, 1
	case costGetByIds:
		if c.q.Get("$select") != "" {
			return 2, 0
		}
		return 5, 0
	}
	base := map[costKind]int{costRead: 1, costList: 2, costMembers: 3, costTransitive: 5}[rt.cost]
	if c.q.Get("$select") != "" {
		base--
	}
	if c.q.Get("$expand") != "" {
		base++
	}
	if t := c.q.Get("$top"); t != "" {
		if n, err := strconv.Atoi(t); err == nil && n < 20 {
			base--
		}
	}
	if base < 1 {
		base = 1
	}
	return base, 0
}

func decodeJSONBody(c *call, v any) *gerror {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return badRequest("BadRequest", "Empty Payload. JSON content expected.")
	}
	d := json.NewDecoder(bytes.NewReader(c.body))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return badRequest("BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	return nil
}

func hMe(s *Server, c *call) gresp {
	return c.errResp(badRequest("BadRequest", "/me request is only valid with delegated authentication flow."))
}
