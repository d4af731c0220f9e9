//go:build sdk

// Command bench measures the operator against the Graph emulator and prints
// one Markdown table (also written to -out). Every figure is a ratio taken
// in the same run: against the physical limit (the tenant's Graph quota) and
// against what users do today (a sequential per-user loop written with
// msgraph-sdk-go), because absolute times on a shared 2-core machine are
// noise.
//
// The operator runs in this process: a real kube-apiserver + etcd (envtest,
// binaries in bin/k8s), the emulator on a TLS listener, and a manager with
// every controller registered by controllers.Setup, exactly as
// internal/testenv starts them for the controller tests.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/directory-operator/directory-operator/controllers"
)

// config is every knob of a run; -quick picks small figures.
type config struct {
	quick bool
	out   string
	only  map[int]bool

	// timeScale compresses the quota windows and Retry-After of the
	// emulator and the operator's own budget alike.
	timeScale float64
	// graphLatency is the round trip of a real Graph call; the emulator
	// answers after graphLatency/timeScale so latency and quota keep the
	// proportions they have against real Graph.
	graphLatency time.Duration

	// Scenario 1 and 2.
	batchUsers int
	// writesPer150s is the emulated write quota of scenario 1 (3,000 is
	// Graph's; -quick lowers it so a small N still spends most of its
	// time past the bucket's initial burst).
	writesPer150s int
	// baselineMax caps how many users the sequential baseline really
	// processes; above it the baseline is extrapolated linearly.
	baselineMax int

	// Scenario 3 and 4.
	tenantUsers, groupMembers int

	// Scenario 5 and 6.
	directoryUsers int
	idleInterval   time.Duration
	idleWindow     time.Duration

	// Scenario 7.
	latencyRuns int

	// Scenario 9.
	planUsers int

	// cpuProfile, when set, is where the run's CPU profile goes.
	cpuProfile string

	// Scenario 12: users disabled by two shard processes, and their
	// budget Lease duration.
	shardUsers int
	shardLease time.Duration
	// Scenario 13: GroupSyncs and members each beside the DirectoryUsers.
	memoryGroups, memoryMembers int

	// userConcurrency is the DirectoryUser controller's parallel reconciles.
	userConcurrency int

	// scenarioTimeout bounds any single wait, so one broken scenario
	// cannot eat the run's time budget.
	scenarioTimeout time.Duration
}

