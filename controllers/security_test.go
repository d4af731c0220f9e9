package controllers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// The whole operator as the manager wires it, logging at the most verbose
// level (--zap-log-level=10: client-go dumps every request and response
// body, the Graph client every exchange).
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{
		LogVerbosity: 10,
		Setup: func(mgr ctrl.Manager, res *connection.Resolver) error {
			return controllers.Setup(mgr, res, controllers.Options{Concurrency: 2})
		},
	}, &env))
}

func ctx() context.Context { return context.Background() }

func condition(obj client.Object, conds *[]metav1.Condition, t string) func() *metav1.Condition {
	return func() *metav1.Condition {
		_ = env.Client.Get(ctx(), client.ObjectKeyFromObject(obj), obj)
		return meta.FindStatusCondition(*conds, t)
	}
}

func waitReason(t *testing.T, what string, get func() *metav1.Condition, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	testenv.Eventually(t, 60*time.Second, what+" "+reason, func() bool {
		c = get()
		return c != nil && c.Status == status && c.Reason == reason
	})
	return c
}

func readyDirectory(t *testing.T, ns string, o testenv.DirectoryOptions) *v1alpha1.Directory {
	t.Helper()
	dir := env.CreateDirectory(t, ns, o)
	waitReason(t, "Directory", condition(dir, &dir.Status.Conditions, v1alpha1.ConditionReady), metav1.ConditionTrue, v1alpha1.ReasonSucceeded)
	return dir
}

// No client secret, password (plain or base64 as in a Secret's data) or
// token reaches the logs, events or status at the most verbose level,
// while client-go's body dumps and the Graph dumps are on.
func TestNoSecretsAtMostVerboseLevel(t *testing.T) {
	ns := env.Namespace(t)
	const clientID, clientSecret = "aaaaaaaa-5ec0-0000-0000-000000000001", "canary-client-secret-5ec0"
	env.Sim.AddApp(clientID, clientSecret, testenv.AllPermissions...)
	readyDirectory(t, ns, testenv.DirectoryOptions{ClientID: clientID, ClientSecret: clientSecret,
		Safety: v1alpha1.SafetySpec{AllowedDomains: []string{"contoso.com"}}})

	const given = "Canary-Given-Pw-5ec0!"
	pw := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pw", Labels: testenv.CredentialLabels()},
		Data: map[string][]byte{"value": []byte(given)}}
	generated := user(ns, "gen", "gen.canary@contoso.com")
	fromSecret := user(ns, "given", "given.canary@contoso.com")
	fromSecret.Spec.Password = &v1alpha1.PasswordSpec{SecretRef: v1alpha1.SecretKeySelector{Name: "pw", Key: "value"}}
	for _, o := range []client.Object{pw, generated, fromSecret} {
		if err := env.Client.Create(ctx(), o); err != nil {
			t.Fatal(err)
		}
	}
	var status strings.Builder
	for _, du := range []*v1alpha1.DirectoryUser{generated, fromSecret} {
		waitReason(t, du.Name, condition(du, &du.Status.Conditions, v1alpha1.ConditionReady), metav1.ConditionTrue, v1alpha1.ReasonSucceeded)
		b, _ := json.Marshal(du.Status)
		status.Write(b)
	}
	sec := &corev1.Secret{}
	if err := env.Client.Get(ctx(), client.ObjectKey{Namespace: ns, Name: "gen-initial-password"}, sec); err != nil {
		t.Fatal(err)
	}
	if !connection.IsCredential(sec) || sec.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue {
		t.Errorf("generated password Secret labels = %v", sec.Labels)
	}
	generatedPw := string(sec.Data["password"])

	logs := env.Logs()
	for _, want := range []string{`"msg":"Request Body"`, `"msg":"Response Body"`, "Graph exchange", "token exchange",
		// Protobuf bodies (the Secret create) are shown as their length only.
		"bytes, not shown>", `\"userPrincipalName\":\"gen.canary@contoso.com\"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q: the most verbose dumps did not run", want)
		}
	}
	canaries := []string{clientSecret, given, generatedPw}
	for _, c := range canaries[:] {
		canaries = append(canaries, base64.StdEncoding.EncodeToString([]byte(c)))
	}
	env.AssertNoSecrets(t, ns, status.String(), canaries...)
	if strings.Contains(logs, "Bearer ey") || strings.Contains(logs, `"access_token":"ey`) {
		t.Error("a token reached the logs")
	}
}

