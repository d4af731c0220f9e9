// Package redact removes secrets from text and bodies before they are
// logged: passwords, client secrets and assertions, tokens, private keys,
// and the data of Secrets. The manager's logger (internal/logging) applies
// it to every entry; the Graph client applies it to its own dumps too, so
// they are safe whatever logger receives them.
package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces a removed value.
const Redacted = "<redacted>"

// sensitiveKeys are JSON object keys and form fields whose values are
// replaced wherever they occur (compared case-insensitively). data,
// stringData and binaryData are the contents of Secrets (and of export
// ConfigMaps, which hold personal data): a body dump keeps their keys but
// not their values.
var sensitiveKeys = map[string]bool{
	"password": true, "passwordprofile": true, "newpassword": true, "currentpassword": true,
	"client_secret": true, "clientsecret": true, "client_assertion": true, "assertion": true,
	"access_token": true, "refresh_token": true, "id_token": true, "token": true,
	"authorization": true, "private_key": true, "privatekey": true, "tls.key": true,
	"data": true, "stringdata": true, "binarydata": true,
}

// IsSensitiveKey says whether a JSON key, form field or log key holds a
// value that is never logged.
func IsSensitiveKey(key string) bool { return sensitiveKeys[strings.ToLower(key)] }

var (
	// Authorization header values and anything shaped like a JWT.
	authRE = regexp.MustCompile(`(?i)\b(bearer|basic|pop)\s+[A-Za-z0-9\-._~+/]+=*`)
	jwtRE  = regexp.MustCompile(`eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*`)
	// key=value in form bodies and query strings.
	formRE = regexp.MustCompile(`(?i)\b(client_secret|client_assertion|assertion|password|access_token|refresh_token|id_token|code)=[^&\s"']*`)
	// "key": "value" or "key": {...} in JSON that could not be parsed
	// (truncated dumps, JSON quoted inside a message). Nested objects
	// deeper than one level are cut at the first '}', which only ever
	// removes more.
	jsonFieldRE = regexp.MustCompile(`(?i)(\\?"(?:password|passwordProfile|newPassword|client_secret|clientSecret|client_assertion|access_token|refresh_token|id_token|data|stringData|binaryData)\\?"\s*:\s*)(\\?"(?:[^"\\]|\\.)*\\?"|\{[^}]*\}?|[^,}\s]+)`)
	pemRE       = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`)
)

// String removes secret-shaped content from free text: Authorization
// values, JWTs, secret form fields, secret JSON fields and private keys.
func String(s string) string {
	if s == "" {
		return s
	}
	s = pemRE.ReplaceAllString(s, Redacted)
	s = authRE.ReplaceAllString(s, "$1 "+Redacted)
	s = jwtRE.ReplaceAllString(s, Redacted)
	s = formRE.ReplaceAllString(s, "$1="+Redacted)
	s = jsonFieldRE.ReplaceAllString(s, `${1}"`+Redacted+`"`)
	return s
}

// Body renders an HTTP or API body for a log: JSON with the values of
// sensitive keys replaced, a form with its secret fields replaced, and
// anything else (protobuf, a truncated dump that no longer parses) as its
// length only, because its secrets cannot be found reliably.
func Body(b []byte) string {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return ""
	}
	if t[0] == '{' || t[0] == '[' {
		var v any
		if err := json.Unmarshal(t, &v); err == nil {
			if out, err := marshal(Value(v)); err == nil {
				return out
			}
		}
		return fmt.Sprintf("<%d bytes of JSON that does not parse, not shown>", len(b))
	}
	if form, err := url.ParseQuery(string(t)); err == nil && bytes.IndexByte(t, '=') > 0 && isPrintable(t) {
		for k := range form {
			if IsSensitiveKey(k) || formRE.MatchString(k+"=") {
				form[k] = []string{Redacted}
			}
		}
		return String(form.Encode())
	}
	return fmt.Sprintf("<%d bytes, not shown>", len(b))
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// Value redacts decoded JSON (maps, slices, strings) in place and returns
// it: the values of sensitive keys are replaced, other strings scrubbed.
func Value(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if IsSensitiveKey(k) {
				t[k] = redactedShape(val)
				continue
			}
			t[k] = Value(val)
		}
		return t
	case []any:
		for i := range t {
			t[i] = Value(t[i])
		}
		return t
	case string:
		return String(t)
	}
	return v
}

// redactedShape keeps the keys of a redacted object (which keys a Secret
// has is useful when debugging, and not secret) and drops every value.
func redactedShape(v any) any {
	if m, ok := v.(map[string]any); ok {
		out := make(map[string]any, len(m))
		for k := range m {
			out[k] = Redacted
		}
		return out
	}
	return Redacted
}

// marshal is json.Marshal without HTML escaping, so "<redacted>" reads as such.
func marshal(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}
