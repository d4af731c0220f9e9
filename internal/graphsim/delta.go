package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// deltaState is what delta skip/delta tokens carry. Tokens are opaque to
// clients (base64url JSON); they hold the query so follow-up links carry no
// other parameters, like Graph's.
type deltaState struct {
	Kind   string `json:"k"`             // "u" users, "g" groups
	Phase  string `json:"p"`             // "i" initial scan, "c" changes, "d" deltaLink
	Seq    uint64 `json:"s"`             // changes after this sequence number
	Last   string `json:"l,omitempty"`   // initial scan cursor (last id)
	Pos    int    `json:"o,omitempty"`   // change-log cursor
	MemOff int    `json:"m,omitempty"`   // member chunk offset within group Last
	Sel    string `json:"sel,omitempty"` // $select
	Exp    string `json:"exp,omitempty"` // $expand
	Filter string `json:"f,omitempty"`   // $filter (groups: id eq ...)
	Issued int64  `json:"t"`
}

func encodeDelta(st deltaState) string {
	b, _ := json.Marshal(st)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeDelta(tok string) (deltaState, bool) {
	var st deltaState
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || json.Unmarshal(b, &st) != nil || st.Kind == "" {
		return st, false
	}
	return st, true
}

// memberChunk is how many members@delta entries one group object carries;
// larger groups are spread over several pages with the group repeated, as
// Graph does, so clients must merge them.
const memberChunk = 1000

func deltaPageSize(c *call) int {
	// Prefer: odata.maxpagesize=N is Graph's page-size control for delta.
	for _, p := range strings.Split(c.hdr.Get("Prefer"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "odata.maxpagesize="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return min(n, 999)
			}
		}
	}
	return 100
}

func (s *Server) deltaStart(c *call, kind string) (deltaState, *gerror) {
	if tok := c.q.Get("$deltatoken"); tok != "" {
		if tok == "latest" {
			return deltaState{Kind: kind, Phase: "latest", Sel: c.q.Get("$select"), Exp: c.q.Get("$expand"), Filter: c.q.Get("$filter")}, nil
		}
		st, ok := decodeDelta(tok)
		if !ok || st.Kind != kind || st.Phase != "d" {
			return st, badRequest("Request_BadRequest", "Badly formed token.")
		}
		st.Phase = "c"
		st.Pos = -1
		return st, s.checkTTL(st, c.now)
	}
	if tok := c.q.Get("$skiptoken"); tok != "" {
		st, ok := decodeDelta(tok)
		if !ok || st.Kind != kind || (st.Phase != "i" && st.Phase != "c") {
			return st, badRequest("Request_BadRequest", "Badly formed token.")
		}
		return st, s.checkTTL(st, c.now)
	}
	s.mu.Lock()
	seq := s.st.seq
	s.mu.Unlock()
	return deltaState{Kind: kind, Phase: "i", Seq: seq, Sel: c.q.Get("$select"), Exp: c.q.Get("$expand"), Filter: c.q.Get("$filter"), Issued: c.now.Unix()}, nil
}

// checkTTL expires tokens older than DeltaTokenTTL. We answer 410 Gone
// with code syncStateNotFound (Graph's directory delta documents
// syncStateNotFound/resyncRequired; clients must restart with a full sync).
func (s *Server) checkTTL(st deltaState, now time.Time) *gerror {
	s.mu.Lock()
	ttl := s.deltaTTL
	s.mu.Unlock()
	if ttl > 0 && now.Sub(time.Unix(st.Issued, 0)) > ttl {
		return &gerror{status: http.StatusGone, code: "syncStateNotFound", msg: "The sync state generation is not found. The delta token is expired; restart the sync without a token."}
	}
	return nil
}

func deltaLinks(c *call, path string, out *jobj, next *deltaState, done *deltaState) {
	if next != nil {
		out.add("@odata.nextLink", c.graphBase()+path+"?$skiptoken="+encodeDelta(*next))
	}
	if done != nil {
		out.add("@odata.deltaLink", c.graphBase()+path+"?$deltatoken="+encodeDelta(*done))
	}
}

