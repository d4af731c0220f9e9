//go:build sdk

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/directoryuser"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// restartLabel marks the DirectoryUsers of scenario 11, which only that
// scenario's own managers reconcile (the shared manager filters them out).
const restartLabel = "bench.directory-operator.io/restart"

// restartFilter passes only scenario 11's DirectoryUsers.
var restartFilter = predicate.NewPredicateFuncs(func(o client.Object) bool {
	if _, ok := o.(*v1alpha1.DirectoryUser); !ok {
		return true
	}
	return o.GetLabels()[restartLabel] == "true"
})

// notRestart passes every other DirectoryUser (the shared manager's filter).
var notRestart = predicate.Not(restartFilter)

// restartUsers is scenario 11: N Ready, unchanged DirectoryUsers and a
// manager restart. The new manager reconciles every one of them at start;
// the drift watch it resumes from the API server lets them all skip Graph.
// Measured: Graph requests and time until every user was reconciled, next
// to the API server's own bound (one List of the N objects, what the new
// manager's informer must do before anything else).
func (h *harness) restartUsers(t *table) {
	cfg := h.cfg
	name := scenarioNames[11]
	ctx := context.Background()
	n := cfg.directoryUsers
	huge := int32(math.MaxInt32)
	te := h.newTenant(directoryOptions{budget: &v1alpha1.ThrottleSpec{ResourceUnitsPer10s: &huge, WritesPer150s: &huge}})
	dus := benchUsers(te, "rs", "Bench", n)
	for _, du := range dus {
		du.Labels = map[string]string{restartLabel: "true"}
	}
	var reconciled, firstAt atomic.Int64
	// The watch the restarted manager resumes (controllers/directoryuser/driftstate.go).
	stateName := te.directory + "-users-delta-directoryuser-restart"
	stop := h.startUserManager(&reconciled, &firstAt)
	// Whatever happens, no manager of this scenario outlives it (a failed
	// run once left one polling every 5 s through scenario 6's idle
	// window), and its users go.
	defer func() { stop() }()
	defer h.deleteUsers(te.ns)
	// One user first, so the watcher's delta link exists before the
	// others are created and read: the steady state of a running
	// operator, where every user was read since the link began (a user
	// read before it is read once more at its interval, or after a restart).
	if err := h.createMany(ctx, dus[:1]); err != nil {
		h.fail("%v", err)
	}
	h.waitFor(time.Minute, "the drift watch saved", func() bool {
		cm := &corev1.ConfigMap{}
		return h.kube.Get(ctx, client.ObjectKey{Namespace: te.ns, Name: stateName}, cm) == nil
	})
	time.Sleep(time.Second) // status times have whole seconds
	if err := h.createMany(ctx, dus[1:]); err != nil {
		h.fail("%v", err)
	}
	h.waitFor(cfg.scenarioTimeout, "all DirectoryUsers Ready", func() bool {
		ready, total := h.countReady(ctx, te.ns)
		return ready == n && total == n
	})
	h.waitSteadyWatch(ctx, te.ns, stateName, time.Now())
	stop()

	listTime := h.informerSync(ctx, te.ns)

	h.sim.ResetCounters()
	reconciled.Store(0)
	firstAt.Store(0)
	start := time.Now()
	stop = h.startUserManager(&reconciled, &firstAt)
	h.waitFor(cfg.scenarioTimeout, "every DirectoryUser reconciled by the restarted manager", func() bool {
		return reconciled.Load() >= int64(n)
	})
	wall := time.Since(start)
	first := time.Unix(0, firstAt.Load()).Sub(start)
	u := usageOf(h.sim.Counters())
	maxRequests := int64(math.Ceil(float64(n) / 20))
	ok := u.requests <= maxRequests && wall <= 2*listTime
	t.add(row{scenario: name, run: fmt.Sprintf("operator restart, %s Ready DirectoryUsers", fmtInt(int64(n))), wall: wall, usage: u,
		figure: fmt.Sprintf("%s Graph requests for %s users (one GET each would be %s); all reconciled %s after the start: %s of the %s an informer needs to list and watch them",
			fmtInt(u.requests), fmtInt(int64(n)), fmtInt(int64(n)), fmtDur(wall), ratio(wall.Seconds(), listTime.Seconds()), fmtDur(listTime)),
		goal: fmt.Sprintf("≤ %s requests (1 per 20 users), ≤ 2× list+watch: %s", fmtInt(maxRequests), verdict(ok))})
	t.note("Scenario 11: the restarted manager builds its informer cache (list + watch), resumes the drift watch saved in ConfigMap <directory>-users-delta with one users/delta poll, and reconciles every user; the wall time includes the manager's start and cache sync. "+
		"The bound is a fresh informer of the same DirectoryUsers, from its start until it is synced (list + watch), measured in the same run. "+
		"The first reconcile began %s after the start (manager start and cache sync), the last ended %s later.", fmtDur(first), fmtDur(wall-first))
}

