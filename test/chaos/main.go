// Command chaos is the standing chaos suite: the manager and graphsim
// binaries run as separate processes against envtest's kube-apiserver +
// etcd (as in test/e2e), under injected Graph faults (503/504, half of the
// write 504s applied), replication lag and throttling, while the manager is
// killed with SIGKILL and the API server is killed and restarted. Faults
// then drop to a low rate, then stop, and the suite measures convergence and
// checks the invariants a directory operator must keep whatever happens: no
// duplicate creates, one disable write per batch user, protected users
// never written, exports equal to Graph, no secret anywhere.
//
// It prints a Markdown table (also written to -out) and exits 1 when an
// invariant fails. It is a main package, so `go test ./...` never runs it:
// `make chaos` and `make chaos-quick` do.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

type config struct {
	quick                     bool
	users, batchUsers         int
	groupMembers              int
	protected, overlap        int
	duplicates                bool
	takeover                  bool
	faultRate, lowFaultRate   float64
	lag                       time.Duration
	throttling                bool
	managerKills              int
	apiserverKills            int
	apiserverOutage           time.Duration
	minGap                    time.Duration
	chaos, low, convergeLimit time.Duration
	settle                    time.Duration
	concurrency               int
	seed                      int64
	out                       string
}

// tenantUsers sizes the generated tenant: the group, plus enough users
// outside it for the batch and the adopted and observed users.
func (c config) tenantUsers() int { return c.groupMembers + c.batchUsers + c.users + 50 }

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	var c config
	fs.BoolVar(&c.quick, "quick", false, "scaled-down run (≤ 3 min on an idle 2-core machine); explicit flags still win")
	fs.IntVar(&c.users, "users", 300, "DirectoryUsers (60 % created, 20 % adopted, 15 % ObserveOnly, plus the batch overlap)")
	fs.IntVar(&c.batchUsers, "batch", 1000, "users in the UserDisableBatch (protected, overlapping and 2 missing users included)")
	fs.IntVar(&c.groupMembers, "group", 800, "members of the group the GroupSync exports")
	fs.IntVar(&c.protected, "protected", 5, "batch users listed in the Directory's safety.protectedUsers")
	fs.IntVar(&c.overlap, "overlap", 3, "batch users also adopted by a DirectoryUser")
	fs.BoolVar(&c.duplicates, "duplicate-upn", true, "add two DirectoryUsers claiming one UPN")
	fs.BoolVar(&c.takeover, "takeover", true, "add a GroupSync whose export names an unrelated, existing ConfigMap")
	fs.Float64Var(&c.faultRate, "fault-rate", 0.10, "share of Graph requests answered 503/504 during the chaos phase")
	fs.Float64Var(&c.lowFaultRate, "low-fault-rate", 0.02, "fault rate of the phase after the chaos phase")
	fs.DurationVar(&c.lag, "lag", 2*time.Second, "Graph replication lag (kept after faults stop)")
	fs.BoolVar(&c.throttling, "throttling", true, "Graph throttling buckets on")
	fs.IntVar(&c.managerKills, "kills", 2, "kill -9 of the manager during the chaos phase")
	fs.IntVar(&c.apiserverKills, "apiserver-kills", 1, "kill -9 + restart of kube-apiserver during the chaos phase")
	fs.DurationVar(&c.apiserverOutage, "apiserver-outage", 20*time.Second, "how long kube-apiserver stays down")
	fs.DurationVar(&c.minGap, "min-gap", 20*time.Second, "least time between the end of one kill and the next (a new manager needs ~15 s to take over the leader lease)")
	fs.DurationVar(&c.chaos, "chaos", 150*time.Second, "length of the phase at -fault-rate")
	fs.DurationVar(&c.low, "low", 120*time.Second, "length of the phase at -low-fault-rate")
	fs.DurationVar(&c.convergeLimit, "converge-timeout", 180*time.Second, "how long to wait for convergence after faults stop")
	fs.DurationVar(&c.settle, "settle", 20*time.Second, "wait after convergence before the checks (a revert by a drift poll shows up)")
	fs.IntVar(&c.concurrency, "concurrency", 4, "manager --concurrency")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the tenant, the roles users get, the kill schedule and the emulator's fault draws")
	fs.StringVar(&c.out, "out", "", "Markdown result file (default test/chaos/out/results.md; logs go next to it)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]func(){
			"users": func() { c.users = 60 }, "batch": func() { c.batchUsers = 200 }, "group": func() { c.groupMembers = 150 },
			"protected": func() { c.protected = 3 }, "overlap": func() { c.overlap = 1 },
			"apiserver-outage": func() { c.apiserverOutage = 10 * time.Second },
			"chaos":            func() { c.chaos = 45 * time.Second }, "low": func() { c.low = 20 * time.Second },
			"min-gap":          func() { c.minGap = 15 * time.Second },
			"converge-timeout": func() { c.convergeLimit = 40 * time.Second }, "settle": func() { c.settle = 10 * time.Second },
		}
		for name, f := range quick {
			if !set[name] {
				f()
			}
		}
	}
	if c.users < 20 || c.batchUsers < c.protected+c.overlap+10 || c.groupMembers < 1 {
		return c, fmt.Errorf("need -users ≥ 20, -batch ≥ protected+overlap+10, -group ≥ 1")
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(run(cfg))
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return b
}

// repoRoot is the module root: the current directory when run by make,
// else found by walking up to go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

func logf(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
