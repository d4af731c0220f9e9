//go:build sdk

package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graphsim"
)

// maxBatchUsers is the CRD's MaxItems for spec.users.
const maxBatchUsers = 5000

// putUsers seeds n enabled users through the emulator's control plane
// (not counted) and returns their UPNs.
func (h *harness) putUsers(n int, prefix string) []string {
	titles := []string{"Engineer", "Accountant", "Designer", "Counsel", "Support Specialist"}
	upns := make([]string, n)
	for i := range n {
		nick := fmt.Sprintf("%s%05d", prefix, i)
		upns[i] = nick + "@contoso.com"
		h.sim.PutUser(graphsim.User{
			UserPrincipalName: upns[i], DisplayName: nick, MailNickname: nick,
			JobTitle: titles[i%len(titles)], AccountEnabled: true,
		})
	}
	return upns
}

// runBatches applies the users as UserDisableBatches of at most 5,000 and
// waits until every one has finished; it returns the wall time and the
// batches' final state.
func (h *harness) runBatches(te tenant, name string, upns []string, dryRun bool) (time.Duration, []v1alpha1.UserDisableBatch) {
	var bs []*v1alpha1.UserDisableBatch
	for i := 0; i < len(upns); i += maxBatchUsers {
		bs = append(bs, &v1alpha1.UserDisableBatch{
			ObjectMeta: metav1.ObjectMeta{Namespace: te.ns, Name: fmt.Sprintf("%s-%d", name, i/maxBatchUsers+1)},
			Spec: v1alpha1.UserDisableBatchSpec{
				DirectoryRef: v1alpha1.DirectoryReference{Name: te.directory},
				Users:        upns[i:min(i+maxBatchUsers, len(upns))],
				DryRun:       dryRun,
				Reason:       "benchmark",
			},
		})
	}
	return h.runBatchSet(bs, h.watch)
}

// runBatchSet creates the batches (all in one namespace) and waits, reading
// through r, until every one has finished; it returns the wall time and
// the batches' final state.
func (h *harness) runBatchSet(bs []*v1alpha1.UserDisableBatch, r client.Reader) (time.Duration, []v1alpha1.UserDisableBatch) {
	ctx := context.Background()
	var keys []client.ObjectKey
	start := time.Now()
	for _, b := range bs {
		h.create(ctx, b)
		keys = append(keys, client.ObjectKeyFromObject(b))
	}
	ns := bs[0].Namespace
	out := make([]v1alpha1.UserDisableBatch, len(keys))
	defer func() {
		if r := recover(); r != nil {
			// Say where the batches stood: that is what to debug.
			for _, k := range keys {
				var b v1alpha1.UserDisableBatch
				if err := h.kube.Get(ctx, k, &b); err != nil {
					continue
				}
				c := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionReady)
				if c != nil {
					r = fmt.Sprintf("%v; %s: phase %q counts %+v, Ready %s %s: %s", r, b.Name, b.Status.Phase, b.Status.Counts, c.Status, c.Reason, c.Message)
				}
			}
			panic(benchFailure{fmt.Sprint(r)})
		}
	}()
	seen := map[string]bool{}
	var wall time.Duration
	h.waitFor(h.cfg.scenarioTimeout, "UserDisableBatches to finish", func() bool {
		var list v1alpha1.UserDisableBatchList
		if err := r.List(ctx, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return false
		}
		byName := map[string]*v1alpha1.UserDisableBatch{}
		for i := range list.Items {
			byName[list.Items[i].Name] = &list.Items[i]
		}
		done := true
		for _, k := range keys {
			b := byName[k.Name]
			if b == nil || !batchFinished(b.Status.Phase) {
				done = false
			} else if !seen[k.Name] {
				seen[k.Name] = true
				// For a look at the run's end next to the manager's logs.
				fmt.Fprintf(os.Stderr, "bench: %s seen %s at %s (%s after the apply)\n", k.Name, b.Status.Phase, time.Now().UTC().Format(time.RFC3339Nano), fmtDur(time.Since(start)))
			}
		}
		if done {
			// The run ends when its last outcome is seen; reading the
			// batches back below is the bench's own work.
			wall = time.Since(start)
		}
		return done
	})
	for i, k := range keys {
		if err := h.kube.Get(ctx, k, &out[i]); err != nil {
			h.fail("reading batch %s: %v", k.Name, err)
		}
	}
	return wall, out
}

