package directory_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/yaml"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/directory"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{
		Setup: func(mgr ctrl.Manager, res *connection.Resolver) error {
			return (&directory.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Dialer: connection.Port[directory.Graph](res), Clients: res.Registry, Recorder: mgr.GetEventRecorder("directory-operator")}).SetupWithManager(mgr)
		},
	}, &env))
}

func readyCondition(t *testing.T, dir *v1alpha1.Directory) *metav1.Condition {
	t.Helper()
	env.Get(t, dir)
	return meta.FindStatusCondition(dir.Status.Conditions, v1alpha1.ConditionReady)
}

func waitReady(t *testing.T, dir *v1alpha1.Directory, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	testenv.Eventually(t, 30*time.Second, "Ready="+string(status)+"/"+reason, func() bool {
		c = readyCondition(t, dir)
		return c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == dir.Generation
	})
	return c
}

func statusText(t *testing.T, dir *v1alpha1.Directory) string {
	b, err := yaml.Marshal(dir.Status)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidSecretBecomesReadyWithOrganization(t *testing.T) {
	ns := env.Namespace(t)
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	c := waitReady(t, dir, metav1.ConditionTrue, v1alpha1.ReasonSucceeded)
	if dir.Status.Organization == nil || dir.Status.Organization.DisplayName == "" {
		t.Fatalf("organization not reported: %+v", dir.Status.Organization)
	}
	if !strings.Contains(c.Message, dir.Status.Organization.DisplayName) {
		t.Errorf("Ready message %q does not name the organization", c.Message)
	}
	if len(dir.Status.Organization.VerifiedDomains) == 0 || dir.Status.LastCheckTime == nil {
		t.Errorf("verified domains or lastCheckTime missing: %+v", dir.Status)
	}
	if dir.Status.Throttling == nil || dir.Status.Throttling.Requests == 0 {
		t.Errorf("throttling figures missing: %+v", dir.Status.Throttling)
	}
	env.AssertNoSecrets(t, ns, statusText(t, dir), testenv.ClientSecret)
}

func TestWrongSecretThenFixingTheSecretAlone(t *testing.T) {
	ns := env.Namespace(t)
	const wrong = "wrong-secret-Never-Logged-91"
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{ClientSecret: wrong})
	c := waitReady(t, dir, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials)
	if !strings.Contains(c.Message, "AADSTS7000215") {
		t.Errorf("message should carry the token endpoint's error code: %q", c.Message)
	}
	if !meta.IsStatusConditionTrue(dir.Status.Conditions, v1alpha1.ConditionStalled) {
		t.Errorf("wrong credentials should be Stalled")
	}
	env.AssertNoSecrets(t, ns, statusText(t, dir), wrong, testenv.ClientSecret)

	// Only the Secret changes; the Directory is not touched.
	secret := &corev1.Secret{}
	secret.Namespace, secret.Name = ns, "tenant-credentials"
	env.Get(t, secret)
	secret.Data["clientSecret"] = []byte(testenv.ClientSecret)
	if err := env.Client.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	waitReady(t, dir, metav1.ConditionTrue, v1alpha1.ReasonSucceeded)
	env.AssertNoSecrets(t, ns, statusText(t, dir), wrong, testenv.ClientSecret)
}

func TestMissingPermissionIsNamedWithConsentURL(t *testing.T) {
	ns := env.Namespace(t)
	const clientID = "aaaaaaaa-0000-0000-0000-000000000001"
	env.Sim.AddApp(clientID, "other-secret-1", "GroupMember.Read.All")
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{ClientID: clientID, ClientSecret: "other-secret-1"})
	c := waitReady(t, dir, metav1.ConditionFalse, v1alpha1.ReasonPermissionMissing)
	if !strings.Contains(c.Message, "User.Read.All") {
		t.Errorf("message should name the missing permission: %q", c.Message)
	}
	if !strings.Contains(c.Message, "/adminconsent?client_id="+clientID) {
		t.Errorf("message should carry the admin-consent URL: %q", c.Message)
	}
	// Granting the permission and touching the Secret (as a rotation would) recovers.
	env.Sim.SetPermissions(clientID, "User.Read.All")
	dir.Spec.Interval = &metav1.Duration{Duration: time.Second}
	if err := env.Client.Update(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	waitReady(t, dir, metav1.ConditionTrue, v1alpha1.ReasonSucceeded)
}