// firstLogIndex finds the first log entry with seq > after.
func firstLogIndex(log []logEntry, after uint64) int {
	return sort.Search(len(log), func(i int) bool { return log[i].seq > after })
}

func hUserDelta(s *Server, c *call) gresp {
	st, gerr := s.deltaStart(c, "u")
	if gerr != nil {
		return c.errResp(gerr)
	}
	sel, gerr := parseSelect(userSchema, st.Sel)
	if gerr != nil {
		return c.errResp(gerr)
	}
	exp, gerr := parseExpand(st.Exp)
	if gerr != nil {
		return c.errResp(gerr)
	}
	withManager := false
	for _, e := range exp {
		if !strings.EqualFold(e.nav, "manager") {
			return c.errResp(badRequest("Request_UnsupportedQuery", "Delta supports $expand only on manager for users."))
		}
		withManager = true
	}
	keep, gerr := deltaIDFilter(st.Filter, "User")
	if gerr != nil {
		return c.errResp(gerr)
	}
	props := deltaProps(sel, userSchema.defaults)
	size := deltaPageSize(c)
	path := "/users/delta"
	ctx := c.ctx("users" + selectSuffix(sel))
	out := newObj(4).add("@odata.context", ctx)
	vals := []any{}
	s.mu.Lock()
	defer s.mu.Unlock()
	render := func(r *userRec) any {
		v := userView{u: &r.u, extra: r.extra, rec: r}
		o := s.userJSON(v, props, false)
		if withManager {
			switch {
			case r.u.ManagerID != "":
				o.add("manager@delta", []any{newObj(2).add("@odata.type", "#microsoft.graph.user").add("id", r.u.ManagerID)})
			case r.exManager != "" && st.Phase == "c":
				o.add("manager@delta", []any{newObj(3).add("@odata.type", "#microsoft.graph.user").add("id", r.exManager).
					add("@removed", map[string]string{"reason": "deleted"})})
			}
		}
		return o
	}
	switch st.Phase {
	case "latest":
		done := deltaState{Kind: "u", Phase: "d", Seq: s.st.seq, Sel: st.Sel, Exp: st.Exp, Filter: st.Filter, Issued: c.now.Unix()}
		out.add("value", vals)
		deltaLinks(c, path, out, nil, &done)
		return c.jsonResp(200, out)
	case "i":
		ids := s.st.liveUserIDs()
		i := 0
		if st.Last != "" {
			i = sort.SearchStrings(ids, st.Last)
			if i < len(ids) && ids[i] == st.Last {
				i++
			}
		}
		for ; i < len(ids) && len(vals) < size; i++ {
			if keep(ids[i]) {
				vals = append(vals, render(s.st.users[ids[i]]))
			}
		}
		out.add("value", vals)
		if i < len(ids) {
			nx := st
			nx.Last = ids[i-1]
			deltaLinks(c, path, out, &nx, nil)
		} else {
			done := deltaState{Kind: "u", Phase: "d", Seq: st.Seq, Sel: st.Sel, Exp: st.Exp, Filter: st.Filter, Issued: c.now.Unix()}
			deltaLinks(c, path, out, nil, &done)
		}
		return c.jsonResp(200, out)
	}
	// Changes since st.Seq: walk the change log; each object is reported
	// once, at its latest change, so the walk always terminates at the log's
	// end and the new delta token is that end.
	s.purgeExpiredLocked(c.now)
	log := s.st.uLog
	pos := st.Pos
	if pos < 0 {
		pos = firstLogIndex(log, st.Seq)
	}
	for ; pos < len(log) && len(vals) < size; pos++ {
		e := log[pos]
		r := s.st.users[e.id]
		if r == nil || r.seq != e.seq || !keep(e.id) {
			continue
		}
		switch {
		case r.purged:
			vals = append(vals, newObj(2).add("id", r.u.ID).add("@removed", map[string]string{"reason": "deleted"}))
		case r.deleted:
			vals = append(vals, newObj(2).add("id", r.u.ID).add("@removed", map[string]string{"reason": "changed"}))
		default:
			vals = append(vals, render(r))
		}
	}
	out.add("value", vals)
	if pos < len(log) {
		nx := st
		nx.Phase = "c"
		nx.Pos = pos
		deltaLinks(c, path, out, &nx, nil)
	} else {
		done := deltaState{Kind: "u", Phase: "d", Seq: s.st.seq, Sel: st.Sel, Exp: st.Exp, Filter: st.Filter, Issued: c.now.Unix()}
		deltaLinks(c, path, out, nil, &done)
	}
	return c.jsonResp(200, out)
}

