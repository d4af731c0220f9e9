//go:build sdk

package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// concurrency is what the manager runs the batch controllers with, and
// userConcurrency (-user-concurrency) the DirectoryUser controller: the
// production defaults of cmd/manager.
const concurrency = controllers.DefaultConcurrency

// harness owns the one environment every scenario shares. controller-runtime
// refuses two controllers of the same name in one process, so scenarios
// share one manager and one emulator; each gets a fresh app registration
// (its own throttle buckets, on Graph's side and in the operator's shared
// budget), namespace and Directory, and the emulator's data is reset.
type harness struct {
	cfg  config
	env  *testenv.Env
	sim  *graphsim.Server
	kube client.Client
	// watch reads the manager's informer cache: polling it costs the API
	// server nothing, where polling kube would (a 5,000-row batch is
	// ~600 KiB a GET) and slow down the operator being measured.
	watch client.Reader
	apps  atomic.Int64
	// directories created so far, deleted when the next scenario starts.
	directories []client.Object
	// bound is the API server's bound of scenarios 5 and 10, measured once.
	bound apiBound
}

func newHarness(cfg config) (*harness, error) {
	env, err := testenv.Start(testenv.Options{
		Sim: graphsim.Options{
			TimeScale:  cfg.timeScale,
			TenantSize: "L",
			Latency:    scaledLatency(cfg),
			// Graph's 3,000 writes per 150 s, lowered in -quick runs.
			WritesPer150s: cfg.writesPer150s,
			Seed:          7,
		},
		TimeScale: cfg.timeScale,
		// Objects labelled for scenario 12's shard processes are theirs.
		Shard: labels.NewSelector().Add(mustRequirement(shardLabel, selection.DoesNotExist)),
		Setup: func(mgr ctrl.Manager, res *connection.Resolver) error {
			return controllers.Setup(mgr, res, controllers.Options{Concurrency: concurrency, UserConcurrency: cfg.userConcurrency, UserFilter: notRestart})
		},
	})
	if err != nil {
		return nil, err
	}
	return &harness{cfg: cfg, env: env, sim: env.Sim, kube: env.Client, watch: env.Manager.GetClient()}, nil
}

func scaledLatency(cfg config) time.Duration {
	return time.Duration(float64(cfg.graphLatency) / cfg.timeScale)
}

func (h *harness) stop() { h.env.Stop() }

// benchFailure aborts one scenario; run turns it into a "not measured" row.
type benchFailure struct{ msg string }

func (h *harness) fail(format string, args ...any) {
	panic(benchFailure{fmt.Sprintf(format, args...)})
}

// run executes one scenario, turning a failure into a row instead of
// losing the rest of the table.
func (h *harness) run(t *table, n int, f func(*harness, *table)) {
	start := time.Now()
	fmt.Fprintf(os.Stderr, "bench: scenario %d ...\n", n)
	defer func() {
		r := recover()
		if r == nil {
			fmt.Fprintf(os.Stderr, "bench: scenario %d done in %s\n", n, fmtDur(time.Since(start)))
			return
		}
		msg := fmt.Sprint(r)
		if bf, ok := r.(benchFailure); ok {
			msg = bf.msg
		} else {
			msg += "\n" + string(debug.Stack())
		}
		fmt.Fprintf(os.Stderr, "bench: scenario %d failed after %s: %s\n", n, fmtDur(time.Since(start)), msg)
		t.add(row{scenario: scenarioNames[n], run: "operator", failed: true, figure: firstLine(msg)})
		// Scenarios 4 and 6 continue from 3's GroupSync and 5's users.
		if dep, ok := map[int]int{3: 4, 5: 6}[n]; ok && (h.cfg.only == nil || h.cfg.only[dep]) {
			t.add(row{scenario: scenarioNames[dep], run: "operator", failed: true, figure: fmt.Sprintf("needs scenario %d", n)})
		}
	}()
	f(h, t)
}

