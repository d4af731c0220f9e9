// Package admission holds the bad-input table: every invalid spec the CRDs
// refuse, applied to a real kube-apiserver, with the exact message a user
// sees from kubectl apply. A rule that silently stops rejecting (a marker
// lost in a refactor) fails here.
package admission

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

var kube client.Client

func TestMain(m *testing.M) {
	root := testenv.Root()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: filepath.Join(root, "bin", "k8s"),
	}
	cfg, err := env.Start()
	if err != nil {
		panic("starting envtest (run `make envtest`): " + err.Error())
	}
	scheme := runtime.NewScheme()
	_ = v1alpha1.AddToScheme(scheme)
	if kube, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		panic(err)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func str(s string) *string { return &s }
func dur(d time.Duration) *metav1.Duration {
	return &metav1.Duration{Duration: d}
}

func int32p(v int32) *int32 { return &v }

func clusterDirectory(edit func(*v1alpha1.ClusterDirectorySpec)) client.Object {
	d := &v1alpha1.ClusterDirectory{ObjectMeta: metav1.ObjectMeta{GenerateName: "bad-"},
		Spec: v1alpha1.ClusterDirectorySpec{DirectorySpec: v1alpha1.DirectorySpec{TenantID: "t", ClientID: "c",
			Credential: v1alpha1.DirectoryCredential{ClientSecret: &v1alpha1.SecretKeySelector{Name: "s", Key: "k"}}},
			CredentialNamespace: "platform", AllowedNamespaces: v1alpha1.AllowedNamespaces{Names: []string{"a"}}}}
	edit(&d.Spec)
	return d
}

func user(edit func(*v1alpha1.DirectoryUserSpec)) client.Object {
	du := &v1alpha1.DirectoryUser{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "bad-"},
		Spec: v1alpha1.DirectoryUserSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, UserPrincipalName: "ok@contoso.com"}}
	edit(&du.Spec)
	return du
}

func groupSync(edit func(*v1alpha1.GroupSyncSpec)) client.Object {
	gs := &v1alpha1.GroupSync{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "bad-"},
		Spec: v1alpha1.GroupSyncSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, Group: v1alpha1.GroupSelector{ID: "g"}}}
	edit(&gs.Spec)
	return gs
}

func batch(edit func(*v1alpha1.UserDisableBatchSpec)) client.Object {
	b := &v1alpha1.UserDisableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "bad-"},
		Spec: v1alpha1.UserDisableBatchSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, Users: []string{"a@contoso.com"}}}
	edit(&b.Spec)
	return b
}

func undo(edit func(*v1alpha1.UserEnableBatchSpec)) client.Object {
	b := &v1alpha1.UserEnableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "bad-"},
		Spec: v1alpha1.UserEnableBatchSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}, FromBatch: "incident"}}
	edit(&b.Spec)
	return b
}

func directory(edit func(*v1alpha1.DirectorySpec)) client.Object {
	d := &v1alpha1.Directory{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "bad-"},
		Spec: v1alpha1.DirectorySpec{TenantID: "t", ClientID: "c",
			Credential: v1alpha1.DirectoryCredential{ClientSecret: &v1alpha1.SecretKeySelector{Name: "s", Key: "k"}}}}
	edit(&d.Spec)
	return d
}

