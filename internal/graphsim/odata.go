package graphsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// propKind is the JSON/EDM shape of a schema property.
type propKind int

const (
	pString propKind = iota
	pBool
	pStrings // collection of strings
	pDate
	pObject
	pObjects // collection of complex values
	pInt
)

type propDef struct {
	name string
	kind propKind
	// filter: which $filter operators Graph supports on it by default ("" = not filterable).
	filterable bool
}

type schema struct {
	typeName string // "microsoft.graph.user"
	resource string // "User" in error messages
	props    []propDef
	byLower  map[string]*propDef
	defaults []string // projection without $select
}

func newSchema(typeName, resource string, props []propDef, defaults []string) *schema {
	s := &schema{typeName: typeName, resource: resource, props: props, byLower: map[string]*propDef{}, defaults: defaults}
	for i := range s.props {
		s.byLower[strings.ToLower(s.props[i].name)] = &s.props[i]
	}
	return s
}

func (s *schema) prop(name string) *propDef { return s.byLower[strings.ToLower(name)] }

// --- $select -------------------------------------------------------------

// parseSelect validates and canonicalises $select. Graph returns only the
// selected properties (no implicit id, except in delta answers).
func parseSelect(sc *schema, raw string) ([]string, *gerror) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var out []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if p == "*" {
			for _, d := range sc.props {
				out = append(out, d.name)
			}
			continue
		}
		d := sc.prop(p)
		if d == nil && extensionProp.MatchString(p) {
			out = append(out, p) // served when set, omitted otherwise
			continue
		}
		if d == nil {
			return nil, badRequest("BadRequest", fmt.Sprintf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type '%s'.", p, sc.typeName))
		}
		out = append(out, d.name)
	}
	return out, nil
}

// --- $expand -------------------------------------------------------------

type expandSpec struct {
	nav     string
	select_ string
	levels  int // $levels: 0 = not given (1 level), -1 = max
}

// maxLevels bounds $levels=max (Graph documents max or 1..1000).
const maxLevels = 1000

// parseExpand parses $expand: comma-separated navigation properties, each
// with optional nested options in parentheses separated by ';'
// (manager($levels=max;$select=id,displayName)).
func parseExpand(raw string) ([]expandSpec, *gerror) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	if strings.Count(raw, "(") != strings.Count(raw, ")") {
		return nil, badRequest("BadRequest", "Parsing OData Select and Expand failed: unbalanced parentheses in $expand.")
	}
	var out []expandSpec
	for _, item := range splitTopLevel(raw, ',') {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, inner, hasOpts := strings.Cut(item, "(")
		es := expandSpec{nav: strings.TrimSpace(name)}
		if hasOpts {
			if !strings.HasSuffix(inner, ")") {
				return nil, badRequest("BadRequest", "Parsing OData Select and Expand failed: unbalanced parentheses in $expand.")
			}
			inner = inner[:len(inner)-1]
		}
		for _, opt := range splitTopLevel(inner, ';') {
			if gerr := es.option(strings.TrimSpace(opt)); gerr != nil {
				return nil, gerr
			}
		}
		out = append(out, es)
	}
	return out, nil
}

