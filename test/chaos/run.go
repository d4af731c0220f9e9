package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/testenv/proc"
)

// runner holds one run's processes and what it measured.
type runner struct {
	cfg    config
	root   string
	outDir string
	rng    *rand.Rand
	cl     *cluster
	sim    *sim
	sup    *supervisor
	plan   *plan

	start, faultsStart, lowStart, faultsStop time.Time
	timeline                                 []string
	// convergedLow / convergedAfterStop are how long convergence took in
	// the low-fault phase and after faults stopped (-1: it did not).
	convergedLow, convergedAfterStop time.Duration
	finalSync                        string
	apiserverErr                     error
	syncRequests                     int
}

func run(cfg config) int {
	r := &runner{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.seed), 0xc4a05)), convergedLow: -1, convergedAfterStop: -1}
	code, err := r.main()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: run failed:", err)
		return 2
	}
	return code
}

func (r *runner) main() (int, error) {
	var err error
	if r.root, err = repoRoot(); err != nil {
		return 0, err
	}
	r.outDir = filepath.Join(r.root, "test", "chaos", "out")
	if r.cfg.out != "" {
		r.outDir = filepath.Dir(r.cfg.out)
	} else {
		r.cfg.out = filepath.Join(r.outDir, "results.md")
	}
	if err := os.MkdirAll(r.outDir, 0o755); err != nil {
		return 0, err
	}
	// Logs of an earlier run's extra manager incarnations would mislead.
	old, _ := filepath.Glob(filepath.Join(r.outDir, "manager-*.log"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	tmp, err := os.MkdirTemp("", "chaos-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	// Ctrl-C or SIGTERM still tears everything down.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	defer r.teardown()
	go func() {
		if _, ok := <-sig; ok {
			fmt.Fprintln(os.Stderr, "chaos: interrupted, stopping")
			r.teardown()
			os.Exit(130)
		}
	}()

	r.start = time.Now()
	logf("building the manager and graphsim binaries")
	bin, err := proc.Build(r.root, tmp, "./cmd/manager", "./cmd/graphsim")
	if err != nil {
		return 0, err
	}
	if err := r.setup(bin, tmp); err != nil {
		return 0, err
	}
	r.phases()
	res := r.check()
	return r.report(res), nil
}

// setup starts the control plane, the emulator and the manager, and
// creates every resource of the scenario.
func (r *runner) setup(bin, tmp string) error {
	logf("starting kube-apiserver + etcd and applying config/default")
	var err error
	if r.cl, err = startCluster(r.root, tmp); err != nil {
		return err
	}
	simLog, err := os.Create(filepath.Join(r.outDir, "graphsim.log"))
	if err != nil {
		return err
	}
	clientID := fmt.Sprintf("c4a05000-0000-4000-8000-%012d", r.cfg.seed%1e12)
	logf("starting graphsim (%d users, group of %d)", r.cfg.tenantUsers(), r.cfg.groupMembers)
	if r.sim, err = startSim(bin, tmp, r.cfg, clientID, canary(r.cfg.seed, "client-secret", 0), simLog); err != nil {
		return err
	}
	if err := r.sim.snapshot(); err != nil {
		return err
	}
	if r.plan, err = newPlan(r.cfg, r.sim, r.rng); err != nil {
		return err
	}
	addrs := make([]string, 2)
	for i := range addrs {
		if addrs[i], err = proc.FreeAddr(); err != nil {
			return err
		}
	}
	mgrBin := filepath.Join(bin, "manager")
	args := append([]string{"--leader-elect", "--leader-election-namespace", "directory-operator-system",
		"--metrics-bind-address", addrs[0], "--health-probe-bind-address", addrs[1],
		"--concurrency", fmt.Sprint(r.cfg.concurrency)}, managerVerbosity(mgrBin)...)
	logf("manager flags: %v", args)
	r.sup = newSupervisor(mgrBin, r.outDir, []string{"KUBECONFIG=" + r.cl.operatorKubeconfig}, args...)
	if err := r.sup.start(); err != nil {
		return err
	}
	if err := r.sim.settings(r.cfg.faultRate, r.cfg.lag); err != nil {
		return err
	}
	r.faultsStart = time.Now()
	r.mark("faults at %.0f %%, replication lag %s, throttling %v", 100*r.cfg.faultRate, r.cfg.lag, r.cfg.throttling)
	logf("creating %d DirectoryUsers, a %d-user batch and a GroupSync of %d", len(r.plan.users), r.cfg.batchUsers, r.cfg.groupMembers)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := r.plan.apply(ctx, r.cl.kube); err != nil {
		return err
	}
	r.mark("all resources created")
	return nil
}

// event is one scheduled act of chaos, at an offset into the chaos phase.
type event struct {
	at   time.Duration
	kind string // "manager" (kill -9) or "apiserver" (kill -9 and restart)
}

// schedule spreads the kills evenly over the chaos phase with seeded
// jitter; API server kills sit in the middle, manager kills around them.
func (r *runner) schedule() []event {
	n := r.cfg.managerKills + r.cfg.apiserverKills
	kinds := make([]string, 0, n)
	for range r.cfg.managerKills {
		kinds = append(kinds, "manager")
	}
	mid := len(kinds) / 2
	for range r.cfg.apiserverKills {
		kinds = append(kinds[:mid], append([]string{"apiserver"}, kinds[mid:]...)...)
	}
	slot := r.cfg.chaos / time.Duration(n+1)
	var evs []event
	for i, k := range kinds {
		jitter := time.Duration((r.rng.Float64() - 0.5) * 0.5 * float64(slot))
		evs = append(evs, event{at: time.Duration(i+1)*slot + jitter, kind: k})
	}
	return evs
}

// phases runs chaos at the full fault rate with the kills, then the low
// fault rate, then no faults until everything converged or the limit.
func (r *runner) phases() {
	evs := r.schedule()
	for _, ev := range evs {
		logf("scheduled: %s kill at +%s", ev.kind, ev.at.Round(time.Second))
	}
	// A kill right after the previous one would only hit a manager still
	// waiting for the leader lease; the schedule keeps a gap after each.
	lastEnd := r.faultsStart
	for _, ev := range evs {
		r.watch(latest(r.faultsStart.Add(ev.at), lastEnd.Add(r.cfg.minGap)), false)
		r.act(ev)
		lastEnd = time.Now()
	}
	r.watch(latest(r.faultsStart.Add(r.cfg.chaos), lastEnd.Add(r.cfg.minGap)), false)

	r.setFaults(r.cfg.lowFaultRate)
	r.lowStart = time.Now()
	r.mark("faults at %.0f %%", 100*r.cfg.lowFaultRate)
	r.finalSync = fmt.Sprintf("low-%d", r.lowStart.Unix())
	r.requestSync(r.finalSync)
	if at, ok := r.watch(r.lowStart.Add(r.cfg.low), true); ok {
		r.convergedLow = at.Sub(r.lowStart)
		r.watch(r.lowStart.Add(r.cfg.low), false)
	}

	r.setFaults(0)
	r.faultsStop = time.Now()
	r.mark("faults stopped")
	r.finalSync = fmt.Sprintf("final-%d", r.faultsStop.Unix())
	r.requestSync(r.finalSync)
	if at, ok := r.watch(r.faultsStop.Add(r.cfg.convergeLimit), true); ok {
		r.convergedAfterStop = at.Sub(r.faultsStop)
		r.mark("converged %s after faults stopped; settling %s", r.convergedAfterStop.Round(time.Second), r.cfg.settle)
		time.Sleep(r.cfg.settle)
	} else {
		r.mark("not converged %s after faults stopped", r.cfg.convergeLimit)
	}
}

func (r *runner) act(ev event) {
	switch ev.kind {
	case "manager":
		if !r.sup.waitLeader(60 * time.Second) {
			r.mark("the manager did not become leader within 60s")
		} else {
			// Let the new leader get into its work before killing it.
			time.Sleep(r.cfg.minGap / 4)
		}
		r.sup.kill9()
		r.mark("kill -9 manager")
	case "apiserver":
		r.mark("kill -9 kube-apiserver (down for %s)", r.cfg.apiserverOutage)
		if err := r.cl.killAPIServer(r.cfg.apiserverOutage); err != nil {
			r.apiserverErr = err
			r.mark("kube-apiserver restart FAILED: %v", err)
			return
		}
		r.mark("kube-apiserver restarted")
	}
	r.requestSync(fmt.Sprintf("chaos-%d", r.syncRequests))
}

func (r *runner) setFaults(rate float64) {
	if err := r.sim.settings(rate, r.cfg.lag); err != nil {
		r.mark("setting fault rate %.2f FAILED: %v", rate, err)
	}
}

// requestSync asks the GroupSync to sync now, so that syncs run while the
// chaos happens and the last one provably ran after faults stopped.
func (r *runner) requestSync(value string) {
	r.syncRequests++
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.AnnotationSyncRequested, value)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs := &v1alpha1.GroupSync{}
	gs.Namespace, gs.Name = namespace, gsName
	if err := r.cl.kube.Patch(ctx, gs, client.RawPatch(types.MergePatchType, patch)); err != nil {
		r.mark("sync request %s failed: %v", value, err)
	}
}

// mark records a timeline entry (offset from the start of faults).
func (r *runner) mark(format string, args ...any) {
	line := fmt.Sprintf("+%s %s", time.Since(r.faultsStart).Round(time.Second), fmt.Sprintf(format, args...))
	r.timeline = append(r.timeline, line)
	logf("%s", line)
}

func (r *runner) teardown() {
	if r.sup != nil {
		r.sup.stop()
		r.sup = nil
	}
	if r.sim != nil {
		r.sim.p.Stop()
		r.sim = nil
	}
	if r.cl != nil {
		r.cl.stop()
		r.cl = nil
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
