package graphsim

import (
	"net/url"
	"strings"
)

// parseQuery splits a query string the way Graph does: only '&' separates
// parameters. A ';' is an ordinary character at the top level and the
// separator of nested options inside parentheses
// ($expand=manager($levels=max;$select=id,displayName)), which Go's
// url.ParseQuery refuses. Keys are lower-cased. System query options may
// be written without their '$' prefix (documented for beta and for a
// subset of v1.0 APIs, the directory ones included: "users?filter=...");
// they are stored under the '$' name unless that one is present too.
func parseQuery(raw string) (url.Values, error) {
	out := url.Values{}
	var bare []string
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return nil, err
		}
		k = strings.ToLower(k)
		if knownOptions["$"+k] {
			bare = append(bare, k)
		}
		out[k] = append(out[k], v)
	}
	for _, k := range bare {
		if _, ok := out["$"+k]; !ok {
			out["$"+k] = out[k]
		}
		delete(out, k)
	}
	return out, nil
}

// splitTopLevel splits s on sep outside parentheses and quotes.
func splitTopLevel(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