func batchFinished(p v1alpha1.BatchPhase) bool {
	switch p {
	case v1alpha1.BatchCompleted, v1alpha1.BatchCompletedWithErrors, v1alpha1.BatchFailed:
		return true
	}
	return false
}

func batchCounts(bs []v1alpha1.UserDisableBatch) (c v1alpha1.BatchCounts, phases []v1alpha1.BatchPhase) {
	for _, b := range bs {
		s := b.Status.Counts
		c.Total += s.Total
		c.Disabled += s.Disabled
		c.AlreadyDisabled += s.AlreadyDisabled
		c.NotFound += s.NotFound
		c.Protected += s.Protected
		c.Failed += s.Failed
		c.Queried += s.Queried
		phases = append(phases, b.Status.Phase)
	}
	return c, phases
}

// baseline runs the naive loop on at most baselineMax of the users and
// extrapolates linearly to all of them. Linear extrapolation only holds
// while the loop stays under the quota (latency-bound); a subset that ran
// faster than quotaUsersPerSec allows in steady state, or met a 429, says
// the quota would have shaped the full run, so the full run is measured
// instead. prepare puts the users back in their initial state before each
// run. It returns the (extrapolated) wall time and usage, and how they were
// obtained.
func (h *harness) baseline(te tenant, upns []string, quotaUsersPerSec float64, prepare func(), f func(*naive, []string) int) (time.Duration, usage, string) {
	n, err := newNaive(h.sim.URL(), h.sim.TenantID(), te.clientID, te.secret, h.sim.CACertPEM())
	if err != nil {
		h.fail("building the SDK baseline client: %v", err)
	}
	measure := func(keys []string) (time.Duration, usage) {
		prepare()
		h.refillQuota()
		h.sim.ResetCounters()
		start := time.Now()
		failed := f(n, keys)
		wall := time.Since(start)
		if failed > 0 {
			h.fail("SDK baseline: %d of %d users failed after %d attempts each", failed, len(keys), maxNaiveAttempts)
		}
		return wall, usageOf(h.sim.Counters())
	}
	subset := upns[:min(len(upns), h.cfg.baselineMax)]
	wall, u := measure(subset)
	if len(subset) == len(upns) {
		return wall, u, "measured on all users"
	}
	if rate := float64(len(subset)) / wall.Seconds(); rate > quotaUsersPerSec || u.throttled > 0 {
		sw, su := wall, u
		wall, u = measure(upns)
		return wall, u, fmt.Sprintf("measured on all users (a %s-user sample ran at %.0f users/s with %d 429s, above the quota's %.0f/s, so it could not be extrapolated; sample took %s, %s requests)",
			fmtInt(int64(len(subset))), rate, su.throttled, quotaUsersPerSec, fmtDur(sw), fmtInt(su.requests))
	}
	f64 := float64(len(upns)) / float64(len(subset))
	return time.Duration(float64(wall) * f64), u.scaled(f64),
		fmt.Sprintf("measured on %s users (%s, %s requests, no 429, %.0f users/s: under the quota's %.0f/s), extrapolated linearly ×%.1f",
			fmtInt(int64(len(subset))), fmtDur(wall), fmtInt(u.requests), float64(len(subset))/wall.Seconds(), quotaUsersPerSec, f64)
}

// quota is the emulated write quota, in compressed time.
func (h *harness) writeRate() float64 {
	return float64(h.cfg.writesPer150s) / 150 * h.cfg.timeScale
}

// effectiveWriteRate credits the token bucket's initial burst (a full
// bucket of writesPer150s) as free: whatever went beyond it had to be paced
// at the quota's refill rate, so (writes − burst) / time is the sustained
// pace, which the quota caps at writesPer150s/150 s.
func (h *harness) effectiveWriteRate(writes int64, wall time.Duration) float64 {
	return float64(writes-int64(h.cfg.writesPer150s)) / wall.Seconds()
}

