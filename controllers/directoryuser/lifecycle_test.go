package directoryuser_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/directoryuser"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

func TestCreateUpdateAndRevertDrift(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	du := newUser(ns, "alice", "alice.create@contoso.com")
	du.Spec.DisplayName = "Alice Create"
	du.Spec.JobTitle = str("Engineer")
	du.Spec.Interval = &metav1.Duration{Duration: 2 * time.Second}
	create(t, du)
	cleanup(t, du)

	waitReady(t, du)
	if du.Status.ID == "" || du.Status.UserPrincipalName != "alice.create@contoso.com" || du.Status.JobTitle != "Engineer" ||
		du.Status.AccountEnabled == nil || !*du.Status.AccountEnabled || du.Status.CreatedDateTime == nil || du.Status.LastSyncTime == nil {
		t.Fatalf("status does not show the live user: %+v", du.Status)
	}
	if !slices.Contains(du.Finalizers, directoryuser.Finalizer) {
		t.Errorf("finalizer missing: %v", du.Finalizers)
	}
	u := simUser(t, du.Status.ID)
	if u.DisplayName != "Alice Create" || u.JobTitle != "Engineer" || u.MailNickname != "alice.create" || !u.AccountEnabled {
		t.Errorf("emulator user not as specified: %+v", u)
	}
	// The generated password is in the owned Secret and is the one Graph got.
	password := secretValue(t, ns, "alice-initial-password", directoryuser.PasswordKey)
	if password == "" || u.Password != password {
		t.Errorf("generated password not stored or not the one set in Graph")
	}
	sec := &corev1.Secret{}
	sec.Namespace, sec.Name = ns, "alice-initial-password"
	env.Get(t, sec)
	if !metav1.IsControlledBy(sec, du) {
		t.Errorf("password Secret not owned by the DirectoryUser: %+v", sec.OwnerReferences)
	}

	// A spec edit reaches Graph with one PATCH of the edited field.
	patchesBefore := endpoint(env.Sim.Counters(), "PATCH /users/{id}")
	update(t, du, func(d *v1alpha1.DirectoryUser) { d.Spec.JobTitle = str("Staff Engineer") })
	testenv.Eventually(t, 20*time.Second, "jobTitle updated in Graph", func() bool {
		return simUser(t, du.Status.ID).JobTitle == "Staff Engineer"
	})
	waitReady(t, du)
	if du.Status.JobTitle != "Staff Engineer" {
		t.Errorf("status.jobTitle = %q", du.Status.JobTitle)
	}

	// An out-of-band change to a managed field is reverted at the next
	// resync; an unmanaged field another tool set is left alone.
	env.Sim.UpdateUser(du.Status.ID, func(u *graphsim.User) {
		u.JobTitle = "Changed In Portal"
		u.OfficeLocation = "Building 7"
	})
	testenv.Eventually(t, 20*time.Second, "drift reverted", func() bool {
		return simUser(t, du.Status.ID).JobTitle == "Staff Engineer"
	})
	if got := simUser(t, du.Status.ID).OfficeLocation; got != "Building 7" {
		t.Errorf("unmanaged officeLocation was clobbered: %q", got)
	}
	if p := endpoint(env.Sim.Counters(), "PATCH /users/{id}") - patchesBefore; p != 2 {
		t.Errorf("PATCH requests = %d, want 2 (spec edit, drift revert)", p)
	}
	testenv.Eventually(t, 10*time.Second, "drift event", func() bool {
		return slices.ContainsFunc(env.Events(t, ns), func(e string) bool { return strings.HasPrefix(e, v1alpha1.ReasonDrifted+": Reverted") })
	})
	env.AssertNoSecrets(t, ns, statusText(t, du), password)
}