func TestAppWithoutConsentIsConsentRequired(t *testing.T) {
	ns := env.Namespace(t)
	const clientID = "aaaaaaaa-0000-0000-0000-000000000002"
	env.Sim.AddApp(clientID, "other-secret-2")
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{ClientID: clientID, ClientSecret: "other-secret-2"})
	c := waitReady(t, dir, metav1.ConditionFalse, v1alpha1.ReasonConsentRequired)
	if !strings.Contains(c.Message, "adminconsent") {
		t.Errorf("message should carry the admin-consent URL: %q", c.Message)
	}
}

func TestCRDValidationRejectsBadCredentialsAndClouds(t *testing.T) {
	ns := env.Namespace(t)
	ref := &v1alpha1.SecretKeySelector{Name: "s", Key: "k"}
	cases := []struct {
		name string
		spec v1alpha1.DirectorySpec
		want string
	}{
		{"two credentials", v1alpha1.DirectorySpec{TenantID: "t", ClientID: "c", Credential: v1alpha1.DirectoryCredential{
			ClientSecret: ref, WorkloadIdentity: &v1alpha1.WorkloadIdentityCredential{}}}, "exactly one of clientSecret, clientCertificate or workloadIdentity"},
		{"no credential", v1alpha1.DirectorySpec{TenantID: "t", ClientID: "c"}, "exactly one of clientSecret, clientCertificate or workloadIdentity"},
		{"custom cloud without endpoints", v1alpha1.DirectorySpec{TenantID: "t", ClientID: "c",
			Credential: v1alpha1.DirectoryCredential{ClientSecret: ref},
			Cloud:      v1alpha1.CloudSpec{Name: v1alpha1.CloudCustom}}, "cloud Custom requires authorityHost and graphEndpoint"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := &v1alpha1.Directory{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad-" + string(rune('a'+i))}, Spec: tc.spec}
			err := env.Client.Create(context.Background(), dir)
			if err == nil {
				t.Fatal("the API server accepted an invalid Directory")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestClientCertificateCredential(t *testing.T) {
	ns := env.Namespace(t)
	const clientID = "aaaaaaaa-0000-0000-0000-000000000003"
	certPEM, keyPEM := selfSignedCert(t)
	env.Sim.AddCertApp(clientID, certPEM, "User.Read.All")
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-cert", Labels: testenv.CredentialLabels()},
		Data:       map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": env.Sim.CACertPEM()},
	}); err != nil {
		t.Fatal(err)
	}
	dir := &v1alpha1.Directory{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cert"},
		Spec: v1alpha1.DirectorySpec{
			TenantID: env.Sim.TenantID(), ClientID: clientID,
			Credential: v1alpha1.DirectoryCredential{ClientCertificate: &v1alpha1.ClientCertificateCredential{SecretName: "app-cert"}},
			Cloud: v1alpha1.CloudSpec{Name: v1alpha1.CloudCustom, AuthorityHost: env.Sim.URL() + "/", GraphEndpoint: env.Sim.URL(),
				CABundle: &v1alpha1.SecretKeySelector{Name: "app-cert", Key: "ca.crt"}},
		},
	}
	if err := env.Client.Create(ctx, dir); err != nil {
		t.Fatal(err)
	}
	waitReady(t, dir, metav1.ConditionTrue, v1alpha1.ReasonSucceeded)
	env.AssertNoSecrets(t, ns, statusText(t, dir), string(keyPEM[40:80]))
}

func TestUnreachableGraphIsReported(t *testing.T) {
	ns := env.Namespace(t)
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	// Point the authority at a port nobody listens on.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		env.Get(t, dir)
		dir.Spec.Cloud.AuthorityHost = "https://127.0.0.1:1/"
		return env.Client.Update(context.Background(), dir)
	}); err != nil {
		t.Fatal(err)
	}
	c := waitReady(t, dir, metav1.ConditionFalse, v1alpha1.ReasonUnreachable)
	if meta.IsStatusConditionTrue(dir.Status.Conditions, v1alpha1.ConditionStalled) {
		t.Errorf("an unreachable endpoint is retried, not Stalled: %q", c.Message)
	}
}

func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "directory-operator-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return certPEM, keyPEM
}