func (es *expandSpec) option(opt string) *gerror {
	if opt == "" {
		return nil
	}
	k, v, _ := strings.Cut(opt, "=")
	k = strings.ToLower(strings.TrimSpace(k))
	v = strings.TrimSpace(v)
	switch strings.TrimPrefix(k, "$") {
	case "select":
		es.select_ = v
	case "levels":
		if strings.EqualFold(v, "max") {
			es.levels = -1
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLevels {
			return badRequest("BadRequest", "Parsing OData Select and Expand failed: the $levels value '"+v+"' is not valid: use max or a number between 1 and 1000.")
		}
		es.levels = n
	default:
		return badRequest("BadRequest", "Parsing OData Select and Expand failed: query option '"+k+"' is not supported inside $expand.")
	}
	return nil
}

// --- $orderby ------------------------------------------------------------

type orderSpec struct {
	prop string
	desc bool
}

func parseOrderBy(sc *schema, raw string) ([]orderSpec, *gerror) {
	var out []orderSpec
	for _, p := range strings.Split(raw, ",") {
		f := strings.Fields(p)
		if len(f) == 0 {
			continue
		}
		d := sc.prop(f[0])
		if d == nil {
			return nil, badRequest("BadRequest", fmt.Sprintf("Could not find a property named '%s' on type '%s'.", f[0], sc.typeName))
		}
		o := orderSpec{prop: d.name}
		if len(f) > 1 {
			switch strings.ToLower(f[1]) {
			case "desc":
				o.desc = true
			case "asc":
			default:
				return nil, badRequest("BadRequest", "Syntax error in $orderby.")
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// --- $filter -------------------------------------------------------------

// getter returns a property value: string, bool, []string, nil, time.Time or int.
type getter func(prop string) any

type filterFn func(getter) bool

type ftoken struct {
	kind byte // 'i' ident, 's' string, 'n' number/guid/date literal, '(' ')' ',' ':' '/'
	text string
}

func lexFilter(src string) ([]ftoken, error) {
	var toks []ftoken
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')' || c == ',' || c == ':' || c == '/':
			toks = append(toks, ftoken{kind: c, text: string(c)})
			i++
		case c == '\'':
			var b strings.Builder
			i++
			closed := false
			for i < len(src) {
				if src[i] == '\'' {
					if i+1 < len(src) && src[i+1] == '\'' { // OData escapes ' as ''
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(src[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string literal")
			}
			toks = append(toks, ftoken{kind: 's', text: b.String()})
		default:
			j := i
			stop := " \t(),:/'"
			if c >= '0' && c <= '9' {
				stop = " \t(),/'" // DateTimeOffset literals contain ':'
			}
			for j < len(src) && !strings.ContainsRune(stop, rune(src[j])) {
				j++
			}
			w := src[i:j]
			if w == "" {
				return nil, fmt.Errorf("unexpected character %q", c)
			}
			if unicode.IsDigit(rune(w[0])) || w[0] == '-' {
				toks = append(toks, ftoken{kind: 'n', text: w})
			} else {
				toks = append(toks, ftoken{kind: 'i', text: w})
			}
			i = j
		}
	}
	return toks, nil
}

type filterParser struct {
	toks     []ftoken
	pos      int
	sc       *schema
	advanced bool   // uses an operator that needs ConsistencyLevel: eventual
	advProp  string // operator that needs advanced queries (endsWith, ne, not)
	props    int    // properties named
	signIn   bool   // names signInActivity/...
	err      *gerror
}

func (p *filterParser) peek() *ftoken {
	if p.pos < len(p.toks) {
		return &p.toks[p.pos]
	}
	return nil
}

func (p *filterParser) next() *ftoken {
	t := p.peek()
	if t != nil {
		p.pos++
	}
	return t
}

func (p *filterParser) isWord(w string) bool {
	t := p.peek()
	return t != nil && t.kind == 'i' && strings.EqualFold(t.text, w)
}

func (p *filterParser) fail(msg string) filterFn {
	if p.err == nil {
		p.err = badRequest("BadRequest", "Invalid filter clause: "+msg)
	}
	return func(getter) bool { return false }
}

func (p *filterParser) unsupported(prop string) filterFn {
	if p.err == nil {
		p.err = badRequest("Request_UnsupportedQuery", fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", prop, p.sc.resource))
	}
	return func(getter) bool { return false }
}

// parseFilter compiles a $filter expression. It returns whether the
// expression needs advanced query capabilities (ConsistencyLevel: eventual).
func parseFilter(sc *schema, src string) (filterFn, bool, string, *gerror) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, false, "", badRequest("BadRequest", "Invalid filter clause: "+err.Error())
	}
	p := &filterParser{toks: toks, sc: sc}
	f := p.parseOr()
	if p.err == nil && p.pos != len(p.toks) {
		p.fail("syntax error at position " + strconv.Itoa(p.pos))
	}
	if p.err == nil && p.signIn && p.props > 1 {
		p.err = badRequest("Request_UnsupportedQuery", "signInActivity can't be combined with other properties in $filter.")
	}
	if p.err != nil {
		return nil, false, "", p.err
	}
	return f, p.advanced, p.advProp, nil
}

func (p *filterParser) parseOr() filterFn {
	l := p.parseAnd()
	for p.isWord("or") {
		p.next()
		r := p.parseAnd()
		a, b := l, r
		l = func(g getter) bool { return a(g) || b(g) }
	}
	return l
}

func (p *filterParser) parseAnd() filterFn {
	l := p.parseUnary()
	for p.isWord("and") {
		p.next()
		r := p.parseUnary()
		a, b := l, r
		l = func(g getter) bool { return a(g) && b(g) }
	}
	return l
}

func (p *filterParser) markAdvanced(prop string) {
	if !p.advanced {
		p.advanced = true
		p.advProp = prop
	}
}

func (p *filterParser) parseUnary() filterFn {
	if p.isWord("not") {
		p.next()
		p.markAdvanced("not")
		inner := p.parseUnary()
		return func(g getter) bool { return !inner(g) }
	}
	return p.parsePrimary()
}

func (p *filterParser) parsePrimary() filterFn {
	t := p.peek()
	if t == nil {
		return p.fail("unexpected end of expression")
	}
	if t.kind == '(' {
		p.next()
		f := p.parseOr()
		if nt := p.next(); nt == nil || nt.kind != ')' {
			return p.fail("expected ')'")
		}
		return f
	}
	if t.kind != 'i' {
		return p.fail("expected a property or function, found '" + t.text + "'")
	}
	// function call?
	if p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == '(' {
		fn := strings.ToLower(t.text)
		p.pos += 2
		propTok := p.next()
		if propTok == nil || propTok.kind != 'i' {
			return p.fail("expected a property name in " + fn)
		}
		d := p.sc.prop(propTok.text)
		if d == nil {
			return p.fail(fmt.Sprintf("Could not find a property named '%s' on type '%s'.", propTok.text, p.sc.typeName))
		}
		if c := p.next(); c == nil || c.kind != ',' {
			return p.fail("expected ','")
		}
		lit := p.next()
		if lit == nil || lit.kind != 's' {
			return p.fail("expected a string literal")
		}
		if c := p.next(); c == nil || c.kind != ')' {
			return p.fail("expected ')'")
		}
		if !d.filterable || (d.kind != pString && d.kind != pStrings) {
			return p.unsupported(d.name)
		}
		needle := strings.ToLower(lit.text)
		name := d.name
		switch fn {
		case "startswith":
			return func(g getter) bool {
				return matchStr(g(name), func(v string) bool { return strings.HasPrefix(strings.ToLower(v), needle) })
			}
		case "endswith":
			p.markAdvanced("endsWith")
			return func(g getter) bool {
				return matchStr(g(name), func(v string) bool { return strings.HasSuffix(strings.ToLower(v), needle) })
			}
		default:
			// contains() and friends are not supported on directory objects.
			return p.unsupported(name)
		}
	}
	p.next()
	path := t.text
	d := p.sc.prop(path)
	if d == nil {
		return p.fail(fmt.Sprintf("Could not find a property named '%s' on type '%s'.", path, p.sc.typeName))
	}
	p.props++
	if nt := p.peek(); nt != nil && nt.kind == '/' {
		p.next()
		if d.kind == pObject {
			return p.parseSubProperty(d)
		}
		return p.parseLambda(d)
	}
	return p.parseComparison(path, d.name, d.kind, d.filterable)
}

// parseSubProperty handles prop/sub comparisons on complex properties:
// signInActivity/lastSignInDateTime (eq, ne, ge, le; not combinable with
// other properties).
func (p *filterParser) parseSubProperty(d *propDef) filterFn {
	st := p.next()
	if st == nil || st.kind != 'i' {
		return p.fail("expected a property name after '/'")
	}
	sub, ok := signInSubProps[strings.ToLower(st.text)]
	if d.name != "signInActivity" || !ok {
		return p.unsupported(d.name)
	}
	p.signIn = true
	if op := p.peek(); op != nil && op.kind == 'i' && (strings.EqualFold(op.text, "gt") || strings.EqualFold(op.text, "lt") || strings.EqualFold(op.text, "in")) {
		return p.unsupported(d.name)
	}
	return p.parseComparison(d.name+"/"+sub, d.name+"/"+sub, pDate, true)
}

// parseLambda handles prop/any(x: ...): x eq 'v' on string collections,
// x/sub eq v [and x/sub eq v ...] on collections of complex values
// (assignedLicenses/any(u:u/skuId eq <guid>), identities/any(...)).
func (p *filterParser) parseLambda(d *propDef) filterFn {
	name := d.name
	op := p.next()
	if op == nil || op.kind != 'i' || !strings.EqualFold(op.text, "any") || (d.kind != pStrings && d.kind != pObjects) {
		return p.unsupported(name)
	}
	if c := p.next(); c == nil || c.kind != '(' {
		return p.fail("expected '('")
	}
	v := p.next()
	if c := p.next(); v == nil || v.kind != 'i' || c == nil || c.kind != ':' {
		return p.fail("expected lambda variable")
	}
	type cond struct {
		sub  string
		want any
	}
	var conds []cond
	for {
		if x := p.next(); x == nil || x.kind != 'i' || x.text != v.text {
			return p.unsupported(name)
		}
		c := cond{}
		if d.kind == pObjects {
			sl, st := p.next(), p.next()
			if sl == nil || sl.kind != '/' || st == nil || st.kind != 'i' {
				return p.unsupported(name)
			}
			c.sub = st.text
		}
		opw, lit := p.next(), p.next()
		if opw == nil || lit == nil || !strings.EqualFold(opw.text, "eq") {
			return p.unsupported(name)
		}
		val, ok := literal(lit)
		if !ok {
			return p.fail("expected a literal value")
		}
		c.want = val
		conds = append(conds, c)
		if !p.isWord("and") {
			break
		}
		p.next()
	}
	if c := p.next(); c == nil || c.kind != ')' {
		return p.unsupported(name)
	}
	if d.kind == pStrings {
		want := conds[0].want
		return func(g getter) bool { return equalValue(g(name), want) }
	}
	return func(g getter) bool {
		items, _ := g(name).([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			ok := m != nil
			for _, c := range conds {
				if ok && !equalValue(mapFold(m, c.sub), c.want) {
					ok = false
				}
			}
			if ok {
				return true
			}
		}
		return false
	}
}

func mapFold(m map[string]any, k string) any {
	if v, ok := m[k]; ok {
		return v
	}
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v
		}
	}
	return nil
}

// parseComparison parses "op literal" (or "in (...)") after a property.
func (p *filterParser) parseComparison(path, name string, kind propKind, filterable bool) filterFn {
	opTok := p.next()
	if opTok == nil || opTok.kind != 'i' {
		return p.fail("expected an operator after '" + path + "'")
	}
	op := strings.ToLower(opTok.text)
	if !filterable {
		return p.unsupported(name)
	}
	if op == "in" {
		if c := p.next(); c == nil || c.kind != '(' {
			return p.fail("expected '(' after in")
		}
		var vals []any
		for {
			lt := p.next()
			if lt == nil {
				return p.fail("unterminated in list")
			}
			v, ok := literal(lt)
			if !ok {
				return p.fail("expected a literal in the in list")
			}
			vals = append(vals, v)
			sep := p.next()
			if sep == nil {
				return p.fail("unterminated in list")
			}
			if sep.kind == ')' {
				break
			}
			if sep.kind != ',' {
				return p.fail("expected ',' in the in list")
			}
		}
		if len(vals) > 15 {
			// Graph limits in() to 15 values on directory objects.
			if p.err == nil {
				p.err = badRequest("Request_UnsupportedQuery", "Too many child clauses specified in search filter expression containing 'OR' operators: 16. Max allowed: 15.")
			}
		}
		return func(g getter) bool {
			got := g(name)
			for _, v := range vals {
				if equalValue(got, v) {
					return true
				}
			}
			return false
		}
	}
	lt := p.next()
	if lt == nil {
		return p.fail("expected a value after " + op)
	}
	val, ok := literal(lt)
	if !ok {
		return p.fail("expected a literal value")
	}
	switch op {
	case "eq":
		return func(g getter) bool { return equalValue(g(name), val) }
	case "ne":
		p.markAdvanced("ne")
		return func(g getter) bool { return !equalValue(g(name), val) }
	case "ge", "gt", "le", "lt":
		if kind != pDate && kind != pString && kind != pInt {
			return p.unsupported(name)
		}
		return func(g getter) bool {
			c, ok := compareValue(g(name), val)
			if !ok {
				return false
			}
			switch op {
			case "ge":
				return c >= 0
			case "gt":
				return c > 0
			case "le":
				return c <= 0
			default:
				return c < 0
			}
		}
	default:
		return p.fail("unknown operator '" + op + "'")
	}
}

type nullLit struct{}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
			return false
		}
	}
	return true
}

func literal(t *ftoken) (any, bool) {
	switch t.kind {
	case 's':
		return t.text, true
	case 'n':
		if ts, err := time.Parse(time.RFC3339, t.text); err == nil {
			return ts, true
		}
		if n, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			return n, true
		}
		return t.text, true // bare GUID
	case 'i':
		if isGUID(t.text) {
			return t.text, true
		}
		switch strings.ToLower(t.text) {
		case "true":
			return true, true
		case "false":
			return false, true
		case "null":
			return nullLit{}, true
		}
	}
	return nil, false
}

func matchStr(v any, f func(string) bool) bool {
	switch x := v.(type) {
	case string:
		return f(x)
	case []string:
		for _, s := range x {
			if f(s) {
				return true
			}
		}
	}
	return false
}

func isNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case time.Time:
		return x.IsZero()
	}
	return false
}