// informerSync is the API server's list+watch bound of a namespace's
// DirectoryUsers: how long a new informer takes from its start until it
// has listed them and is watching.
func (h *harness) informerSync(ctx context.Context, ns string) time.Duration {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := cache.New(h.env.Config, cache.Options{Scheme: h.env.Scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		h.fail("informer: %v", err)
	}
	start := time.Now()
	if _, err := c.GetInformer(ctx, &v1alpha1.DirectoryUser{}); err != nil {
		h.fail("informer: %v", err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		h.fail("informer did not sync")
	}
	return time.Since(start)
}

// startUserManager runs a manager with only the DirectoryUser controller,
// for scenario 11's users, counting reconciles.
func (h *harness) startUserManager(count, firstAt *atomic.Int64) (stop func()) {
	return h.env.StartManager(tb{h: h}, "bench-restart", func(mgr ctrl.Manager) error {
		res := &connection.Resolver{Kube: mgr.GetClient(), Registry: graph.NewRegistry(), TimeScale: h.cfg.timeScale,
			Deletions: connection.NewDeletionLimiter(mgr.GetClient())}
		r := &directoryuser.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Connector: connection.Port[directoryuser.Graph](res), Deletions: res.Deletions,
			Recorder: mgr.GetEventRecorder("directory-operator"), MaxConcurrentReconciles: h.cfg.userConcurrency,
			DriftPoll: 5 * time.Second, Name: "directoryuser-restart", Filter: restartFilter}
		return r.SetupWithManagerAs(mgr, reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			firstAt.CompareAndSwap(0, time.Now().UnixNano())
			defer count.Add(1)
			return r.Reconcile(ctx, req)
		}))
	})
}

// waitSteadyWatch waits until the drift watch saved in ConfigMap stateName
// lists no user pending a read, from a poll after allReady: the steady
// state of a running operator, which the restart is measured from. The
// first poll names every just-created user (echoes of the operator's own
// creates, or users read once more), so a save from before it proves
// nothing.
func (h *harness) waitSteadyWatch(ctx context.Context, ns, stateName string, allReady time.Time) {
	var lastShown time.Time
	// The watch is saved at least once a minute (driftstate.go).
	h.waitFor(2*time.Minute, "the drift watch saved with no user pending a read", func() bool {
		cm := &corev1.ConfigMap{}
		if err := h.kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: stateName}, cm); err != nil {
			return false
		}
		var p struct {
			Link     string    `json:"link"`
			LastPoll time.Time `json:"lastPoll"`
			Dirty    []string  `json:"dirty"`
		}
		if json.Unmarshal([]byte(cm.Data["state.json"]), &p) != nil {
			return false
		}
		if time.Since(lastShown) > 10*time.Second {
			lastShown = time.Now()
			fmt.Fprintf(os.Stderr, "bench: drift watch saved: link %t, %d users pending a read, last poll %s after all were Ready\n",
				p.Link != "", len(p.Dirty), fmtDur(p.LastPoll.Sub(allReady)))
		}
		return p.Link != "" && len(p.Dirty) == 0 && p.LastPoll.After(allReady)
	})
}