func TestObserveOnlyNeverWrites(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	live := env.Sim.PutUser(graphsim.User{UserPrincipalName: "olivia.observed@contoso.com", DisplayName: "Olivia", MailNickname: "olivia", AccountEnabled: true, JobTitle: "Analyst"})
	boss := env.Sim.PutUser(graphsim.User{UserPrincipalName: "observed.boss@contoso.com", DisplayName: "Boss", MailNickname: "oboss", AccountEnabled: true})
	postsBefore := endpoint(env.Sim.Counters(), "POST /users")

	du := newUser(ns, "olivia", live.UserPrincipalName)
	du.Spec.ManagementPolicy = v1alpha1.ManagementObserveOnly
	du.Spec.JobTitle = str("Director")
	du.Spec.AccountEnabled = boolp(false)
	du.Spec.Manager = &v1alpha1.ManagerReference{UserPrincipalName: boss.UserPrincipalName}
	du.Spec.Interval = &metav1.Duration{Duration: time.Second}
	absent := newUser(ns, "nobody", "nobody.observed@contoso.com")
	absent.Spec.ManagementPolicy = v1alpha1.ManagementObserveOnly
	create(t, du, absent)

	c := waitCondition(t, du, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonDrifted, 30*time.Second)
	if want := []string{"accountEnabled", "jobTitle", "manager"}; !slices.Equal(du.Status.Drift, want) {
		t.Errorf("status.drift = %v, want %v", du.Status.Drift, want)
	}
	if !strings.Contains(c.Message, "jobTitle") || du.Status.JobTitle != "Analyst" {
		t.Errorf("drift not shown: %q, status.jobTitle=%q", c.Message, du.Status.JobTitle)
	}
	waitCondition(t, absent, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonUserNotFound, 30*time.Second)

	// Several resyncs later, and after deletion, nothing was written.
	time.Sleep(3 * time.Second)
	if err := env.Client.Delete(ctx(), du); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "ObserveOnly user released", func() bool { return gone(t, du) })
	cnt := env.Sim.Counters()
	if w := cnt.UserWrites[live.ID]; w != 0 {
		t.Errorf("ObserveOnly made %d writes to the user", w)
	}
	if p := endpoint(cnt, "POST /users") - postsBefore; p != 0 {
		t.Errorf("ObserveOnly made %d POST /users", p)
	}
	if u := simUser(t, live.ID); u.JobTitle != "Analyst" || !u.AccountEnabled || u.ManagerID != "" {
		t.Errorf("ObserveOnly changed the user: %+v", u)
	}
	if _, ok := env.Sim.GetUser(absent.Spec.UserPrincipalName); ok {
		t.Errorf("ObserveOnly created a user")
	}
}

func TestAdoptKeepsPasswordAndUnmanagedFields(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	const original = "Orig-Passw0rd!"
	live := env.Sim.PutUser(graphsim.User{UserPrincipalName: "adam.adopted@contoso.com", DisplayName: "Adam", MailNickname: "adam",
		AccountEnabled: true, Department: "Sales", Password: original})

	du := newUser(ns, "adam", live.UserPrincipalName)
	du.Spec.Adopt = true
	du.Spec.JobTitle = str("Lead")
	create(t, du)
	cleanup(t, du)
	waitReady(t, du)

	if du.Status.ID != live.ID || !du.Status.Adopted {
		t.Errorf("status: id=%q adopted=%v, want %q adopted", du.Status.ID, du.Status.Adopted, live.ID)
	}
	u := simUser(t, live.ID)
	if u.JobTitle != "Lead" || u.Department != "Sales" || u.Password != original {
		t.Errorf("adoption changed more than the managed field: jobTitle=%q department=%q passwordChanged=%v", u.JobTitle, u.Department, u.Password != original)
	}
	if err := env.Client.Get(ctx(), objectKey(ns, "adam-initial-password"), &corev1.Secret{}); err == nil {
		t.Errorf("a password Secret was generated for an adopted user")
	}
}

func TestUPNConflictStallsUntilAdopted(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	live := env.Sim.PutUser(graphsim.User{UserPrincipalName: "carl.conflict@contoso.com", DisplayName: "Carl", MailNickname: "carl", AccountEnabled: true})

	du := newUser(ns, "carl", live.UserPrincipalName)
	du.Spec.JobTitle = str("Mine Now")
	create(t, du)
	cleanup(t, du)
	c := waitCondition(t, du, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonUserExists, 30*time.Second)
	if !strings.Contains(c.Message, "adopt") {
		t.Errorf("message should say how to proceed: %q", c.Message)
	}
	if w := env.Sim.Counters().UserWrites[live.ID]; w != 0 {
		t.Errorf("%d writes to a user that was not adopted", w)
	}
	if du.Status.ID != "" {
		t.Errorf("status.id recorded for a user that is not ours: %q", du.Status.ID)
	}

	update(t, du, func(d *v1alpha1.DirectoryUser) { d.Spec.Adopt = true })
	waitReady(t, du)
	if simUser(t, live.ID).JobTitle != "Mine Now" {
		t.Errorf("adopted user not updated")
	}
}