var scenarioNames = map[int]string{
	1:  "1. Disable users (UserDisableBatch, L quota)",
	2:  "2. Query jobTitle/accountEnabled (dry run)",
	3:  "3. GroupSync first sync",
	4:  "4. GroupSync resync",
	5:  "5. Apply DirectoryUsers (unthrottled)",
	6:  "6. Idle hour, drift detection",
	7:  "7. Apply → Ready, one DirectoryUser",
	8:  "8. Undo a disable (UserEnableBatch fromBatch, L quota)",
	9:  "9. Plan a pull request (kubectl entra plan)",
	10: "10. Adopt existing users (DirectoryUser, L quota)",
	11: "11. Restart with Ready DirectoryUsers",
	12: "12. Two shards, one tenant (two manager processes, L quota)",
	13: "13. Manager memory (the manager process alone)",
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// tb adapts the harness to the testing.TB the testenv helpers take:
// a fatal error aborts the scenario.
type tb struct {
	testing.TB
	h *harness
}

func (t tb) Helper()                           {}
func (t tb) Fatalf(format string, args ...any) { t.h.fail(format, args...) }
func (t tb) Fatal(args ...any)                 { t.h.fail("%s", fmt.Sprint(args...)) }
func (t tb) Errorf(format string, args ...any) { t.h.fail(format, args...) }
func (t tb) Logf(format string, args ...any)   { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// Cleanup does nothing: the bench stops what it starts itself (the
// process ends after the table is written).
func (t tb) Cleanup(func()) {}

// tenant is one scenario's Graph side and Kubernetes side.
type tenant struct {
	ns        string
	directory string
	clientID  string
	secret    string
}

// directoryOptions tunes newTenant.
type directoryOptions struct {
	throttling bool
	// budget overrides the operator's client-side quota (nil: the
	// emulator's, an L tenant).
	budget *v1alpha1.ThrottleSpec
	// shards, when set, makes one Directory per shard ("tenant-<shard>",
	// labelled shardLabel=<shard>) for manager processes run with
	// --label-selector, instead of one for the in-process manager.
	shards []string
}

// newTenant resets the emulator's data, registers a fresh app (fresh
// throttle buckets everywhere), and creates a namespace with a Ready
// Directory for it. Counters are zeroed after the Directory's first health
// check so they count only the scenario's own traffic.
func (h *harness) newTenant(o directoryOptions) tenant {
	// The previous scenario's Directory goes, so nothing of it can reach
	// the emulator during this one.
	for _, d := range h.directories {
		_ = h.kube.Delete(context.Background(), d)
	}
	h.directories = nil
	h.sim.Reset()
	h.sim.SetThrottling(false)
	n := h.apps.Add(1)
	te := tenant{
		clientID: fmt.Sprintf("b0000000-0000-4000-8000-%012d", n),
		secret:   fmt.Sprintf("bench-secret-%d", n),
	}
	h.sim.AddApp(te.clientID, te.secret, testenv.AllPermissions...)
	t := tb{h: h}
	te.ns = h.env.Namespace(t)
	// Health checks are the Directory's own traffic, not the scenario's:
	// one at creation (before the counters are reset), then daily.
	dopts := testenv.DirectoryOptions{Name: "tenant", ClientID: te.clientID, ClientSecret: te.secret, Interval: 24 * time.Hour}
	if o.budget != nil {
		dopts.Throttle = *o.budget
	} else {
		w := int32(h.cfg.writesPer150s)
		dopts.Throttle = v1alpha1.ThrottleSpec{TenantSize: v1alpha1.TenantSizeL, WritesPer150s: &w}
	}
	// One Directory, or one per shard (same app and tenant), labelled for
	// the shard's manager process.
	names, lbls := []string{"tenant"}, []map[string]string{nil}
	if len(o.shards) > 0 {
		names, lbls = nil, nil
		for _, s := range o.shards {
			names, lbls = append(names, "tenant-"+s), append(lbls, map[string]string{shardLabel: s})
		}
	}
	te.directory = names[0]
	for i, name := range names {
		dopts.Name, dopts.Labels = name, lbls[i]
		dir := h.env.CreateDirectory(t, te.ns, dopts)
		h.directories = append(h.directories, dir)
		h.waitFor(time.Minute, "Directory "+name+" Ready", func() bool {
			d := &v1alpha1.Directory{}
			if err := h.kube.Get(context.Background(), client.ObjectKeyFromObject(dir), d); err != nil {
				return false
			}
			return meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReady)
		})
	}
	h.sim.SetThrottling(o.throttling)
	h.sim.ResetCounters()
	return te
}

// refillQuota restarts every throttle bucket full, so two runs measured
// one after the other start from the same quota.
func (h *harness) refillQuota() {
	h.sim.SetThrottling(false)
	h.sim.SetThrottling(true)
}

// waitFor polls cond every 50 ms; a timeout aborts the scenario.
func (h *harness) waitFor(timeout time.Duration, what string, cond func() bool) time.Duration {
	start := time.Now()
	deadline := start.Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.fail("timed out after %s waiting for %s", fmtDur(timeout), what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// create creates obj, retrying conflicts and timeouts of a busy apiserver.
func (h *harness) create(ctx context.Context, obj client.Object) {
	var err error
	for range 5 {
		if err = h.kube.Create(ctx, obj); err == nil {
			return
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.fail("creating %s: %v", obj.GetName(), err)
}

func ready(conds []metav1.Condition) bool {
	return meta.IsStatusConditionTrue(conds, v1alpha1.ConditionReady)
}
