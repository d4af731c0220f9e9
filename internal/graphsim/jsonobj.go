package graphsim

import (
	"encoding/json"
	"strconv"
)

// jobj is a JSON object that keeps insertion order. Graph answers list
// "@odata.context" first and the entity's properties in schema order; a Go
// map would sort them, which the SDK does not mind but humans reading
// captures (and the conformance test's error output) do.
type jobj struct {
	keys []string
	vals []any
}

func newObj(capacity int) *jobj {
	return &jobj{keys: make([]string, 0, capacity), vals: make([]any, 0, capacity)}
}

func (o *jobj) set(k string, v any) *jobj {
	for i, kk := range o.keys {
		if kk == k {
			o.vals[i] = v
			return o
		}
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
	return o
}

// add appends without checking for duplicates (hot path for large pages).
func (o *jobj) add(k string, v any) *jobj {
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
	return o
}

func (o *jobj) get(k string) (any, bool) {
	for i, kk := range o.keys {
		if kk == k {
			return o.vals[i], true
		}
	}
	return nil, false
}

func (o *jobj) MarshalJSON() ([]byte, error) {
	return o.appendTo(make([]byte, 0, 64*len(o.keys)))
}

// appendTo encodes the object directly; going through encoding/json for
// nested Marshalers would re-validate every level, which dominated the cost
// of 999-user pages.
func (o *jobj) appendTo(b []byte) ([]byte, error) {
	b = append(b, '{')
	for i, k := range o.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, o.vals[i]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case string:
		return appendString(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case *jobj:
		return x.appendTo(b)
	case []string:
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	default:
		vb, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return append(b, vb...), nil
	}
}

// appendString writes a JSON string; plain ASCII is copied as is.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			vb, _ := json.Marshal(s)
			return append(b, vb...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