func TestDisallowedDomainStallsWithoutWrites(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{Safety: v1alpha1.SafetySpec{AllowedDomains: []string{"contoso.com"}}})
	du := newUser(ns, "frank", "frank.domain@fabrikam.com")
	create(t, du)
	cleanup(t, du)
	waitCondition(t, du, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonDomainNotAllowed, 30*time.Second)
	if _, ok := env.Sim.GetUser(du.Spec.UserPrincipalName); ok {
		t.Errorf("user created in a disallowed domain")
	}
	if err := env.Client.Get(ctx(), objectKey(ns, "frank-initial-password"), &corev1.Secret{}); err == nil {
		t.Errorf("a password was generated for a user that may not be created")
	}

	// Renaming into a disallowed domain is refused the same way.
	ok := newUser(ns, "grace", "grace.domain@contoso.com")
	create(t, ok)
	cleanup(t, ok)
	waitReady(t, ok)
	update(t, ok, func(d *v1alpha1.DirectoryUser) { d.Spec.UserPrincipalName = "grace.domain@fabrikam.com" })
	waitCondition(t, ok, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonDomainNotAllowed, 30*time.Second)
	if simUser(t, ok.Status.ID).UserPrincipalName != "grace.domain@contoso.com" {
		t.Errorf("user renamed into a disallowed domain")
	}
}

func TestRenameIsAPatch(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	du := newUser(ns, "rita", "rita.before@contoso.com")
	create(t, du)
	cleanup(t, du)
	waitReady(t, du)
	id := du.Status.ID
	postsBefore := endpoint(env.Sim.Counters(), "POST /users")

	update(t, du, func(d *v1alpha1.DirectoryUser) { d.Spec.UserPrincipalName = "rita.after@contoso.com" })
	testenv.Eventually(t, 20*time.Second, "renamed", func() bool {
		u, ok := env.Sim.GetUser(id)
		return ok && u.UserPrincipalName == "rita.after@contoso.com"
	})
	waitReady(t, du)
	if du.Status.ID != id || du.Status.UserPrincipalName != "rita.after@contoso.com" {
		t.Errorf("status after rename: id=%q upn=%q", du.Status.ID, du.Status.UserPrincipalName)
	}
	cnt := env.Sim.Counters()
	if p := endpoint(cnt, "POST /users") - postsBefore; p != 0 {
		t.Errorf("rename created %d users", p)
	}
	if _, ok := env.Sim.GetUser("rita.before@contoso.com"); ok {
		t.Errorf("old UPN still resolves")
	}
}

func TestProtectedUserIsNeverDisabledOrDeleted(t *testing.T) {
	ns := env.Namespace(t)
	ceo := env.Sim.PutUser(graphsim.User{UserPrincipalName: "ceo.protected@contoso.com", DisplayName: "CEO", MailNickname: "ceo", AccountEnabled: true})
	readyDirectory(t, ns, testenv.DirectoryOptions{Safety: v1alpha1.SafetySpec{ProtectedUsers: []string{"CEO.Protected@contoso.com"}}})

	du := newUser(ns, "ceo", ceo.UserPrincipalName)
	du.Spec.Adopt = true
	du.Spec.AccountEnabled = boolp(false)
	create(t, du)
	waitCondition(t, du, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonProtectedUser, 30*time.Second)
	if !simUser(t, ceo.ID).AccountEnabled {
		t.Fatalf("protected user was disabled")
	}

	// Managing the protected user's other fields is fine; deleting the
	// resource (deletionPolicy Delete) leaves the user alone.
	update(t, du, func(d *v1alpha1.DirectoryUser) {
		d.Spec.AccountEnabled = boolp(true)
		d.Spec.JobTitle = str("Chief Executive")
	})
	waitReady(t, du)
	if err := env.Client.Delete(ctx(), du); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "protected user's resource released", func() bool { return gone(t, du) })
	u := simUser(t, ceo.ID)
	if !u.AccountEnabled || u.JobTitle != "Chief Executive" {
		t.Errorf("protected user changed by deletion: %+v", u)
	}
	testenv.Eventually(t, 10*time.Second, "ProtectedUser event", func() bool {
		return slices.ContainsFunc(env.Events(t, ns), func(e string) bool { return strings.HasPrefix(e, v1alpha1.ReasonProtectedUser+":") })
	})
}

