package groupsync_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/groupsync"
	"github.com/directory-operator/directory-operator/internal/export"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// --- helpers ---------------------------------------------------------------

type gsOptions struct {
	group      v1alpha1.GroupSelector
	transitive bool
	retention  time.Duration
	importUser bool
}

func createGroupSync(t *testing.T, ns string, o gsOptions) *v1alpha1.GroupSync {
	t.Helper()
	gs := &v1alpha1.GroupSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "staff"},
		Spec: v1alpha1.GroupSyncSpec{
			DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"},
			Group:        o.group,
			Transitive:   o.transitive,
			// Syncs run when a test asks (annotation), never on their own.
			Interval:    &metav1.Duration{Duration: time.Hour},
			ImportUsers: o.importUser,
		},
	}
	if o.retention > 0 {
		gs.Spec.Retention = &metav1.Duration{Duration: o.retention}
	}
	if err := env.Client.Create(context.Background(), gs); err != nil {
		t.Fatalf("creating GroupSync: %v", err)
	}
	return gs
}

// syncNow asks for a sync through the annotation a user would set.
func syncNow(t *testing.T, gs *v1alpha1.GroupSync) {
	t.Helper()
	env.Get(t, gs)
	patch := client.MergeFrom(gs.DeepCopy())
	if gs.Annotations == nil {
		gs.Annotations = map[string]string{}
	}
	gs.Annotations[v1alpha1.AnnotationSyncRequested] = strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := env.Client.Patch(context.Background(), gs, patch); err != nil {
		t.Fatalf("requesting a sync: %v", err)
	}
}

// waitSynced waits for a completed sync newer than after (nil: any) and
// returns its record.
func waitSynced(t *testing.T, gs *v1alpha1.GroupSync, after *v1alpha1.LastSync) *v1alpha1.LastSync {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, "a completed sync", func() bool {
		env.Get(t, gs)
		ls := gs.Status.LastSync
		return ls != nil && ctrlkitReady(gs) && (after == nil || *ls != *after)
	})
	return gs.Status.LastSync.DeepCopy()
}

func ctrlkitReady(gs *v1alpha1.GroupSync) bool {
	c := meta.FindStatusCondition(gs.Status.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == gs.Generation
}

// readCSV reads users.csv through the export package, keyed by id.
func readCSV(t *testing.T, gs *v1alpha1.GroupSync) map[string][]string {
	t.Helper()
	b, err := export.Read(context.Background(), env.Client, gs, gs.Name+"-members", groupsync.UsersFile)
	if err != nil || b == nil {
		t.Fatalf("reading export: %v (%d bytes)", err, len(b))
	}
	return parseCSV(t, b)
}

func parseCSV(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("users.csv is not valid CSV: %v", err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], groupsync.UsersHeader) {
		t.Fatalf("users.csv header: %v", recs[:min(1, len(recs))])
	}
	rows := map[string][]string{}
	for _, r := range recs[1:] {
		rows[r[0]] = r
	}
	return rows
}

// truth is what users.csv must say about active members, from the
// emulator's own data: id → the row without state and removedAt.
func truth(t *testing.T, groupID string, transitive bool) map[string][]string {
	t.Helper()
	ids := map[string]bool{}
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		g, ok := env.Sim.GetGroup(id)
		if !ok {
			t.Fatalf("group %s not in emulator", id)
		}
		for _, m := range g.Members {
			if _, isGroup := env.Sim.GetGroup(m); isGroup {
				if transitive && depth < 10 {
					walk(m, depth+1)
				}
				continue
			}
			ids[m] = true
		}
	}
	walk(groupID, 0)
	out := map[string][]string{}
	for id := range ids {
		u, ok := env.Sim.GetUser(id)
		if !ok {
			continue
		}
		mgrID, mgrUPN := "", ""
		if u.ManagerID != "" {
			if mgr, ok := env.Sim.GetUser(u.ManagerID); ok {
				mgrID, mgrUPN = mgr.ID, mgr.UserPrincipalName
			}
		}
		out[u.ID] = []string{u.ID, u.UserPrincipalName, u.DisplayName, u.Mail, u.JobTitle, u.Department,
			strconv.FormatBool(u.AccountEnabled), mgrID, mgrUPN}
	}
	return out
}

// assertMatches checks that the active rows of rows are exactly want.
func assertMatches(t *testing.T, rows, want map[string][]string) {
	t.Helper()
	active := 0
	for id, r := range rows {
		if r[9] != groupsync.StateActive {
			continue
		}
		active++
		w, ok := want[id]
		if !ok {
			t.Errorf("row %s (%s) is active but not a member", id, r[1])
			continue
		}
		if !slices.Equal(r[:9], w) {
			t.Errorf("row %s:\n got  %q\n want %q", id, r[:9], w)
		}
	}
	if active != len(want) {
		t.Errorf("%d active rows, want %d members", active, len(want))
	}
}

func putUsers(t *testing.T, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		u := env.Sim.PutUser(graphsim.User{
			UserPrincipalName: fmt.Sprintf("%s.%d@contoso.com", prefix, i),
			DisplayName:       fmt.Sprintf("%s %d", prefix, i), JobTitle: "Engineer", Department: "R&D",
			AccountEnabled: true,
		})
		ids[i] = u.ID
	}
	return ids
}

func readyReason(gs *v1alpha1.GroupSync) (metav1.ConditionStatus, string, string) {
	c := meta.FindStatusCondition(gs.Status.Conditions, v1alpha1.ConditionReady)
	if c == nil {
		return "", "", ""
	}
	return c.Status, c.Reason, c.Message
}
