package directoryuser_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// A restarted manager resumes the drift watcher's saved delta link instead
// of reading every Ready user again: the users changed while it was down
// are named by one poll and read (and reverted); the others cost nothing.
func TestRestartResumesSavedDriftWatch(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	const owner = "drift-restart"
	var users []*v1alpha1.DirectoryUser
	for i := range 6 {
		du := newUser(ns, fmt.Sprintf("resume-%d", i), fmt.Sprintf("resume.user%d@contoso.com", i))
		du.Labels = map[string]string{ownerLabel: owner}
		du.Spec.JobTitle = str("Analyst")
		// Short, so the watcher polls every 2 s; unchanged users still
		// cost no read (the watcher covers them).
		du.Spec.Interval = &metav1.Duration{Duration: 2 * time.Second}
		users = append(users, du)
	}
	stop := startManager(t, owner)
	create(t, asObjects(users)...)
	cleanup(t, users...)
	for _, du := range users {
		waitReady(t, du)
	}
	allReady := time.Now()
	// The first poll names the just-created users; once they were read
	// again, a later poll saves a watch with none pending: a save after
	// they were all Ready (the manager caches no such ConfigMap, so this
	// also checks that saves after the first one land). (A user read in
	// the same second as the link began is read once more: status times
	// have whole seconds; give those reads time too.)
	time.Sleep(4 * time.Second)
	saved := &corev1.ConfigMap{}
	testenv.Eventually(t, 30*time.Second, "drift watch saved with no user pending a read", func() bool {
		if err := env.Client.Get(ctx(), client.ObjectKey{Namespace: ns, Name: "tenant-users-delta-directoryuser-" + owner}, saved); err != nil {
			return false
		}
		var p struct {
			Link     string    `json:"link"`
			LastPoll time.Time `json:"lastPoll"`
			Dirty    []string  `json:"dirty"`
		}
		return json.Unmarshal([]byte(saved.Data["state.json"]), &p) == nil && p.Link != "" && len(p.Dirty) == 0 && p.LastPoll.After(allReady)
	})
	if len(saved.OwnerReferences) != 1 || saved.OwnerReferences[0].Kind != "Directory" {
		t.Errorf("saved watch owners = %+v, want the Directory", saved.OwnerReferences)
	}
	stop()

	// While no manager runs, someone edits one user in the portal.
	changed := users[3]
	env.Get(t, changed)
	env.Sim.UpdateUser(changed.Status.ID, func(u *graphsim.User) { u.JobTitle = "Changed While Down" })
	lastRead := map[string]metav1.Time{}
	for _, du := range users {
		env.Get(t, du)
		lastRead[du.Name] = *du.Status.LastSyncTime
	}
	before := env.Sim.Counters()

	startManager(t, owner)
	testenv.Eventually(t, 30*time.Second, "the edit made while down found and reverted", func() bool {
		return simUser(t, changed.Status.ID).JobTitle == "Analyst"
	})
	time.Sleep(3 * time.Second) // every user reconciled at start and once more at its interval
	after := env.Sim.Counters()
	reads := endpoint(after, "GET /users/{id}") - endpoint(before, "GET /users/{id}")
	t.Logf("restart with 6 Ready users, 1 changed while down: %d user reads, %d delta polls, %d requests",
		reads, endpoint(after, "GET /users/delta")-endpoint(before, "GET /users/delta"), after.Requests-before.Requests)
	// The changed user is read, reverted, and read once more when the
	// next poll reports the revert; the others are not read at all.
	if reads > 3 {
		t.Errorf("a restart made %d user reads; only the user changed while down needs reads", reads)
	}
	for _, du := range users {
		if du == changed {
			continue
		}
		env.Get(t, du)
		if !du.Status.LastSyncTime.Equal(ptr(lastRead[du.Name])) {
			t.Errorf("%s was read again after the restart (lastSyncTime %v → %v) though it did not change", du.Name, lastRead[du.Name], du.Status.LastSyncTime)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func asObjects(dus []*v1alpha1.DirectoryUser) []client.Object {
	out := make([]client.Object, len(dus))
	for i, du := range dus {
		out[i] = du
	}
	return out
}