// TestBadInputIsRefusedAtAdmission: each row is refused by the API server
// with a message that names the field and the rule.
func TestBadInputIsRefusedAtAdmission(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	rows := []struct {
		name string
		obj  client.Object
		want string
	}{
		{"zero user interval", user(func(s *v1alpha1.DirectoryUserSpec) { s.Interval = dur(0) }), "spec.interval: Invalid value: \"0s\": interval must be a positive duration such as 10m"},
		{"negative user interval", user(func(s *v1alpha1.DirectoryUserSpec) { s.Interval = dur(-time.Minute) }), "interval must be a positive duration"},
		{"jobTitle over 128", user(func(s *v1alpha1.DirectoryUserSpec) { s.JobTitle = str(long(5000)) }), "spec.jobTitle: Too long: may not be more than 128"},
		{"givenName over 64", user(func(s *v1alpha1.DirectoryUserSpec) { s.GivenName = long(2000) }), "spec.givenName: Too long: may not be more than 64"},
		{"surname over 64", user(func(s *v1alpha1.DirectoryUserSpec) { s.Surname = long(65) }), "spec.surname: Too long: may not be more than 64"},
		{"department over 64", user(func(s *v1alpha1.DirectoryUserSpec) { s.Department = str(long(65)) }), "spec.department: Too long: may not be more than 64"},
		{"officeLocation over 128", user(func(s *v1alpha1.DirectoryUserSpec) { s.OfficeLocation = str(long(129)) }), "spec.officeLocation: Too long: may not be more than 128"},
		{"employeeId over 16", user(func(s *v1alpha1.DirectoryUserSpec) { s.EmployeeID = str(long(17)) }), "spec.employeeId: Too long: may not be more than 16"},
		{"displayName over 256", user(func(s *v1alpha1.DirectoryUserSpec) { s.DisplayName = long(257) }), "spec.displayName: Too long: may not be more than 256"},
		{"non-ASCII UPN", user(func(s *v1alpha1.DirectoryUserSpec) { s.UserPrincipalName = "jürgen@contoso.com" }), "spec.userPrincipalName: Invalid value: \"jürgen@contoso.com\": spec.userPrincipalName in body should match"},
		{"UPN without domain", user(func(s *v1alpha1.DirectoryUserSpec) { s.UserPrincipalName = "nobody" }), "spec.userPrincipalName in body should match"},
		{"UPN local part over 64", user(func(s *v1alpha1.DirectoryUserSpec) { s.UserPrincipalName = long(65) + "@contoso.com" }), "spec.userPrincipalName in body should match"},
		{"bad usageLocation", user(func(s *v1alpha1.DirectoryUserSpec) { s.UsageLocation = "usa" }), "usageLocation must be a two-letter ISO 3166 country code such as US"},
		{"bad mailNickname", user(func(s *v1alpha1.DirectoryUserSpec) { s.MailNickname = "a b" }), "spec.mailNickname in body should match"},
		{"manager with both refs", user(func(s *v1alpha1.DirectoryUserSpec) {
			s.Manager = &v1alpha1.ManagerReference{UserRef: &v1alpha1.LocalObjectReference{Name: "m"}, UserPrincipalName: "m@contoso.com"}
		}), "manager must set exactly one of userRef or userPrincipalName"},
		{"unknown deletionPolicy", user(func(s *v1alpha1.DirectoryUserSpec) { s.DeletionPolicy = "Purge" }), "spec.deletionPolicy: Unsupported value: \"Purge\""},
		{"unknown managementPolicy", user(func(s *v1alpha1.DirectoryUserSpec) { s.ManagementPolicy = "Some" }), "spec.managementPolicy: Unsupported value: \"Some\""},
		{"no directory", user(func(s *v1alpha1.DirectoryUserSpec) { s.DirectoryRef.Name = "" }), "spec.directoryRef.name: Invalid value: \"\": spec.directoryRef.name in body should be at least 1 chars long"},

		{"zero GroupSync interval", groupSync(func(s *v1alpha1.GroupSyncSpec) { s.Interval = dur(0) }), "interval must be at least 1m"},
		{"GroupSync interval under 1m", groupSync(func(s *v1alpha1.GroupSyncSpec) { s.Interval = dur(10 * time.Second) }), "interval must be at least 1m"},
		{"negative retention", groupSync(func(s *v1alpha1.GroupSyncSpec) { s.Retention = dur(-time.Hour) }), "retention must be a positive duration such as 720h"},
		{"export not a ConfigMap name", groupSync(func(s *v1alpha1.GroupSyncSpec) { s.Export = "App_Config" }), "spec.export in body should match"},
		{"group with id and name", groupSync(func(s *v1alpha1.GroupSyncSpec) { s.Group.DisplayName = "x" }), "group must set exactly one of id or displayName"},

		{"batch with users and group", batch(func(s *v1alpha1.UserDisableBatchSpec) {
			s.Group = &v1alpha1.BatchGroupSelector{GroupSelector: v1alpha1.GroupSelector{ID: "g"}}
		}), "set exactly one of users, group, filter or inactiveFor"},
		{"batch with filter and inactiveFor", batch(func(s *v1alpha1.UserDisableBatchSpec) {
			s.Users, s.Filter, s.InactiveFor = nil, "department eq 'Sales'", dur(90*24*time.Hour)
		}), "set exactly one of users, group, filter or inactiveFor"},
		{"batch with neither users nor a selection", batch(func(s *v1alpha1.UserDisableBatchSpec) { s.Users = nil }), "set exactly one of users, group, filter or inactiveFor"},
		{"batch inactiveFor under a day", batch(func(s *v1alpha1.UserDisableBatchSpec) { s.Users, s.InactiveFor = nil, dur(time.Hour) }), "inactiveFor must be at least 24h"},
		{"batch with an empty user", batch(func(s *v1alpha1.UserDisableBatchSpec) { s.Users = []string{""} }), "spec.users[0]: Invalid value: \"\": spec.users[0] in body should be at least 1 chars long"},
		{"batch over 5000 users", batch(func(s *v1alpha1.UserDisableBatchSpec) {
			s.Users = make([]string, 5001)
			for i := range s.Users {
				s.Users[i] = "u"
			}
		}), "spec.users: Too many: 5001: must have at most 5000 items"},

		{"undo with users and fromBatch", undo(func(s *v1alpha1.UserEnableBatchSpec) { s.Users = []string{"a@contoso.com"} }), "set exactly one of users or fromBatch"},
		{"undo with neither users nor fromBatch", undo(func(s *v1alpha1.UserEnableBatchSpec) { s.FromBatch = "" }), "set exactly one of users or fromBatch"},
		{"undo fromBatch not a name", undo(func(s *v1alpha1.UserEnableBatchSpec) { s.FromBatch = "Incident_1" }), "spec.fromBatch in body should match"},
		{"undo retention under 1h", undo(func(s *v1alpha1.UserEnableBatchSpec) { s.ExportRetention = dur(time.Minute) }), "exportRetention must be at least 1h"},

		{"two credentials", directory(func(s *v1alpha1.DirectorySpec) {
			s.Credential.WorkloadIdentity = &v1alpha1.WorkloadIdentityCredential{}
		}),
			"credential must set exactly one of clientSecret, clientCertificate or workloadIdentity"},
		{"Custom cloud without endpoints", directory(func(s *v1alpha1.DirectorySpec) { s.Cloud.Name = v1alpha1.CloudCustom }), "cloud Custom requires authorityHost and graphEndpoint"},
		{"Directory interval under 1s", directory(func(s *v1alpha1.DirectorySpec) { s.Interval = dur(time.Millisecond) }), "interval must be at least 1s"},
		{"unknown cloud", directory(func(s *v1alpha1.DirectorySpec) { s.Cloud.Name = "Mars" }), "spec.cloud.name: Unsupported value: \"Mars\""},
		{"app-wide writes 0", directory(func(s *v1alpha1.DirectorySpec) { s.Throttle.AppWritesPer5m = int32p(0) }), "spec.throttle.appWritesPer5m: Invalid value: 0: spec.throttle.appWritesPer5m in body should be greater than or equal to 1"},
		{"unknown directoryRef kind", user(func(s *v1alpha1.DirectoryUserSpec) { s.DirectoryRef.Kind = "Tenant" }), "spec.directoryRef.kind: Unsupported value: \"Tenant\""},
		{"ClusterDirectory without credentialNamespace", clusterDirectory(func(s *v1alpha1.ClusterDirectorySpec) { s.CredentialNamespace = "" }), "spec.credentialNamespace: Invalid value: \"\": spec.credentialNamespace in body should be at least 1 chars long"},
		{"ClusterDirectory groups export", clusterDirectory(func(s *v1alpha1.ClusterDirectorySpec) { s.Exports.Groups = true }), "exports.groups is not supported on a ClusterDirectory"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			err := kube.Create(context.Background(), row.obj)
			if err == nil {
				_ = kube.Delete(context.Background(), row.obj)
				t.Fatalf("accepted; want refusal with %q", row.want)
			}
			if !strings.Contains(err.Error(), row.want) {
				t.Errorf("refused with\n  %v\nwant the message to contain\n  %s", err, row.want)
			}
		})
	}
}
