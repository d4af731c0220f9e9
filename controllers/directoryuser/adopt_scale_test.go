package directoryuser_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// Adopting a whole tenant: hundreds of DirectoryUsers for users that
// already exist are applied at once. Their users come from one users/delta
// enumeration instead of a read each, and each still ends with its live
// state in status, its manager's UPN included.
func TestAdoptingManyUsersEnumeratesOnce(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	const n = 240
	boss := env.Sim.PutUser(graphsim.User{UserPrincipalName: "ada.boss@contoso.com", DisplayName: "Ada Boss", MailNickname: "ada.boss", AccountEnabled: true})
	dus := make([]*v1alpha1.DirectoryUser, n)
	for i := range n {
		upn := fmt.Sprintf("adopt.many%03d@contoso.com", i)
		g := graphsim.User{UserPrincipalName: upn, DisplayName: fmt.Sprintf("Adopted %03d", i), MailNickname: fmt.Sprintf("adopt.many%03d", i),
			JobTitle: "Engineer", AccountEnabled: true}
		if i == 0 {
			g.ManagerID = boss.ID
		}
		env.Sim.PutUser(g)
		du := newUser(ns, fmt.Sprintf("adopt-many-%03d", i), upn)
		du.Spec.Adopt = true
		du.Spec.DisplayName = g.DisplayName
		du.Spec.JobTitle = str("Engineer")
		du.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
		dus[i] = du
	}
	dus[1].Spec.JobTitle = str("Principal Engineer")

	before := env.Sim.Counters()
	createMany(t, dus)
	cleanup(t, dus...)
	waitAllReady(t, ns, n, 2*time.Minute)
	delta := graphDelta(before, env.Sim.Counters())
	reads := endpoint(delta, "GET /users/{id}")
	t.Logf("%d adoptions: Graph saw %s; GET /users/{id} %d, GET /users/delta %d", n, describe(delta), reads, endpoint(delta, "GET /users/delta"))

	// The reconciles that run before the 100th DirectoryUser arrives read
	// their user themselves; every later one takes it from the enumeration.
	if reads > 110 {
		t.Errorf("GET /users/{id} = %d for %d adoptions: the enumeration was not used", reads, n)
	}
	if endpoint(delta, "GET /users/delta") == 0 {
		t.Errorf("no users/delta request: no enumeration")
	}
	for i, du := range dus {
		env.Get(t, du)
		g := simUser(t, du.Spec.UserPrincipalName)
		if du.Status.ID != g.ID || !du.Status.Adopted || du.Status.JobTitle != g.JobTitle || du.Status.CreatedDateTime == nil {
			t.Errorf("%s: status id %q adopted %v jobTitle %q created %v; emulator %s %q", du.Name, du.Status.ID, du.Status.Adopted, du.Status.JobTitle, du.Status.CreatedDateTime, g.ID, g.JobTitle)
		}
		if i == 0 && du.Status.ManagerUserPrincipalName != boss.UserPrincipalName {
			t.Errorf("%s: manager %q in status, want %s", du.Name, du.Status.ManagerUserPrincipalName, boss.UserPrincipalName)
		}
	}
	if g := simUser(t, dus[1].Spec.UserPrincipalName); g.JobTitle != "Principal Engineer" {
		t.Errorf("adopted user with a different spec: jobTitle %q in Graph, want the spec's", g.JobTitle)
	}
}
