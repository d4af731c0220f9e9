package connection

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

const canary = "canary-client-secret-3b9e"

// countingReader counts reads, to prove a refused Directory reads no Secret.
type countingReader struct {
	client.Reader
	reads int
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.reads++
	return c.Reader.Get(ctx, key, obj, opts...)
}

func secret(name string, labelled bool) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Data: map[string][]byte{"clientSecret": []byte(canary)}}
	if labelled {
		s.Labels = map[string]string{v1alpha1.LabelCredential: v1alpha1.LabelCredentialValue}
	}
	return s
}

func directory(authority, graphEndpoint, secretName string) *v1alpha1.Directory {
	return &v1alpha1.Directory{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tenant"},
		Spec: v1alpha1.DirectorySpec{
			TenantID: "t", ClientID: "c",
			Credential: v1alpha1.DirectoryCredential{ClientSecret: &v1alpha1.SecretKeySelector{Name: secretName, Key: "clientSecret"}},
			Cloud:      v1alpha1.CloudSpec{Name: v1alpha1.CloudCustom, AuthorityHost: authority, GraphEndpoint: graphEndpoint},
		},
	}
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

func wantStalled(t *testing.T, err error, reason string, msgParts ...string) {
	t.Helper()
	var st *ctrlkit.StalledError
	if !errors.As(err, &st) || st.Reason != reason {
		t.Fatalf("got %v, want Stalled %s", err, reason)
	}
	for _, p := range msgParts {
		if !strings.Contains(st.Message, p) {
			t.Errorf("message %q does not contain %q", st.Message, p)
		}
	}
	if strings.Contains(err.Error(), canary) {
		t.Errorf("error carries the secret")
	}
}

// The exfiltration path of a Custom cloud: a Directory naming any host is
// refused with EndpointNotAllowed before its Secret is read.
func TestCustomCloudAllowList(t *testing.T) {
	kube := &countingReader{Reader: fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(secret("cred", true)).Build()}
	r := &Resolver{Kube: kube}
	for _, tc := range []struct{ authority, graphURL string }{
		{"https://attacker.example/", "https://graph.microsoft.com"},
		{"https://login.microsoftonline.com/", "https://attacker.example"},
		{"https://login.microsoftonline.com.attacker.example/", "https://graph.microsoft.com"},
		{"https://127.0.0.1@attacker.example/", "https://graph.microsoft.com"},
	} {
		_, err := r.Config(context.Background(), directory(tc.authority, tc.graphURL, "cred"))
		wantStalled(t, err, v1alpha1.ReasonEndpointNotAllowed, "--allowed-custom-hosts", "attacker.example")
	}
	if kube.reads != 0 {
		t.Fatalf("a refused Directory read %d Secrets", kube.reads)
	}

	// Defaults: Microsoft's hosts and loopback (the emulator).
	for _, ok := range []string{"https://login.microsoftonline.us/", "https://127.0.0.1:8443/", "https://localhost/", "https://[::1]:9/"} {
		cfg, err := r.Config(context.Background(), directory(ok, "https://graph.microsoft.com", "cred"))
		if err != nil || cfg.ClientSecret != canary {
			t.Fatalf("%s: refused by the default list: %v", ok, err)
		}
	}

	// The flag replaces the list; wildcards match subdomains only.
	allow, err := ParseHostAllowList("login.contoso.net, *.graph.contoso.net")
	if err != nil {
		t.Fatal(err)
	}
	r.AllowedCustomHosts = allow
	if _, err := r.Config(context.Background(), directory("https://login.contoso.net/", "https://eu.graph.contoso.net", "cred")); err != nil {
		t.Fatalf("allowed by the flag: %v", err)
	}
	_, err = r.Config(context.Background(), directory("https://127.0.0.1/", "https://graph.contoso.net", "cred"))
	wantStalled(t, err, v1alpha1.ReasonEndpointNotAllowed)
	for _, bad := range []string{"https://x.net", "x.net:443", "x.net/path"} {
		if _, err := ParseHostAllowList(bad); err == nil {
			t.Errorf("ParseHostAllowList(%q) accepted", bad)
		}
	}
}

// A Directory may only use Secrets labelled for the operator. Through the
// manager's cache (label-selected) an unlabelled Secret is not found; the
// metadata read around it names the missing label.
func TestSecretMustBeLabelled(t *testing.T) {
	live := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(secret("plain", false), secret("cred", true)).Build()
	cache := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(secret("cred", true)).Build()
	r := &Resolver{Kube: cache, Live: live}
	ctx := context.Background()

	_, err := r.Config(ctx, directory("https://127.0.0.1/", "https://127.0.0.1", "plain"))
	wantStalled(t, err, v1alpha1.ReasonSecretNotLabelled, `"plain"`, "kubectl label secret plain -n ns entra.directory-operator.io/credential=true")

	_, err = r.Config(ctx, directory("https://127.0.0.1/", "https://127.0.0.1", "missing"))
	wantStalled(t, err, v1alpha1.ReasonSecretNotFound, `"missing"`, v1alpha1.LabelCredential)

	if cfg, err := r.Config(ctx, directory("https://127.0.0.1/", "https://127.0.0.1", "cred")); err != nil || cfg.ClientSecret != canary {
		t.Fatalf("labelled Secret: %v", err)
	}

	// A reader that does see unlabelled Secrets (no cache selection) is
	// still refused by the label check itself.
	r = &Resolver{Kube: live}
	_, err = r.Config(ctx, directory("https://127.0.0.1/", "https://127.0.0.1", "plain"))
	wantStalled(t, err, v1alpha1.ReasonSecretNotLabelled)
}
