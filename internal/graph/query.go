package graph

import (
	"net/url"
	"strings"
)

// query is an ordered list of query parameters.
type query [][2]string

// encode renders ?k=v&… keeping OData's $ names and the characters OData
// expressions use ( , ( ) ' : @ / ) readable, and encoding spaces as %20
// (Graph does not read + as a space in every parameter).
func (q query) encode() string {
	if len(q) == 0 {
		return ""
	}
	var b strings.Builder
	for i, kv := range q {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(escapeQuery(kv[0]))
		b.WriteByte('=')
		b.WriteString(escapeQuery(kv[1]))
	}
	return b.String()
}

func escapeQuery(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			strings.IndexByte("-._~$,()':@/", ch) >= 0:
			b.WriteByte(ch)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	return b.String()
}

// userPath is the path of a user addressed by object id or UPN. A UPN
// starting with '$' must use the key syntax users('…') or Graph reads it as
// a system query option.
func userPath(idOrUPN string) string {
	if strings.HasPrefix(idOrUPN, "$") {
		return "/users('" + url.PathEscape(strings.ReplaceAll(idOrUPN, "'", "''")) + "')"
	}
	return "/users/" + url.PathEscape(idOrUPN)
}

// odataString quotes s as an OData string literal, doubling every single
// quote inside it.
func odataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// estimateRU is Graph's documented cost of a read: base cost, −1 with
// $select, +1 with $expand, −1 with $top below 20, never below 1.
func estimateRU(base int, sel, expand bool, top int) int {
	r := base
	if sel {
		r--
	}
	if expand {
		r++
	}
	if top > 0 && top < 20 {
		r--
	}
	return max(r, 1)
}
