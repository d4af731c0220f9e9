//go:build sdk

package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/directoryuser"
)

// defaultDriftInterval is DirectoryUser's default spec.interval; scenario 6
// scales its measurement to it.
const defaultDriftInterval = 10 * time.Minute

// naiveCreateSample is how many sequential SDK POST /users the baseline of
// scenario 5 really sends before extrapolating.
const naiveCreateSample = 200

// directoryUsers is scenario 5 (apply N DirectoryUsers against an
// unthrottled emulator) followed by scenario 6 (the idle drift checks of
// the same N users).
func (h *harness) directoryUsers(t *table) {
	cfg := h.cfg
	name := scenarioNames[5]
	ctx := context.Background()
	// Unthrottled on both sides: the emulator answers no 429, and the
	// Directory lifts the operator's own budget, so what is measured is the
	// operator's throughput, not the quota (scenario 1 measures that).
	huge := int32(math.MaxInt32)
	te := h.newTenant(directoryOptions{budget: &v1alpha1.ThrottleSpec{ResourceUnitsPer10s: &huge, WritesPer150s: &huge}})

	dus := benchUsers(te, "du", "Bench", cfg.directoryUsers)

	// Baseline first, while nothing else talks to the emulator: a
	// sequential SDK loop creating the users one POST at a time.
	bwall, bu, how := h.naiveCreates(te, len(dus))
	h.sim.ResetCounters()

	b := h.apiServerBound(ctx, len(dus))
	bound := b.kind
	api0, apiErr := h.apiRequests(ctx)
	resetPeakRSS()
	start := time.Now()
	if err := h.createMany(ctx, dus); err != nil {
		h.fail("%v", err)
	}
	applied := time.Since(start)
	var readyN, total int
	h.waitFor(cfg.scenarioTimeout, "all DirectoryUsers Ready", func() bool {
		readyN, total = h.countReady(ctx, te.ns)
		return readyN == len(dus) && total == len(dus)
	})
	wall := time.Since(start)
	u := usageOf(h.sim.Counters())
	rss, rssErr := peakRSS()
	api1, apiErr1 := h.apiRequests(ctx)
	apiText := "n/a"
	if apiErr == nil && apiErr1 == nil {
		apiText = api1.sub(api0).perObject(len(dus))
	}

	quota := float64(graphWritesPer150s) / 150
	floor := time.Duration(math.Max(0, float64(len(dus)-graphWritesPer150s)) / quota * float64(time.Second))

	rssText := "n/a (" + fmt.Sprint(rssErr) + ")"
	if rssErr == nil {
		rssText = fmt.Sprintf("%.0f MiB", float64(rss)/(1<<20))
	}
	floorText := "0 (all creates fit in its 3,000-write burst)"
	if floor > 0 {
		floorText = fmt.Sprintf("%s (3,000-write burst, then 20 writes/s)", fmtDur(floor))
	}
	t.add(row{scenario: name, run: fmt.Sprintf("operator, %s DirectoryUsers", fmtInt(int64(len(dus)))), wall: wall, usage: u,
		figure: fmt.Sprintf("%.0f users/s; time %s of the API-server bound (%s: %s DirectoryUsers created + 2 status patches each, 16 writers; goal ≤ 2.5×) "+
			"and %s of the same writes on ConfigMaps (%s); %s of naive sequential POSTs; peak RSS %s (bench process: manager + emulator + harness); real Graph's L write quota alone would floor it at %s",
			float64(len(dus))/wall.Seconds(), ratio(wall.Seconds(), bound.Seconds()), fmtDur(bound), fmtInt(int64(len(dus))),
			ratio(wall.Seconds(), b.configMaps.Seconds()), fmtDur(b.configMaps), ratio(wall.Seconds(), bwall.Seconds()), rssText, floorText), goal: "≤ 2.5× API-server bound: " + verdict(wall.Seconds() <= 2.5*bound.Seconds())})
	t.add(row{scenario: name, run: "naive SDK POST per user", wall: bwall, usage: bu,
		figure: fmt.Sprintf("%s; at a real %s round trip the loop needs at least %s", how, fmtDur(cfg.graphLatency), fmtDur(time.Duration(len(dus))*cfg.graphLatency))})
	t.note("Scenario 5: `kubectl apply`-like creation (16 parallel writers) took %s of the %s; Graph requests per user %.2f; API server requests per user (incl. the harness's create): %s. "+
		"Peak RSS is VmHWM of this one process (manager, emulator and harness; kube-apiserver and etcd are separate processes), reset at the scenario's start via /proc/self/clear_refs.",
		fmtDur(applied), fmtDur(wall), float64(u.requests)/float64(len(dus)), apiText)

	h.idleHour(t, dus)
}

