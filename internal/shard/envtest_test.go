package shard

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, testenv.Options{}, &env)) }

// Two shards against a real API server: both spend half; one stops
// renewing (as a killed process does) and the other takes the whole quota
// back within a Lease duration and a renewal period.
func TestTwoShardsThroughTheAPIServer(t *testing.T) {
	ns := env.Namespace(t)
	const duration = 3 * time.Second
	mk := func(id string) (*Coordinator, *graph.Budget) {
		reg := graph.NewRegistry()
		gc, err := reg.Client("ns/dir", graph.Config{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: "s",
			AuthorityHost: "https://login.example.test/", GraphEndpoint: "https://graph.example.test"})
		if err != nil {
			t.Fatal(err)
		}
		return &Coordinator{Client: env.Client, Namespace: ns, Identity: id, Duration: duration,
			Budgets: reg.Budgets, Clock: clock.RealClock{}, Log: logr.Discard()}, gc.Budget()
	}
	ca, a := mk("pod-a_shard=a")
	cb, b := mk("pod-b_shard=b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, j := range []struct {
		c *Coordinator
		b *graph.Budget
	}{{ca, a}, {cb, b}} {
		if err := j.c.Join(ctx, j.b); err != nil {
			t.Fatal(err)
		}
	}
	// b's last renewal was its join.
	bLast := time.Now()
	go func() { _ = ca.Start(ctx) }()
	testenv.Eventually(t, 2*ca.RenewPeriod()+time.Second, "both shards at 0.5", func() bool {
		return a.Share() == 0.5 && b.Share() == 0.5 && a.App().Share() == 0.5
	})
	testenv.Eventually(t, duration+2*ca.RenewPeriod(), "a back at the whole quota", func() bool {
		return a.Share() == 1 && a.App().Share() == 1
	})
	if took := time.Since(bLast); took < duration {
		t.Errorf("a took b's part back %v after b's last renewal, before b's Lease (%v) expired", took, duration)
	}
	if n := ca.Shards(a.Key()); n != 1 {
		t.Errorf("a counts %d shards, want 1", n)
	}
}