func user(ns, name, upn string) *v1alpha1.DirectoryUser {
	return &v1alpha1.DirectoryUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.DirectoryUserSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, UserPrincipalName: upn,
			Interval: &metav1.Duration{Duration: time.Hour}},
	}
}

// The exfiltration path: a Custom cloud naming a foreign host is Stalled
// EndpointNotAllowed and the emulator, where the Secret could be sent,
// sees no token request for that app.
func TestCustomCloudForeignHostRefused(t *testing.T) {
	ns := env.Namespace(t)
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{Name: "evil"})
	// The controller adds its finalizer meanwhile: retry on conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		env.Get(t, dir)
		dir.Spec.Cloud.AuthorityHost = "https://login.attacker.example/"
		dir.Spec.Cloud.GraphEndpoint = "https://graph.attacker.example"
		return env.Client.Update(ctx(), dir)
	}); err != nil {
		t.Fatal(err)
	}
	c := waitReason(t, "Directory", condition(dir, &dir.Status.Conditions, v1alpha1.ConditionStalled), metav1.ConditionTrue, v1alpha1.ReasonEndpointNotAllowed)
	if !strings.Contains(c.Message, "login.attacker.example") || !strings.Contains(c.Message, "--allowed-custom-hosts") {
		t.Errorf("message: %s", c.Message)
	}
}

// A Directory referencing a Secret not labelled for the operator is
// Stalled SecretNotLabelled with the command that fixes it; labelling the
// Secret makes it Ready without touching the Directory.
func TestUnlabelledSecretRefusedUntilLabelled(t *testing.T) {
	ns := env.Namespace(t)
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	waitReason(t, "Directory", condition(dir, &dir.Status.Conditions, v1alpha1.ConditionReady), metav1.ConditionTrue, v1alpha1.ReasonSucceeded)
	plain := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-config-secret"},
		Data: map[string][]byte{"clientSecret": []byte(testenv.ClientSecret)}}
	if err := env.Client.Create(ctx(), plain); err != nil {
		t.Fatal(err)
	}
	env.Get(t, dir)
	dir.Spec.Credential.ClientSecret.Name = plain.Name
	if err := env.Client.Update(ctx(), dir); err != nil {
		t.Fatal(err)
	}
	c := waitReason(t, "Directory", condition(dir, &dir.Status.Conditions, v1alpha1.ConditionStalled), metav1.ConditionTrue, v1alpha1.ReasonSecretNotLabelled)
	if want := "kubectl label secret app-config-secret -n " + ns + " entra.directory-operator.io/credential=true"; !strings.Contains(c.Message, want) {
		t.Errorf("message %q lacks %q", c.Message, want)
	}
	// The manager never cached it: its cache holds labelled Secrets only.
	if err := env.Manager.GetClient().Get(ctx(), client.ObjectKeyFromObject(plain), &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("unlabelled Secret in the manager's cache: %v", err)
	}
	env.Get(t, plain)
	plain.Labels = testenv.CredentialLabels()
	if err := env.Client.Update(ctx(), plain); err != nil {
		t.Fatal(err)
	}
	waitReason(t, "Directory", condition(dir, &dir.Status.Conditions, v1alpha1.ConditionReady), metav1.ConditionTrue, v1alpha1.ReasonSucceeded)
}

// foreignConfigMap creates a user's ConfigMap and returns a check that it
// is exactly as created.
func foreignConfigMap(t *testing.T, ns, name string) func() {
	t.Helper()
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}
	if err := env.Client.Create(ctx(), owner); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "app", UID: owner.UID}}},
		Data: map[string]string{"app.yaml": "replicas: 3"}}
	if err := env.Client.Create(ctx(), cm); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		got := &corev1.ConfigMap{}
		if err := env.Client.Get(ctx(), client.ObjectKeyFromObject(cm), got); err != nil {
			t.Fatalf("foreign ConfigMap: %v", err)
		}
		if got.ResourceVersion != cm.ResourceVersion || !reflect.DeepEqual(got.Data, cm.Data) || !reflect.DeepEqual(got.OwnerReferences, cm.OwnerReferences) {
			t.Errorf("foreign ConfigMap changed: data %v, owners %v", got.Data, got.OwnerReferences)
		}
	}
}