// benchUsers returns n DirectoryUsers of the tenant named prefix00000…,
// "<displayPrefix> <name>", jobTitle Engineer, deletionPolicy Orphan (no
// Graph call when a scenario deletes them).
func benchUsers(te tenant, prefix, displayPrefix string, n int) []*v1alpha1.DirectoryUser {
	dus := make([]*v1alpha1.DirectoryUser, n)
	for i := range dus {
		nick := fmt.Sprintf("%s%05d", prefix, i)
		title := "Engineer"
		dus[i] = &v1alpha1.DirectoryUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: te.ns, Name: nick},
			Spec: v1alpha1.DirectoryUserSpec{
				DirectoryRef:      v1alpha1.DirectoryReference{Name: te.directory},
				UserPrincipalName: nick + "@contoso.com",
				DisplayName:       displayPrefix + " " + nick,
				JobTitle:          &title,
				DeletionPolicy:    v1alpha1.DeletionOrphan,
			},
		}
	}
	return dus
}

// graphWritesPer150s is Graph's published write quota per app and tenant.
const graphWritesPer150s = 3000

// createMany creates the objects with 16 parallel writers, as a large
// `kubectl apply` would.
func (h *harness) createMany(ctx context.Context, objs []*v1alpha1.DirectoryUser) error {
	return parallel(objs, func(o *v1alpha1.DirectoryUser) error {
		// A request the API server never answers must fail and be retried,
		// not hang the run (seen once at 10,000 objects).
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := h.kube.Create(cctx, o)
		if apierrors.IsAlreadyExists(err) {
			return nil // an earlier attempt timed out on our side but was applied
		}
		return err
	})
}