func TestDeletionPolicies(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	del := newUser(ns, "del", "dora.delete@contoso.com")
	dis := newUser(ns, "dis", "dan.disable@contoso.com")
	dis.Spec.DeletionPolicy = v1alpha1.DeletionDisable
	orp := newUser(ns, "orp", "otto.orphan@contoso.com")
	orp.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
	vanished := newUser(ns, "vanished", "vera.vanished@contoso.com")
	all := []*v1alpha1.DirectoryUser{del, dis, orp, vanished}
	for _, du := range all {
		create(t, du)
	}
	ids := map[string]string{}
	for _, du := range all {
		waitReady(t, du)
		ids[du.Name] = du.Status.ID
	}
	// Deleted out of band: the 404 on DELETE counts as done.
	env.Sim.DeleteUser(ids["vanished"])

	for _, du := range all {
		if err := env.Client.Delete(ctx(), du); err != nil {
			t.Fatal(err)
		}
	}
	for _, du := range all {
		testenv.Eventually(t, 20*time.Second, du.Name+" released", func() bool { return gone(t, du) })
	}
	if _, ok := env.Sim.GetUser(ids["del"]); ok {
		t.Errorf("Delete: user still exists")
	}
	if !slices.ContainsFunc(env.Sim.DeletedUsers(), func(u graphsim.User) bool { return u.ID == ids["del"] }) {
		t.Errorf("Delete: user not in deleted items (soft delete)")
	}
	if u := simUser(t, ids["dis"]); u.AccountEnabled {
		t.Errorf("Disable: user still enabled")
	}
	if u := simUser(t, ids["orp"]); !u.AccountEnabled {
		t.Errorf("Orphan: user was disabled")
	}
	if w := env.Sim.Counters().UserWrites[ids["orp"]]; w != 1 {
		t.Errorf("Orphan: %d writes to the user, want 1 (its creation)", w)
	}
}

func TestDeletionRespectsMaxDeletionsPerHour(t *testing.T) {
	ns := env.Namespace(t)
	one := int32(1)
	readyDirectory(t, ns, testenv.DirectoryOptions{Safety: v1alpha1.SafetySpec{MaxDeletionsPerHour: &one}})
	a, b := newUser(ns, "first", "hal.first@contoso.com"), newUser(ns, "second", "hal.second@contoso.com")
	create(t, a, b)
	waitReady(t, a)
	waitReady(t, b)
	ids := []string{a.Status.ID, b.Status.ID}
	for _, du := range []*v1alpha1.DirectoryUser{a, b} {
		if err := env.Client.Delete(ctx(), du); err != nil {
			t.Fatal(err)
		}
	}
	var held *v1alpha1.DirectoryUser
	testenv.Eventually(t, 20*time.Second, "one deleted, one held back", func() bool {
		ga, gb := gone(t, a), gone(t, b)
		switch {
		case ga && !gb:
			held = b
		case gb && !ga:
			held = a
		default:
			return false
		}
		c := condition(t, held, v1alpha1.ConditionReady)
		return c != nil && c.Reason == v1alpha1.ReasonDeletionHeld
	})
	c := condition(t, held, v1alpha1.ConditionReady)
	if !strings.Contains(c.Message, "1 deletions per hour") {
		t.Errorf("held-back message should name the limit: %q", c.Message)
	}
	remaining := 0
	for _, id := range ids {
		if _, ok := env.Sim.GetUser(id); ok {
			remaining++
		}
	}
	if remaining != 1 {
		t.Errorf("%d users left in Graph, want 1", remaining)
	}

	// The deletion is recorded in the Directory's status, so a restarted
	// manager (a fresh limiter) still holds the second one back.
	dir := &v1alpha1.Directory{}
	if err := env.Client.Get(ctx(), client.ObjectKey{Namespace: ns, Name: "tenant"}, dir); err != nil {
		t.Fatal(err)
	}
	if w := dir.Status.DeletionWindow; len(w) != 1 || w[0].Count != 1 {
		t.Fatalf("status.deletionWindow = %+v, want one deletion", w)
	}
	if ok, wait, err := connection.NewDeletionLimiter(nil).Allow(ctx(), dir); ok || err != nil || wait < 59*time.Minute {
		t.Errorf("fresh limiter: ok=%v wait=%v err=%v; want the recorded deletion to hold the next one for about an hour", ok, wait, err)
	}
}

