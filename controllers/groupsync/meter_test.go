package groupsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// lastSync.graphRequests is what that sync sent, counted by its own meter:
// the Directory's Graph client is shared with every other resource of the
// Directory, and their traffic during the sync is not the sync's.
func TestLastSyncCountsOnlyItsOwnRequests(t *testing.T) {
	gen := env.Sim.Generate(graphsim.GenerateOptions{Users: 300, ManagersEvery: 10, GroupMembers: 250, Seed: 12})
	ns := env.Namespace(t)
	dir := env.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	testenv.Eventually(t, 30*time.Second, "Directory Ready", func() bool {
		env.Get(t, dir)
		return connection.Usable(dir)
	})
	// The client the controllers of this Directory share.
	shared, err := connection.Port[*graph.Client](env.Resolver).Dial(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}

	env.Sim.ResetCounters()
	// Another resource of the Directory, busy for the whole sync. It reads
	// an endpoint no sync uses, so the emulator can tell the two apart.
	ctx, stop := context.WithCancel(context.Background())
	busy := make(chan int)
	go func() {
		n := 0
		for ctx.Err() == nil {
			if _, err := shared.Organization(ctx); err == nil {
				n++
			}
			time.Sleep(5 * time.Millisecond)
		}
		busy <- n
	}()
	gs := createGroupSync(t, ns, gsOptions{group: v1alpha1.GroupSelector{ID: gen.AllStaffGroupID}})
	ls := waitSynced(t, gs, nil)
	stop()
	others := <-busy

	c := env.Sim.Counters()
	syncRequests := c.Requests - c.ByEndpoint["GET /organization"]
	t.Logf("sync: status %d requests / %d RU; emulator %d sync requests, %d others %v", ls.GraphRequests, ls.ResourceUnits, syncRequests, others, c.ByEndpoint)
	if ls.Mode != v1alpha1.SyncFull || ls.Added != 250 {
		t.Fatalf("first sync: %+v", ls)
	}
	if others < 10 {
		t.Fatalf("the other traffic sent only %d requests during the sync; the test proves nothing", others)
	}
	if ls.GraphRequests != syncRequests {
		t.Errorf("lastSync.graphRequests = %d, the emulator counted %d for the sync (and %d for others)", ls.GraphRequests, syncRequests, others)
	}
}
