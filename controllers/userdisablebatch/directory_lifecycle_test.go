package userdisablebatch_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/userdisablebatch"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// Two Directories of one app+tenant, one asking 3,000 writes per 150 s and
// one 20, share one budget at the conservative 20 whichever was created
// first: a batch through the fast one is paced at the slow one's rate, and
// both report the conflict. (It used to be whichever client was built
// last: 60 users disabled in under 4 s through a "slow" Directory.)
func TestDirectoriesOfOneAppAndTenantPaceAtTheConservativeRateInBothOrders(t *testing.T) {
	for i, slowFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("slowFirst=%v", slowFirst), func(t *testing.T) {
			ns := env.Namespace(t)
			// A fresh app: its budgets are this test's alone.
			clientID := fmt.Sprintf("cccccccc-0000-4000-8000-%012d", i+1)
			env.Sim.AddApp(clientID, "shared-budget-secret", testenv.AllPermissions...)
			fast := testenv.DirectoryOptions{Name: "tenant", ClientID: clientID, ClientSecret: "shared-budget-secret", Interval: 2 * time.Second,
				Throttle: v1alpha1.ThrottleSpec{WritesPer150s: int32p(3000)}}
			slow := fast
			slow.Name, slow.Throttle = "slow", v1alpha1.ThrottleSpec{WritesPer150s: int32p(20)}
			order := []testenv.DirectoryOptions{fast, slow}
			if slowFirst {
				order = []testenv.DirectoryOptions{slow, fast}
			}
			var dirs []*v1alpha1.Directory
			for _, o := range order {
				dirs = append(dirs, env.CreateDirectory(t, ns, o))
			}
			for _, d := range dirs {
				testenv.Eventually(t, 30*time.Second, d.Name+" Ready and reporting the conflict", func() bool {
					env.Get(t, d)
					c := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionThrottleConflict)
					return meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReady) && c != nil && c.Status == "True" &&
						d.Status.Throttle != nil && d.Status.Throttle.AppTenant.Writes == 20
				})
			}
			users := putUsers(fmt.Sprintf("pace%d-", i), 40, nil)
			upns := make([]string, len(users))
			for j, u := range users {
				upns[j] = u.UserPrincipalName
			}
			throttledBefore := env.Sim.Counters().Throttled
			b := newBatch(ns, "leavers", v1alpha1.UserDisableBatchSpec{Users: upns})
			start := time.Now()
			create(t, b)
			waitFinished(t, b, 90*time.Second, 250*time.Millisecond)
			took := time.Since(start)
			if b.Status.Phase != v1alpha1.BatchCompleted || counts(b).Disabled != 40 {
				t.Fatalf("batch %s, counts %+v", b.Status.Phase, counts(b))
			}
			// 20 writes fit the full bucket; the other 20 wait for it to
			// refill at 20 per 15 s (TimeScale 10). At the fast Directory's
			// own 3,000 the batch takes a second or two.
			if took < 10*time.Second {
				t.Errorf("40 disables took %s: not paced at the conservative 20 writes per 15 s", took.Round(time.Millisecond))
			}
			if n := env.Sim.Counters().Throttled - throttledBefore; n != 0 {
				t.Errorf("Graph answered %d 429s; the client-side budget should pace alone", n)
			}
			for _, c := range b.Status.Conditions {
				if strings.Contains(c.Message, "Graph throttled") {
					t.Errorf("condition claims Graph throttled when it did not: %+v", c)
				}
			}
			t.Logf("40 disables through the fast Directory took %s", took.Round(time.Millisecond))
			cleanupDirectories(t, b, dirs...)
		})
	}
}

// cleanupDirectories deletes the batch, then the Directories, so that their
// frequent health checks stop and their budget settings leave the registry.
func cleanupDirectories(t *testing.T, b *v1alpha1.UserDisableBatch, dirs ...*v1alpha1.Directory) {
	t.Helper()
	ctx := context.Background()
	_ = env.Client.Delete(ctx, b)
	for _, d := range dirs {
		_ = env.Client.Delete(ctx, d)
	}
	for _, d := range dirs {
		testenv.Eventually(t, 30*time.Second, d.Name+" deleted", func() bool {
			return client.IgnoreNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(d), &v1alpha1.Directory{})) == nil &&
				env.Client.Get(ctx, client.ObjectKeyFromObject(d), &v1alpha1.Directory{}) != nil
		})
	}
}

func int32p(v int32) *int32 { return &v }

// A batch's audit ConfigMap is owned by the Directory so that it outlives
// the batch; it must not hold the Directory's deletion (deletion protection
// waits for batches, not for their audit trail).
func TestAuditExportDoesNotHoldDirectoryDeletion(t *testing.T) {
	ns := env.Namespace(t)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	users := putUsers("auditkeep", 3, nil)
	b := newBatch(ns, "audited", v1alpha1.UserDisableBatchSpec{Users: []string{users[0].UserPrincipalName, users[1].UserPrincipalName, users[2].UserPrincipalName}})
	create(t, b)
	waitFinished(t, b, 60*time.Second, 250*time.Millisecond)
	ctx := context.Background()
	if err := env.Client.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	audit := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: ns, Name: userdisablebatch.AuditName(b.Name)}
	testenv.Eventually(t, 30*time.Second, "batch gone, audit kept", func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(b), &v1alpha1.UserDisableBatch{})) &&
			env.Client.Get(ctx, key, audit) == nil
	})
	dir := &v1alpha1.Directory{}
	dir.Namespace, dir.Name = ns, "tenant"
	if err := env.Client.Delete(ctx, dir); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "Directory released despite its audit ConfigMap", func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(dir), &v1alpha1.Directory{}))
	})
}