func TestWorkloadIdentityCredential(t *testing.T) {
	ns := env.Namespace(t)
	const clientID = "aaaaaaaa-0000-0000-0000-000000000004"
	const issuer, subject = "https://oidc.cluster.example", "system:serviceaccount:directory-operator-system:directory-operator-controller-manager"
	env.Sim.AddFederatedApp(clientID, issuer, subject, "User.Read.All")
	// The projected service-account token Azure Workload Identity mounts.
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(map[string]any{"iss": issuer, "sub": subject, "aud": "api://AzureADTokenExchange", "exp": time.Now().Add(time.Hour).Unix()})
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(tokenFile, []byte(enc.EncodeToString([]byte(`{"alg":"RS256"}`))+"."+enc.EncodeToString(claims)+".c2ln"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca", Labels: testenv.CredentialLabels()},
		Data:       map[string][]byte{"ca.crt": env.Sim.CACertPEM()},
	}); err != nil {
		t.Fatal(err)
	}
	dir := &v1alpha1.Directory{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wi"},
		Spec: v1alpha1.DirectorySpec{
			TenantID: env.Sim.TenantID(), ClientID: clientID,
			Credential: v1alpha1.DirectoryCredential{WorkloadIdentity: &v1alpha1.WorkloadIdentityCredential{TokenFile: tokenFile}},
			Cloud: v1alpha1.CloudSpec{Name: v1alpha1.CloudCustom, AuthorityHost: env.Sim.URL() + "/", GraphEndpoint: env.Sim.URL(),
				CABundle: &v1alpha1.SecretKeySelector{Name: "ca", Key: "ca.crt"}},
		},
	}
	if err := env.Client.Create(ctx, dir); err != nil {
		t.Fatal(err)
	}
	waitReady(t, dir, metav1.ConditionTrue, v1alpha1.ReasonSucceeded)
}

// The groups export is an extra: an app without a group read permission
// keeps a Directory Ready for its users and batches, and the export's own
// condition says what is missing.
func TestGroupsExportWithoutGroupPermissionKeepsDirectoryReady(t *testing.T) {
	ns := env.Namespace(t)
	const clientID = "aaaaaaaa-0000-0000-0000-000000000003"
	env.Sim.AddApp(clientID, "other-secret-3", "User.Read.All")
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{ClientID: clientID, ClientSecret: "other-secret-3",
		Exports: v1alpha1.DirectoryExports{Groups: true}})
	waitReady(t, dir, metav1.ConditionTrue, v1alpha1.ReasonSucceeded)
	testenv.Eventually(t, 30*time.Second, "GroupsExported=False", func() bool {
		env.Get(t, dir)
		c := meta.FindStatusCondition(dir.Status.Conditions, v1alpha1.ConditionGroupsExported)
		return c != nil && c.Status == metav1.ConditionFalse
	})
	c := meta.FindStatusCondition(dir.Status.Conditions, v1alpha1.ConditionGroupsExported)
	if c.Reason != v1alpha1.ReasonPermissionMissing || !strings.Contains(c.Message, "Group.Read.All") {
		t.Errorf("GroupsExported = %s %q, want PermissionMissing naming Group.Read.All", c.Reason, c.Message)
	}
	if !meta.IsStatusConditionTrue(dir.Status.Conditions, v1alpha1.ConditionReady) {
		t.Errorf("the Directory is not Ready: %+v", dir.Status.Conditions)
	}
}