func equalValue(got, want any) bool {
	if _, ok := want.(nullLit); ok {
		return isNull(got)
	}
	switch w := want.(type) {
	case string:
		// Directory string comparisons are case-insensitive.
		return matchStr(got, func(s string) bool { return strings.EqualFold(s, w) })
	case bool:
		b, ok := got.(bool)
		return ok && b == w
	case int64:
		switch g := got.(type) {
		case int:
			return int64(g) == w
		case int64:
			return g == w
		}
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	}
	return false
}

func compareValue(got, want any) (int, bool) {
	switch w := want.(type) {
	case time.Time:
		g, ok := got.(time.Time)
		if !ok || g.IsZero() {
			return 0, false
		}
		return g.Compare(w), true
	case string:
		g, ok := got.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(strings.ToLower(g), strings.ToLower(w)), true
	case int64:
		switch g := got.(type) {
		case int:
			return cmpInt(int64(g), w), true
		case int64:
			return cmpInt(g, w), true
		}
	}
	return 0, false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// --- $search -------------------------------------------------------------

// parseSearch supports the directory form: "prop:term" clauses joined by
// AND/OR, matching word prefixes case-insensitively (tokenised on
// non-alphanumerics, like Entra's search index).
func parseSearch(sc *schema, raw string) (filterFn, *gerror) {
	raw = strings.TrimSpace(raw)
	type clause struct{ prop, term string }
	var groups [][]clause // OR of ANDs
	cur := []clause{}
	rest := raw
	for rest != "" {
		rest = strings.TrimSpace(rest)
		if rest == "" {
			break
		}
		if rest[0] == '"' {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, badRequest("Request_UnsupportedQuery", "Syntax error: unterminated quote in $search.")
			}
			body := rest[1 : 1+end]
			rest = rest[2+end:]
			prop, term, ok := strings.Cut(body, ":")
			if !ok {
				return nil, badRequest("Request_UnsupportedQuery", "Syntax error: $search clauses must be \"property:value\".")
			}
			d := sc.prop(prop)
			if d == nil || (d.kind != pString && d.kind != pStrings) {
				return nil, badRequest("Request_UnsupportedQuery", "Unsupported property '"+prop+"' in $search.")
			}
			cur = append(cur, clause{d.name, strings.ToLower(term)})
			continue
		}
		w, r, _ := strings.Cut(rest, " ")
		rest = r
		switch strings.ToUpper(w) {
		case "AND":
		case "OR":
			groups = append(groups, cur)
			cur = []clause{}
		default:
			return nil, badRequest("Request_UnsupportedQuery", "Syntax error in $search near '"+w+"'.")
		}
	}
	groups = append(groups, cur)
	return func(g getter) bool {
		for _, and := range groups {
			ok := len(and) > 0
			for _, c := range and {
				if !matchStr(g(c.prop), func(s string) bool { return searchMatch(s, c.term) }) {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	}, nil
}

func searchMatch(s, term string) bool {
	s = strings.ToLower(s)
	if strings.HasPrefix(s, term) {
		return true
	}
	for i := 1; i < len(s); i++ {
		prev := rune(s[i-1])
		if !unicode.IsLetter(prev) && !unicode.IsDigit(prev) && strings.HasPrefix(s[i:], term) {
			return true
		}
	}
	return false
}
