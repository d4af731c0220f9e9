package redact

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, secret string }{
		{"Authorization: Bearer abc.def-ghi", "abc.def-ghi"},
		{"token eyJhbGciOi.eyJzdWIiOi.sig-nature in text", "eyJhbGciOi.eyJzdWIiOi.sig-nature"},
		{"grant_type=client_credentials&client_secret=s3cr3t&x=1", "s3cr3t"},
		{"client_assertion=aaa.bbb.ccc", "aaa.bbb.ccc"},
		{`error: {"passwordProfile":{"password":"Pw-1!"}}`, "Pw-1!"},
		{`quoted: {\"password\":\"Pw-2!\"}`, "Pw-2!"},
		{"key -----BEGIN RSA PRIVATE KEY-----\nMIIsecret\n-----END RSA PRIVATE KEY----- end", "MIIsecret"},
	} {
		out := String(tc.in)
		if strings.Contains(out, tc.secret) || !strings.Contains(out, Redacted) {
			t.Errorf("String(%q) = %q", tc.in, out)
		}
	}
	if s := "Synced group staff: 800 members"; String(s) != s {
		t.Errorf("ordinary text changed: %q", String(s))
	}
}