func parseFlags() config {
	var c config
	var only string
	flag.BoolVar(&c.quick, "quick", false, "small N (CI smoke test, ≤ 2 minutes)")
	flag.StringVar(&c.out, "out", "", "also write the table to this file")
	flag.StringVar(&only, "scenarios", "", "comma-separated scenario numbers to run (default all)")
	flag.Float64Var(&c.timeScale, "timescale", 0, "quota time compression (default 10, quick 25)")
	flag.DurationVar(&c.graphLatency, "graph-latency", 50*time.Millisecond, "real-Graph round trip emulated (divided by the time scale)")
	flag.IntVar(&c.batchUsers, "batch-users", 0, "users disabled/queried/re-enabled in scenarios 1, 2 and 8 (default 10000, quick 1000)")
	flag.IntVar(&c.baselineMax, "baseline-max", 0, "users the sequential baseline really processes before extrapolating (default 2000, quick 300)")
	flag.IntVar(&c.tenantUsers, "tenant-users", 0, "tenant size of scenarios 3-4 (default 100000, quick 5000)")
	flag.IntVar(&c.groupMembers, "group-members", 0, "group size of scenarios 3-4 (default 50000, quick 2500)")
	flag.IntVar(&c.directoryUsers, "directory-users", 0, "DirectoryUsers of scenarios 5-6 (default 10000, quick 300)")
	flag.DurationVar(&c.idleWindow, "idle-window", 0, "observation window of scenario 6 (default 1m, quick 10s)")
	flag.DurationVar(&c.idleInterval, "idle-interval", 0, "DirectoryUser drift interval used in scenario 6 (default 1m, quick 5s)")
	flag.IntVar(&c.latencyRuns, "latency-runs", 0, "apply→Ready runs of scenario 7 (default 50, quick 10)")
	flag.IntVar(&c.planUsers, "plan-users", 0, "DirectoryUsers kubectl entra plan compares in scenario 9 (default 1000, quick 100)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the bench process (manager, emulator and harness) to this file")
	flag.IntVar(&c.shardUsers, "shard-users", 0, "users disabled by the two shard processes of scenario 12 (default 10000, quick 600)")
	flag.DurationVar(&c.shardLease, "shard-lease", 0, "budget Lease duration of scenario 12's shards (default the manager's 15s divided by the time scale, whole seconds)")
	flag.IntVar(&c.memoryGroups, "memory-groups", 0, "GroupSyncs beside the DirectoryUsers of scenario 13 (default 10, quick 2)")
	flag.IntVar(&c.memoryMembers, "memory-members", 0, "members of each of scenario 13's groups (default 5000, quick 300)")
	flag.IntVar(&c.userConcurrency, "user-concurrency", 0, "parallel DirectoryUser reconciles (default: the manager's --user-concurrency default)")
	flag.Parse()

	def := func(v *int, full, quick int) {
		if *v <= 0 {
			*v = pick(c.quick, quick, full)
		}
	}
	defD := func(v *time.Duration, full, quick time.Duration) {
		if *v <= 0 {
			*v = pick(c.quick, quick, full)
		}
	}
	if c.timeScale <= 0 {
		c.timeScale = pick(c.quick, 25.0, 10.0)
	}
	def(&c.batchUsers, 10000, 1000)
	def(&c.baselineMax, 2000, 300)
	def(&c.tenantUsers, 100000, 5000)
	def(&c.groupMembers, 50000, 2500)
	def(&c.directoryUsers, 10000, 300)
	def(&c.latencyRuns, 50, 10)
	def(&c.planUsers, 1000, 100)
	def(&c.shardUsers, 10000, 600)
	def(&c.memoryGroups, 10, 2)
	def(&c.memoryMembers, 5000, 300)
	// The manager's 15 s default, compressed like Graph's windows (whole
	// seconds, as a Lease counts).
	lease := max(time.Second, (time.Duration(float64(15*time.Second)/c.timeScale) + time.Second - 1).Truncate(time.Second))
	defD(&c.shardLease, lease, lease)
	def(&c.userConcurrency, controllers.DefaultUserConcurrency, controllers.DefaultUserConcurrency)
	defD(&c.idleWindow, time.Minute, 10*time.Second)
	defD(&c.idleInterval, time.Minute, 5*time.Second)
	c.writesPer150s = pick(c.quick, 250, 3000)
	c.scenarioTimeout = pick(c.quick, 90*time.Second, 8*time.Minute)
	if only != "" {
		c.only = map[int]bool{}
		for _, f := range strings.Split(only, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				fmt.Fprintf(os.Stderr, "bad -scenarios %q\n", only)
				os.Exit(2)
			}
			c.only[n] = true
		}
	}
	return c
}

func pick[T any](quick bool, q, full T) T {
	if quick {
		return q
	}
	return full
}

func main() {
	cfg := parseFlags()
	start := time.Now()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: cpu profile:", err)
			os.Exit(1)
		}
	}
	h, err := newHarness(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	t := &table{}
	// Order matters: scenarios leaving resources that keep talking to
	// Graph (10,000 DirectoryUsers re-checking drift) run last.
	scenarios := []struct {
		n   int
		run func(*harness, *table)
	}{
		{7, (*harness).applyLatency},
		{1, (*harness).disableUsers},
		{8, (*harness).undoUsers},
		{2, (*harness).queryUsers},
		{3, (*harness).groupSync},
		{9, (*harness).planUsers},
		{10, (*harness).adoptUsers},
		{11, (*harness).restartUsers},
		{12, (*harness).shardUsers},
		{13, (*harness).managerMemory},
		{5, (*harness).directoryUsers},
	}
	for _, s := range scenarios {
		// Scenario 4 rides on 3's GroupSync, 6 on 5's DirectoryUsers.
		wanted := cfg.only == nil || cfg.only[s.n] || (s.n == 3 && cfg.only[4]) || (s.n == 5 && cfg.only[6])
		if !wanted {
			continue
		}
		h.run(t, s.n, s.run)
	}
	h.stop()
	pprof.StopCPUProfile() // no-op without -cpuprofile

	md := t.markdown(cfg, time.Since(start))
	fmt.Print(md)
	if cfg.out != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.out), 0o755); err == nil {
			err = os.WriteFile(cfg.out, []byte(md), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: writing", cfg.out+":", err)
			os.Exit(1)
		}
	}
	if slices.ContainsFunc(t.rows, func(r row) bool { return r.failed }) {
		// The table is printed either way; a scenario that could not run
		// makes the exit status say so.
		os.Exit(1)
	}
}