// A GroupSync exporting to an existing ConfigMap it did not create is
// Stalled ExportConflict; the ConfigMap keeps its data and owners.
func TestGroupSyncExportConflict(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	unchanged := foreignConfigMap(t, ns, "app-config")
	u := env.Sim.PutUser(graphsim.User{UserPrincipalName: "member.conflict@contoso.com", DisplayName: "Member", AccountEnabled: true})
	grp := env.Sim.PutGroup(graphsim.Group{DisplayName: "Conflict", SecurityEnabled: true, Members: []string{u.ID}})
	gs := &v1alpha1.GroupSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "staff"},
		Spec: v1alpha1.GroupSyncSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"},
			Group: v1alpha1.GroupSelector{ID: grp.ID}, Export: "app-config", Interval: &metav1.Duration{Duration: time.Hour}},
	}
	if err := env.Client.Create(ctx(), gs); err != nil {
		t.Fatal(err)
	}
	c := waitReason(t, "GroupSync", condition(gs, &gs.Status.Conditions, v1alpha1.ConditionStalled), metav1.ConditionTrue, v1alpha1.ReasonExportConflict)
	if !strings.Contains(c.Message, `"app-config"`) {
		t.Errorf("message does not name the ConfigMap: %s", c.Message)
	}
	unchanged()
	if err := env.Manager.GetClient().Get(ctx(), client.ObjectKey{Namespace: ns, Name: "app-config"}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("foreign ConfigMap in the manager's cache: %v", err)
	}
	// Deleting the GroupSync must not take the ConfigMap with it.
	if err := env.Client.Delete(ctx(), gs); err != nil {
		t.Fatal(err)
	}
	unchanged()
}

// A Directory's groups export meeting a foreign <name>-groups ConfigMap
// reports GroupsExported=False ExportConflict, stays Ready (its users do
// not need the export) and leaves the ConfigMap alone.
func TestDirectoryGroupsExportConflict(t *testing.T) {
	ns := env.Namespace(t)
	unchanged := foreignConfigMap(t, ns, "tenant-groups")
	dir := readyDirectory(t, ns, testenv.DirectoryOptions{Exports: v1alpha1.DirectoryExports{Groups: true}})
	waitReason(t, "Directory", condition(dir, &dir.Status.Conditions, v1alpha1.ConditionGroupsExported), metav1.ConditionFalse, v1alpha1.ReasonExportConflict)
	if !meta.IsStatusConditionTrue(dir.Status.Conditions, v1alpha1.ConditionReady) {
		t.Error("Directory not Ready because of its export")
	}
	unchanged()
}

// The same exfiltration through a DirectoryUser: an unlabelled Secret as
// spec.password would become a user's password, readable by signing in.
// It is refused (SecretNotLabelled) and no user is created.
func TestPasswordFromUnlabelledSecretRefused(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-password"},
		Data: map[string][]byte{"value": []byte("Not-For-Entra-5ec0!")}}
	du := user(ns, "thief", "thief.canary@contoso.com")
	du.Spec.Password = &v1alpha1.PasswordSpec{SecretRef: v1alpha1.SecretKeySelector{Name: other.Name, Key: "value"}}
	for _, o := range []client.Object{other, du} {
		if err := env.Client.Create(ctx(), o); err != nil {
			t.Fatal(err)
		}
	}
	c := waitReason(t, "DirectoryUser", condition(du, &du.Status.Conditions, v1alpha1.ConditionReady), metav1.ConditionFalse, v1alpha1.ReasonSecretNotLabelled)
	if !strings.Contains(c.Message, "kubectl label secret db-password") {
		t.Errorf("message: %s", c.Message)
	}
	if _, found := env.Sim.GetUser("thief.canary@contoso.com"); found {
		t.Error("user created with an unlabelled Secret's value as password")
	}
}
