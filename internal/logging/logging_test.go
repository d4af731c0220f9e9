package logging

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/directory-operator/directory-operator/internal/redact"
)

const (
	canarySecret   = "canary-client-secret-71d2"
	canaryPassword = "Canary-Passw0rd-e4c8!"
	canaryToken    = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJjYW5hcnkifQ.c2lnbmF0dXJlLWNhbmFyeQ"
	canaryKey      = "-----BEGIN PRIVATE KEY-----\nMIIEcanarykeymaterial\n-----END PRIVATE KEY-----"
)

var canaries = []string{canarySecret, canaryPassword, canaryToken, "MIIEcanarykeymaterial",
	base64.StdEncoding.EncodeToString([]byte(canarySecret)), base64.StdEncoding.EncodeToString([]byte(canaryPassword))}

// verboseLogger is the manager's logger configured exactly as by
// `--zap-log-level=10`, the most verbose level, writing to buf.
func verboseLogger(t *testing.T, buf *bytes.Buffer) *crzap.Options {
	t.Helper()
	opts := &crzap.Options{}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	opts.BindFlags(fs)
	if err := fs.Parse([]string{"--zap-log-level=10", "--zap-devel=false"}); err != nil {
		t.Fatal(err)
	}
	opts.DestWriter = buf
	return opts
}

func assertClean(t *testing.T, out string) {
	t.Helper()
	for _, c := range canaries {
		if strings.Contains(out, c) {
			t.Errorf("canary %q found in log:\n%s", c, out)
		}
	}
}

// Everything secret-shaped is removed from every kind of field at V(10),
// while the rest of the line stays useful.
func TestRedactsAtMostVerboseLevel(t *testing.T) {
	var buf bytes.Buffer
	log := New(verboseLogger(t, &buf))
	if !log.V(10).Enabled() {
		t.Fatal("V(10) not enabled by --zap-log-level=10")
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-credentials"},
		Data: map[string][]byte{"clientSecret": []byte(canarySecret), "tls.key": []byte(canaryKey)}}
	secretJSON := `{"kind":"Secret","metadata":{"name":"u-initial-password"},"data":{"password":"` +
		base64.StdEncoding.EncodeToString([]byte(canaryPassword)) + `"}}`
	graphJSON := `{"accountEnabled":true,"userPrincipalName":"a@contoso.com","passwordProfile":{"password":"` + canaryPassword + `","forceChangePasswordNextSignIn":true}}`

	// client-go's dumps (rest.Request logBody at V(8)), full and truncated.
	log.V(8).Info("Request Body", "body", secretJSON)
	log.V(8).Info("Response Body", "body", secretJSON[:60]+` [truncated 300 chars]`)
	log.V(8).Info("Request Body", "body", []byte(secretJSON))
	// The Graph client's dumps and token requests.
	log.V(8).Info("Graph request", "requestBody", graphJSON, "url", "https://graph.microsoft.com/v1.0/users")
	log.V(8).Info("Token request", "requestBody", "grant_type=client_credentials&client_id=x&client_secret="+canarySecret+"&client_assertion="+canaryToken)
	// Headers, errors, objects, messages, values carried by WithValues.
	log.V(9).Info("Request", "curlCommand", `curl -v -XGET -H "Authorization: Bearer `+canaryToken+`" 'https://x'`,
		"headers", map[string][]string{"Authorization": {"Bearer " + canaryToken}})
	log.Error(errors.New(`token request failed: {"client_secret":"`+canarySecret+`"}`), "Reconciler error")
	log.Info("object", "secret", secret)
	develLog := New(&crzap.Options{Development: true, DestWriter: &buf})
	develLog.Info("object in development mode", "secret", secret, "list", []corev1.Secret{*secret})
	log.WithValues("password", canaryPassword).Info(`a message quoting JSON: {"password":"` + canaryPassword + `"}`)
	log.Info("pem", "key", canaryKey)

	out := buf.String()
	assertClean(t, out)
	for _, want := range []string{"Request Body", "u-initial-password", "userPrincipalName", "a@contoso.com", "Reconciler error", "tenant-credentials", redact.Redacted} {
		if !strings.Contains(out, want) {
			t.Errorf("log lost %q, which is not secret:\n%s", want, out)
		}
	}
}

func TestBody(t *testing.T) {
	Body := redact.Body
	for in, want := range map[string]string{
		`{"data":{"a":"c2VjcmV0"},"metadata":{"name":"n"}}`: `{"data":{"a":"<redacted>"},"metadata":{"name":"n"}}`,
		"client_id=abc&client_secret=s3cr3t":                "client_id=abc&client_secret=<redacted>",
		"\x0a\x05k8s\x00proto":                              "<11 bytes, not shown>",
		`{"data":{"a":"trunc`:                               "<19 bytes of JSON that does not parse, not shown>",
	} {
		if got := Body([]byte(in)); got != want {
			t.Errorf("Body(%q) = %q, want %q", in, got, want)
		}
	}
}