// disableUsers is scenario 1: disable N users with UserDisableBatch at the
// L tenant's write quota.
func (h *harness) disableUsers(t *table) {
	cfg := h.cfg
	name := scenarioNames[1]
	te := h.newTenant(directoryOptions{throttling: true})
	upns := h.putUsers(cfg.batchUsers, "dis")
	h.refillQuota()
	h.sim.ResetCounters()
	tl := h.sampleWrites()
	wall, bs := h.runBatches(te, "disable", upns, false)
	cnt := h.sim.Counters()
	u := usageOf(cnt)
	throttledNote(t, 1, cnt)
	span := tl.stop()
	firstWrite := span.first
	counts, phases := batchCounts(bs)

	disabled := 0
	for _, upn := range upns {
		if g, ok := h.sim.GetUser(upn); ok && !g.AccountEnabled {
			disabled++
		}
	}
	if disabled != len(upns) {
		t.note("Scenario 1: only %d of %d users are disabled in the emulator (batch phases %v, counts %+v).", disabled, len(upns), phases, counts)
	}

	rate, quota := h.effectiveWriteRate(u.writes, wall), h.writeRate()
	share := u.writes429() / 100
	quotaRatio := rate / quota
	figure := fmt.Sprintf("%.2f of write quota: (%s writes − %s burst) / %s = %.0f writes/s vs quota %s/150 s ×%g = %.0f writes/s; %.2f %% of write requests answered 429",
		quotaRatio, fmtInt(u.writes), fmtInt(int64(cfg.writesPer150s)), fmtDur(wall), rate, fmtInt(int64(cfg.writesPer150s)), cfg.timeScale, quota, 100*share)
	if u.writes <= int64(cfg.writesPer150s) {
		figure = fmt.Sprintf("all %s writes fit in the quota's %s-write burst: no quota ratio; %.2f %% of write requests answered 429", fmtInt(u.writes), fmtInt(int64(cfg.writesPer150s)), 100*share)
	}

	// The baseline starts from the same enabled users (control plane: not counted).
	reenable := func() {
		for _, upn := range upns {
			if g, ok := h.sim.GetUser(upn); ok && !g.AccountEnabled {
				h.sim.UpdateUser(g.ID, func(x *graphsim.User) { x.AccountEnabled = true })
			}
		}
	}
	bwall, bu, how := h.baseline(te, upns, quota, reenable, func(n *naive, keys []string) int { return n.disable(context.Background(), keys) })
	floor := time.Duration(math.Max(0, float64(len(upns)-cfg.writesPer150s)) / quota * float64(time.Second))

	figure += fmt.Sprintf("; requests %s vs naive", ratio(float64(bu.requests), float64(u.requests))+" fewer")
	ok := quotaRatio >= 0.95 && share <= 0.01
	t.add(row{scenario: name, run: fmt.Sprintf("operator, %s users in %d batches", fmtInt(int64(len(upns))), len(bs)), wall: wall, usage: u,
		figure: figure, goal: "≥ 0.95 of quota, ≤ 1 % 429s: " + verdict(ok)})
	t.add(row{scenario: name, run: "naive SDK GET+PATCH per user", wall: bwall, usage: bu,
		figure: fmt.Sprintf("%.2f of write quota; %.1f %% of write requests answered 429; %s", h.effectiveWriteRate(bu.writes, bwall)/quota, bu.writes429(), how)})
	if firstWrite > 0 && wall > firstWrite {
		// The time before the first write (the first wave of reads and
		// the checkpoint recording it, apiserver round trips) is not
		// compressed by the time scale, so it weighs ×timeScale more here
		// than against real Graph.
		w := wall - firstWrite
		realMin := float64(u.writes-int64(cfg.writesPer150s)) / (quota / cfg.timeScale)
		realEst := firstWrite.Seconds() + w.Seconds()*cfg.timeScale
		t.note("Scenario 1: the first write reached Graph %s after the batches were applied (a first wave of reads, checkpointed before its rows are written); "+
			"from the first write on, the pace was %.2f of the quota ((%s − %s burst) / %s). That start-up is not compressed by the time scale: "+
			"at real speed it would weigh 1/%g as much, an estimated %.2f of the quota (estimate, not measured).",
			fmtDur(firstWrite), h.effectiveWriteRate(u.writes, w)/quota, fmtInt(u.writes), fmtInt(int64(cfg.writesPer150s)), fmtDur(w), cfg.timeScale, realMin/realEst)
	}
	if span.last > 0 && wall > span.last {
		t.note("Scenario 1: the last write reached Graph %s after the apply, %s before every batch reported its outcome.", fmtDur(span.last), fmtDur(wall-span.last))
	}
	t.note("Scenario 1: wall times are compressed ×%g; at real Graph speed (quota %s writes/150 s) the operator's run is %s and the quota floor %s. "+
		"The quota ratio credits the token bucket's initial burst of %s writes as free, so it measures the sustained pace.",
		cfg.timeScale, fmtInt(int64(cfg.writesPer150s)), fmtDur(time.Duration(float64(wall)*cfg.timeScale)), fmtDur(time.Duration(float64(floor)*cfg.timeScale)),
		fmtInt(int64(cfg.writesPer150s)))
}