// parallel runs f on every item with 16 workers, retrying each item a few
// times (a busy apiserver times out now and then); it returns the first
// error that persisted.
func parallel[T any](items []T, f func(T) error) error {
	work := make(chan T)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for it := range work {
				var err error
				for range 5 {
					if err = f(it); err == nil {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	return firstErr
}

func (h *harness) countReady(ctx context.Context, ns string) (ready, total int) {
	// The cache's own objects, read only: 10,000 deep copies a poll would
	// cost more CPU than the controllers being measured.
	ready, total = countReadyIn(ctx, h.watch, ns)
	return ready, max(total, 0)
}

// naiveCreates times naiveCreateSample sequential SDK POST /users and
// extrapolates to n users.
func (h *harness) naiveCreates(te tenant, n int) (time.Duration, usage, string) {
	ctx := context.Background()
	nv, err := newNaive(h.sim.URL(), h.sim.TenantID(), te.clientID, te.secret, h.sim.CACertPEM())
	if err != nil {
		h.fail("building the SDK baseline client: %v", err)
	}
	if _, err := nv.create(ctx, "warm5@contoso.com", "warm5"); err != nil {
		h.fail("SDK baseline POST /users: %v", err)
	}
	sample := min(n, naiveCreateSample)
	h.sim.ResetCounters()
	start := time.Now()
	for i := range sample {
		nick := fmt.Sprintf("sdk5x%05d", i)
		if _, err := nv.create(ctx, nick+"@contoso.com", nick); err != nil {
			h.fail("SDK baseline POST /users: %v", err)
		}
	}
	wall := time.Since(start)
	u := usageOf(h.sim.Counters())
	if sample == n {
		return wall, u, "measured on all users"
	}
	f := float64(n) / float64(sample)
	return time.Duration(float64(wall) * f), u.scaled(f), fmt.Sprintf("measured on %d users (%s), extrapolated linearly ×%.1f", sample, fmtDur(wall), f)
}

// idleHour is scenario 6: the Graph traffic of Ready DirectoryUsers doing
// nothing but drift checks. An hour cannot be simulated (the controller's
// requeue is wall-clock), so the users are switched to a short interval and
// the measurement is scaled by what drives each kind of request: per-user
// reads ∝ 1/interval, so they scale by (1 h ÷ window) × (interval ÷ default
// interval); the drift watcher's users/delta polls run once per Directory
// every min(interval, directoryuser.DefaultDriftPoll), so they scale by
// (1 h ÷ window) × (that period now ÷ that period at the default interval).
func (h *harness) idleHour(t *table, dus []*v1alpha1.DirectoryUser) {
	cfg := h.cfg
	name := scenarioNames[6]
	n := len(dus)
	if err := h.setIntervals(context.Background(), dus, cfg.idleInterval); err != nil {
		h.fail("%v", err)
	}
	// The edit reconciles (and reads) every user once: wait until all of
	// them saw it, then one interval for their requeues to spread out, so
	// the window measures idle users only, not the tail of the edit.
	h.waitFor(cfg.scenarioTimeout, "the interval edit reconciled", func() bool {
		ready, total := h.countReady(context.Background(), dus[0].Namespace)
		return ready == n && total == n
	})
	time.Sleep(cfg.idleInterval)
	h.sim.ResetCounters()
	time.Sleep(cfg.idleWindow)
	c := h.sim.Counters()
	u := usageOf(c)
	polls := c.ByEndpoint["GET /users/delta"]
	reads := u.requests - polls
	perHour := time.Hour.Seconds() / cfg.idleWindow.Seconds()
	readScale := perHour * cfg.idleInterval.Seconds() / defaultDriftInterval.Seconds()
	pollPeriod := min(cfg.idleInterval, directoryuser.DefaultDriftPoll)
	pollScale := perHour * pollPeriod.Seconds() / min(defaultDriftInterval, directoryuser.DefaultDriftPoll).Seconds()
	hourRequests := float64(reads)*readScale + float64(polls)*pollScale
	scale := 0.0
	if u.requests > 0 {
		scale = hourRequests / float64(u.requests)
	}
	hour := u.scaled(scale)
	naive := int64(float64(n) * time.Hour.Seconds() / defaultDriftInterval.Seconds())
	t.add(row{scenario: name, run: fmt.Sprintf("operator, %s DirectoryUsers, default interval %s", fmtInt(int64(n)), defaultDriftInterval), wall: time.Hour, wallText: "1 h (simulated)", usage: hour,
		figure: fmt.Sprintf("%s requests/h vs %s for one GET per user per %s: %s", fmtInt(hour.requests), fmtInt(naive), defaultDriftInterval,
			ratio(float64(hour.requests), float64(naive)))})
	t.note("Scenario 6: in a %s window with spec.interval %s on every user the emulator saw %s users/delta polls and %s other requests (%s RU); "+
		"polls scaled ×%.2f (1 h ÷ window × poll period %s ÷ %s at the default interval), other requests ×%.2f (1 h ÷ window × interval ÷ %s). "+
		"Drift is found by one users/delta poll per Directory; an unchanged user is not read at all.",
		fmtDur(cfg.idleWindow), cfg.idleInterval, fmtInt(polls), fmtInt(reads), fmtInt(u.ru), pollScale, pollPeriod,
		min(defaultDriftInterval, directoryuser.DefaultDriftPoll), readScale, defaultDriftInterval)
}

// setIntervals sets spec.interval on every DirectoryUser, 16 writers in parallel.
func (h *harness) setIntervals(ctx context.Context, dus []*v1alpha1.DirectoryUser, d time.Duration) error {
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"spec":{"interval":%q}}`, d.String())))
	return parallel(dus, func(du *v1alpha1.DirectoryUser) error {
		obj := &v1alpha1.DirectoryUser{ObjectMeta: metav1.ObjectMeta{Namespace: du.Namespace, Name: du.Name}}
		return h.kube.Patch(ctx, obj, patch)
	})
}

// resetPeakRSS resets the kernel's peak-RSS mark (VmHWM) of this process.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS reads VmHWM, in bytes.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
