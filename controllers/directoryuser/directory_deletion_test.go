package directoryuser_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// Deleting a Directory first (as a namespace deletion or a GitOps prune may
// do, in any order) must not leave its users in Entra: the Directory waits,
// DeletionBlocked, until its 20 Delete-policy DirectoryUsers deleted their
// users through it, and only then goes.
func TestDirectoryDeletionWaitsForItsUsersToBeDeletedInGraph(t *testing.T) {
	ns := env.Namespace(t)
	dir := readyDirectory(t, ns, testenv.DirectoryOptions{})
	const n = 20
	dus := make([]*v1alpha1.DirectoryUser, n)
	for i := range dus {
		dus[i] = newUser(ns, fmt.Sprintf("leaver-%02d", i), fmt.Sprintf("leaver.%02d@contoso.com", i))
		dus[i].Spec.DeletionPolicy = v1alpha1.DeletionDelete
		create(t, dus[i])
	}
	ids := make([]string, n)
	for i, du := range dus {
		waitReady(t, du)
		ids[i] = du.Status.ID
	}

	if err := env.Client.Delete(ctx(), dir); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "DeletionBlocked with counts", func() bool {
		env.Get(t, dir)
		c := meta.FindStatusCondition(dir.Status.Conditions, v1alpha1.ConditionDeletionBlocked)
		return c != nil && c.Status == "True" && c.Reason == v1alpha1.ReasonDependentsExist && strings.Contains(c.Message, "20 DirectoryUser")
	})
	if !meta.IsStatusConditionTrue(dir.Status.Conditions, v1alpha1.ConditionReady) {
		t.Fatalf("a Directory waiting for its dependents must stay usable: %+v", dir.Status.Conditions)
	}

	// The users go (their finalizers delete them in Graph through the
	// Directory being deleted); the Directory goes after the last one.
	for _, du := range dus {
		if err := env.Client.Delete(ctx(), du); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 60*time.Second, "Directory released", func() bool {
		err := env.Client.Get(ctx(), client.ObjectKeyFromObject(dir), &v1alpha1.Directory{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return apierrors.IsNotFound(err)
	})
	for i, id := range ids {
		if _, ok := env.Sim.GetUser(id); ok {
			t.Errorf("user %s (%s) was left in Graph", dus[i].Spec.UserPrincipalName, id)
		}
		if !gone(t, dus[i]) {
			t.Errorf("DirectoryUser %s still exists after its Directory went", dus[i].Name)
		}
	}
	for _, e := range env.Events(t, ns) {
		if strings.Contains(e, "was left in Graph") {
			t.Errorf("a user was left in Graph: %s", e)
		}
	}
}