func TestManagerByRefAndByUPN(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	// The report is created before its manager: it waits, then converges
	// as soon as the manager's DirectoryUser has an object ID.
	worker := newUser(ns, "worker", "wes.worker@contoso.com")
	worker.Spec.Manager = &v1alpha1.ManagerReference{UserRef: &v1alpha1.LocalObjectReference{Name: "boss"}}
	create(t, worker)
	cleanup(t, worker)
	waitCondition(t, worker, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonWaitingForManager, 30*time.Second)

	boss := newUser(ns, "boss", "bea.boss@contoso.com")
	create(t, boss)
	cleanup(t, boss)
	waitReady(t, boss)
	waitReady(t, worker)
	if got := simUser(t, worker.Status.ID).ManagerID; got != boss.Status.ID {
		t.Errorf("manager in Graph = %q, want %q", got, boss.Status.ID)
	}
	if worker.Status.ManagerUserPrincipalName != "bea.boss@contoso.com" {
		t.Errorf("status.managerUserPrincipalName = %q", worker.Status.ManagerUserPrincipalName)
	}

	// By UPN, for a manager that does not exist yet.
	byUPN := newUser(ns, "newhire", "nina.newhire@contoso.com")
	byUPN.Spec.Manager = &v1alpha1.ManagerReference{UserPrincipalName: "late.manager@contoso.com"}
	create(t, byUPN)
	cleanup(t, byUPN)
	c := waitCondition(t, byUPN, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonWaitingForManager, 30*time.Second)
	if !strings.Contains(c.Message, "late.manager@contoso.com") {
		t.Errorf("waiting message should name the manager: %q", c.Message)
	}
	if byUPN.Status.ID == "" {
		t.Errorf("the user itself should exist while its manager is awaited")
	}
	late := env.Sim.PutUser(graphsim.User{UserPrincipalName: "late.manager@contoso.com", DisplayName: "Late", MailNickname: "late", AccountEnabled: true})
	waitReady(t, byUPN)
	if got := simUser(t, byUPN.Status.ID).ManagerID; got != late.ID {
		t.Errorf("manager in Graph = %q, want %q", got, late.ID)
	}
	if byUPN.Status.ManagerUserPrincipalName != "late.manager@contoso.com" {
		t.Errorf("status.managerUserPrincipalName = %q", byUPN.Status.ManagerUserPrincipalName)
	}
}

func TestPasswordFromSecretNeverLeaks(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	const password = "Pw-From-Secret-9f3a!"
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pw", Labels: testenv.CredentialLabels()}, Data: map[string][]byte{"value": []byte(password)}})
	du := newUser(ns, "paula", "paula.password@contoso.com")
	du.Spec.Password = &v1alpha1.PasswordSpec{SecretRef: v1alpha1.SecretKeySelector{Name: "pw", Key: "value"}, ForceChangeNextSignIn: boolp(false)}
	gen := newUser(ns, "gene", "gene.generated@contoso.com")
	create(t, du, gen)
	cleanup(t, du, gen)
	waitReady(t, du)
	waitReady(t, gen)
	if simUser(t, du.Status.ID).Password != password {
		t.Errorf("password from the Secret not set")
	}
	generated := secretValue(t, ns, "gene-initial-password", directoryuser.PasswordKey)
	if simUser(t, gen.Status.ID).Password != generated {
		t.Errorf("generated password not the one set")
	}
	if err := env.Client.Get(ctx(), objectKey(ns, "paula-initial-password"), &corev1.Secret{}); err == nil {
		t.Errorf("a password was generated although spec.password was set")
	}
	env.AssertNoSecrets(t, ns, statusText(t, du, gen), password, generated, testenv.ClientSecret)
}

func TestSampleConverges(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	raw, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "samples", "entra_v1alpha1_directoryuser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dus []*v1alpha1.DirectoryUser
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		du := &v1alpha1.DirectoryUser{}
		if err := yaml.UnmarshalStrict([]byte(doc), du); err != nil {
			t.Fatalf("sample does not decode: %v", err)
		}
		du.Namespace = ns
		dus = append(dus, du)
	}
	if len(dus) != 2 {
		t.Fatalf("sample has %d DirectoryUsers, want 2", len(dus))
	}
	// Reverse order: the report first, so it has to wait for its manager.
	create(t, dus[1], dus[0])
	cleanup(t, dus...)
	for _, du := range dus {
		waitReady(t, du)
	}
	report, manager := dus[1], dus[0]
	if got := simUser(t, report.Status.ID).ManagerID; got != manager.Status.ID {
		t.Errorf("sample manager not set: %q, want %q", got, manager.Status.ID)
	}
}