// queryUsers is scenario 2: a dry-run batch reading jobTitle and
// accountEnabled of N users.
func (h *harness) queryUsers(t *table) {
	cfg := h.cfg
	name := scenarioNames[2]
	te := h.newTenant(directoryOptions{throttling: true})
	upns := h.putUsers(cfg.batchUsers, "qry")
	h.refillQuota()
	h.sim.ResetCounters()
	wall, bs := h.runBatches(te, "query", upns, true)
	u := usageOf(h.sim.Counters())
	counts, phases := batchCounts(bs)
	if int(counts.Queried) != len(upns) {
		t.note("Scenario 2: %d of %d users queried (phases %v, counts %+v).", counts.Queried, len(upns), phases, counts)
	}
	if u.writes != 0 {
		t.note("Scenario 2: the dry run sent %d writes.", u.writes)
	}
	// One read costs 1 RU, so the RU quota caps a reader at 800 users/s (×time scale).
	ruRate := float64(lTenantRUPer10s) / 10 * cfg.timeScale
	bwall, bu, how := h.baseline(te, upns, ruRate, func() {}, func(n *naive, keys []string) int { return n.query(context.Background(), keys) })
	t.add(row{scenario: name, run: fmt.Sprintf("operator, %s users in %d batches", fmtInt(int64(len(upns))), len(bs)), wall: wall, usage: u,
		figure: fmt.Sprintf("requests %s fewer, RU %s of naive; time %s of naive", ratio(float64(bu.requests), float64(u.requests)),
			ratio(float64(u.ru), float64(bu.ru)), ratio(wall.Seconds(), bwall.Seconds()))})
	t.add(row{scenario: name, run: "naive SDK GET per user", wall: bwall, usage: bu, figure: how})
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// writeTimeline watches the emulator's write counter to find when the
// first write arrived and when the last one did: before the first, the
// batches read and checkpoint; after the last, they record the outcome.
type writeTimeline struct {
	done chan struct{}
	out  chan writeSpan
}

// writeSpan is when, after the apply, the first and the last write reached
// the emulator (0: none).
type writeSpan struct{ first, last time.Duration }

func (h *harness) sampleWrites() *writeTimeline {
	tl := &writeTimeline{done: make(chan struct{}), out: make(chan writeSpan, 1)}
	start := time.Now()
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var span writeSpan
		var seen int64
		for {
			select {
			case <-tl.done:
				tl.out <- span
				return
			case <-tick.C:
				if w := h.sim.Counters().Writes; w > seen {
					seen, span.last = w, time.Since(start)
					if span.first == 0 {
						span.first = span.last
					}
				}
			}
		}
	}()
	return tl
}

// stop returns when the first and the last write were seen.
func (tl *writeTimeline) stop() writeSpan {
	close(tl.done)
	return <-tl.out
}

// throttledNote names the emulator buckets that answered 429, when any did:
// the operator paces itself to the app+tenant quota, so a 429 there says
// its budget and the emulator's drifted apart, one elsewhere that another
// limit was reached.
func throttledNote(t *table, scenario int, c graphsim.Counters) {
	if c.Throttled == 0 {
		return
	}
	keys := make([]string, 0, len(c.ThrottledBy))
	for k := range c.ThrottledBy {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, c.ThrottledBy[k])
	}
	t.note("Scenario %d: 429s by emulator bucket (limit, scope): %s.", scenario, strings.Join(parts, ", "))
}
