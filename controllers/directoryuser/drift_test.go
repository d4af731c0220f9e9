package directoryuser_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// Idle users cost one users/delta poll per Directory, not one GET per user
// per interval; an out-of-band edit is still found (by the delta) and reverted.
func TestIdleUsersAreWatchedByDeltaNotByReads(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	users := readyAnalysts(t, ns, "idle", 5)
	// Let every user be read once after the watcher's delta link exists.
	time.Sleep(4 * time.Second)

	before := env.Sim.Counters()
	time.Sleep(5 * time.Second)
	after := env.Sim.Counters()
	reads := endpoint(after, "GET /users/{id}") - endpoint(before, "GET /users/{id}")
	polls := endpoint(after, "GET /users/delta") - endpoint(before, "GET /users/delta")
	t.Logf("5 idle users with a 1 s interval over 5 s: %d user reads, %d delta polls", reads, polls)
	if reads > 2 {
		t.Errorf("idle users were read %d times in 5 s; the delta watcher should make reads unnecessary", reads)
	}
	if polls == 0 || polls > 8 {
		t.Errorf("delta polls = %d in 5 s, want about one per second", polls)
	}

	// An out-of-band edit is named by the next poll and reverted.
	du := users[2]
	env.Get(t, du)
	env.Sim.UpdateUser(du.Status.ID, func(u *graphsim.User) { u.JobTitle = "Changed In Portal" })
	testenv.Eventually(t, 15*time.Second, "drift found by delta and reverted", func() bool {
		return simUser(t, du.Status.ID).JobTitle == "Analyst"
	})
}

// The delta names every user the operator itself just created; those
// entries repeat what the resources already show, so they cost no re-read
// (a GET and a status write each, twice the work of an apply otherwise).
func TestOwnCreationsAreNotReadAgain(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	first := newUser(ns, "echo-first", "echo.first@contoso.com")
	first.Spec.Interval = &metav1.Duration{Duration: time.Second}
	create(t, first)
	cleanup(t, first)
	waitReady(t, first)
	time.Sleep(2 * time.Second) // the watcher's delta link exists

	users := readyAnalysts(t, ns, "echo", 10)
	before := env.Sim.Counters()
	time.Sleep(4 * time.Second) // several polls, each naming the new users
	after := env.Sim.Counters()
	reads := endpoint(after, "GET /users/{id}") - endpoint(before, "GET /users/{id}")
	t.Logf("10 users just created, over the next 4 s: %d user reads", reads)
	// A poll landing between a POST and the status write that records its
	// ID cannot vouch for that user (it is read once): a few at most.
	if reads > 3 {
		t.Errorf("%d reads of 10 users the operator just created: the delta's echo of its own writes was read again", reads)
	}
	// A real change is still read and reverted.
	du := users[4]
	env.Get(t, du)
	env.Sim.UpdateUser(du.Status.ID, func(u *graphsim.User) { u.JobTitle = "Changed In Portal" })
	testenv.Eventually(t, 15*time.Second, "drift found by delta and reverted", func() bool {
		return simUser(t, du.Status.ID).JobTitle == "Analyst"
	})
}

// readyAnalysts creates n DirectoryUsers <prefix>-<i> (jobTitle Analyst,
// a 1 s interval), deleted at the end of the test, and waits until all
// are Ready.
func readyAnalysts(t *testing.T, ns, prefix string, n int) []*v1alpha1.DirectoryUser {
	t.Helper()
	var users []*v1alpha1.DirectoryUser
	for i := 0; i < n; i++ {
		du := newUser(ns, fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("%s.user%d@contoso.com", prefix, i))
		du.Spec.JobTitle = str("Analyst")
		du.Spec.Interval = &metav1.Duration{Duration: time.Second}
		create(t, du)
		users = append(users, du)
	}
	cleanup(t, users...)
	for _, du := range users {
		waitReady(t, du)
	}
	return users
}