// deltaIDFilter supports what Graph supports on delta: id eq '...'
// clauses joined by or (users and groups).
func deltaIDFilter(raw, resource string) (func(id string) bool, *gerror) {
	if raw == "" {
		return func(string) bool { return true }, nil
	}
	idOnly := newSchema("microsoft.graph."+strings.ToLower(resource), resource, []propDef{{"id", pString, true}}, nil)
	fn, _, _, gerr := parseFilter(idOnly, raw)
	if gerr != nil {
		return nil, badRequest("Request_UnsupportedQuery", "Delta supports $filter only on id (id eq '...' joined by or).")
	}
	return func(id string) bool { return fn(func(string) any { return id }) }, nil
}

func hGroupDelta(s *Server, c *call) gresp {
	st, gerr := s.deltaStart(c, "g")
	if gerr != nil {
		return c.errResp(gerr)
	}
	var sel []string
	withMembers := true
	if st.Sel != "" {
		withMembers = false
		var rest []string
		for _, p := range strings.Split(st.Sel, ",") {
			p = strings.TrimSpace(p)
			if strings.EqualFold(p, "members") {
				withMembers = true
				continue
			}
			rest = append(rest, p)
		}
		if sel, gerr = parseSelect(groupSchema, strings.Join(rest, ",")); gerr != nil {
			return c.errResp(gerr)
		}
		if sel == nil {
			sel = []string{}
		}
	}
	if st.Exp != "" && !strings.EqualFold(strings.TrimSpace(st.Exp), "members") {
		return c.errResp(badRequest("Request_UnsupportedQuery", "Delta supports $expand only on members for groups."))
	}
	keep, gerr := deltaIDFilter(st.Filter, "Group")
	if gerr != nil {
		return c.errResp(gerr)
	}
	props := deltaProps(sel, groupSchema.defaults)
	size := deltaPageSize(c)
	path := "/groups/delta"
	out := newObj(4).add("@odata.context", c.ctx("groups"+selectSuffix(sel)))
	vals := []any{}
	s.mu.Lock()
	defer s.mu.Unlock()
	memberRef := func(id string, removed bool) *jobj {
		t := "#microsoft.graph.user"
		if _, ok := s.st.groups[id]; ok {
			t = "#microsoft.graph.group"
		}
		o := newObj(3).add("@odata.type", t).add("id", id)
		if removed {
			o.add("@removed", map[string]string{"reason": "deleted"})
		}
		return o
	}
	// renderGroup emits a group with a chunk of member changes starting at
	// off; it returns the next offset (0 when the group is complete).
	renderGroup := func(g *groupRec, since uint64, initial bool, off int) (*jobj, int) {
		o := groupJSON(g, props, false)
		if !withMembers {
			return o, 0
		}
		var refs []*jobj
		if initial {
			for _, m := range g.sortedMembers() {
				refs = append(refs, memberRef(m, false))
			}
		} else {
			i := sort.Search(len(g.memberLog), func(i int) bool { return g.memberLog[i].seq > since })
			final := map[string]bool{}
			var order []string
			for _, ev := range g.memberLog[i:] {
				if _, seen := final[ev.id]; !seen {
					order = append(order, ev.id)
				}
				final[ev.id] = ev.added
			}
			sort.Strings(order)
			for _, id := range order {
				_, in := g.memberSet[id]
				refs = append(refs, memberRef(id, !in))
			}
		}
		if len(refs) == 0 {
			return o, 0
		}
		end := min(off+memberChunk, len(refs))
		chunk := make([]any, 0, end-off)
		for _, r := range refs[off:end] {
			chunk = append(chunk, r)
		}
		o.add("members@delta", chunk)
		if end < len(refs) {
			return o, end
		}
		return o, 0
	}
	switch st.Phase {
	case "latest":
		done := deltaState{Kind: "g", Phase: "d", Seq: s.st.seq, Sel: st.Sel, Exp: st.Exp, Filter: st.Filter, Issued: c.now.Unix()}
		out.add("value", vals)
		deltaLinks(c, path, out, nil, &done)
		return c.jsonResp(200, out)
	case "i":
		ids := s.st.liveGroupIDs()
		i := 0
		off := 0
		if st.Last != "" {
			i = sort.SearchStrings(ids, st.Last)
			if st.MemOff > 0 && i < len(ids) && ids[i] == st.Last {
				off = st.MemOff
			} else if i < len(ids) && ids[i] == st.Last {
				i++
			}
		}
		var nx *deltaState
		for ; i < len(ids) && len(vals) < size; i++ {
			if !keep(ids[i]) {
				continue
			}
			o, more := renderGroup(s.st.groups[ids[i]], 0, true, off)
			off = 0
			vals = append(vals, o)
			if more > 0 {
				n := st
				n.Last, n.MemOff = ids[i], more
				nx = &n
				break
			}
		}
		if nx == nil && i < len(ids) {
			n := st
			n.Last, n.MemOff = ids[i-1], 0
			nx = &n
		}
		out.add("value", vals)
		if nx != nil {
			deltaLinks(c, path, out, nx, nil)
		} else {
			done := deltaState{Kind: "g", Phase: "d", Seq: st.Seq, Sel: st.Sel, Exp: st.Exp, Filter: st.Filter, Issued: c.now.Unix()}
			deltaLinks(c, path, out, nil, &done)
		}
		return c.jsonResp(200, out)
	}
	s.purgeExpiredLocked(c.now)
	log := s.st.gLog
	pos := st.Pos
	if pos < 0 {
		pos = firstLogIndex(log, st.Seq)
	}
	off := st.MemOff
	var nx *deltaState
	for ; pos < len(log) && len(vals) < size; pos++ {
		e := log[pos]
		if !keep(e.id) {
			continue
		}
		if ps, ok := s.st.purgedGroups[e.id]; ok {
			if ps == e.seq {
				vals = append(vals, newObj(2).add("id", e.id).add("@removed", map[string]string{"reason": "deleted"}))
			}
			continue
		}
		g := s.st.groups[e.id]
		if g == nil || g.seq != e.seq {
			continue
		}
		if g.deleted {
			vals = append(vals, newObj(2).add("id", e.id).add("@removed", map[string]string{"reason": "changed"}))
			continue
		}
		o, more := renderGroup(g, st.Seq, false, off)
		off = 0
		vals = append(vals, o)
		if more > 0 {
			n := st
			n.Phase, n.Pos, n.MemOff = "c", pos, more
			nx = &n
			break
		}
	}
	out.add("value", vals)
	if nx == nil && pos < len(log) {
		n := st
		n.Phase, n.Pos, n.MemOff = "c", pos, 0
		nx = &n
	}
	if nx != nil {
		deltaLinks(c, path, out, nx, nil)
	} else {
		done := deltaState{Kind: "g", Phase: "d", Seq: s.st.seq, Sel: st.Sel, Exp: st.Exp, Filter: st.Filter, Issued: c.now.Unix()}
		deltaLinks(c, path, out, nil, &done)
	}
	return c.jsonResp(200, out)
}

// deltaProps is what a delta page returns of each object: the selected
// properties (or the defaults), and always the id, as Graph's delta does.
func deltaProps(sel, defaults []string) []string {
	props := sel
	if props == nil {
		props = defaults
	}
	if slices.Contains(props, "id") {
		return props
	}
	return append(append([]string{}, props...), "id")
}
