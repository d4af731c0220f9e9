//go:build sdk

package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// shardResult is one run of scenario 12.
type shardResult struct {
	wall  time.Duration
	u     usage
	users int // users the run waited for
	// disabled counts those users disabled in the emulator.
	disabled int
	// Kill runs only: the survivor's share before the kill, and how long
	// after the kill it was back at 1 (0: never seen).
	shareBefore float64
	takeBack    time.Duration
	killErr     string
	// span is when the first and the last write reached the emulator.
	span writeSpan
	// finished is when each shard's last batch completed, after the
	// batches were applied.
	finished map[string]time.Duration
}

// shardUsers is scenario 12: two manager processes (shard=a and shard=b)
// disable N users of one tenant, half each, at the L write quota; with the
// budget Leases, without them, and with shard b killed (kill -9) mid-run.
func (h *harness) shardUsers(t *table) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := h.newShardEnv(ctx)
	name, n := scenarioNames[12], h.cfg.shardUsers
	co := h.shardRun(e, true, false, "sha")
	un := h.shardRun(e, false, false, "shu")
	// Last: shard b's unfinished batches stay behind, and no process
	// serves shard b after this run.
	kill := h.shardRun(e, true, true, "shk")

	quota := h.writeRate()
	ratio := func(r shardResult) string {
		if r.u.writes <= int64(h.cfg.writesPer150s) {
			return fmt.Sprintf("all %s writes fit in the burst: no quota ratio", fmtInt(r.u.writes))
		}
		return fmt.Sprintf("%.2f of write quota ((%s writes − %s burst) / %s)", h.effectiveWriteRate(r.u.writes, r.wall)/quota,
			fmtInt(r.u.writes), fmtInt(int64(h.cfg.writesPer150s)), fmtDur(r.wall))
	}
	coRatio := h.effectiveWriteRate(co.u.writes, co.wall) / quota
	t.add(row{scenario: name, run: fmt.Sprintf("2 shards with budget Leases, %s users", fmtInt(int64(n))), wall: co.wall, usage: co.u,
		figure: fmt.Sprintf("%d 429s; combined %s", co.u.throttled, ratio(co)),
		goal:   "0 429s, ≥ 0.95 of quota: " + verdict(co.u.throttled == 0 && coRatio >= 0.95)})
	t.add(row{scenario: name, run: "2 shards, --budget-shards=false", wall: un.wall, usage: un.u,
		figure: fmt.Sprintf("%d 429s (%.1f %% of write requests); combined %s", un.u.throttled, un.u.writes429(), ratio(un))})
	killFigure := fmt.Sprintf("survivor's share %.2f → 1 %s after the kill (Lease duration %s); survivor finished its %s users; %d 429s",
		kill.shareBefore, fmtDur(kill.takeBack), h.cfg.shardLease, fmtInt(int64(kill.users)), kill.u.throttled)
	if kill.killErr != "" {
		killFigure = kill.killErr
	}
	t.add(row{scenario: name, run: "with Leases, shard b kill -9 mid-run", wall: kill.wall, usage: kill.u, figure: killFigure,
		goal: "share back ≤ one Lease duration: " + verdict(kill.killErr == "" && kill.takeBack > 0 && kill.takeBack <= h.cfg.shardLease)})
	t.note("Scenario 12: last batch completed (completedAt, second precision) with Leases: shard a %s, shard b %s; without: shard a %s, shard b %s.",
		fmtDur(co.finished["a"]), fmtDur(co.finished["b"]), fmtDur(un.finished["a"]), fmtDur(un.finished["b"]))
	if sp := co.span; sp.first > 0 && sp.last > sp.first && co.wall > sp.last {
		t.note("Scenario 12: with Leases, the first write reached Graph %s after the apply and the last %s, %s before both shards reported their outcome; "+
			"from the first write to the last the pace was %.2f of the quota ((%s − %s burst) / %s).",
			fmtDur(sp.first), fmtDur(sp.last), fmtDur(co.wall-sp.last), h.effectiveWriteRate(co.u.writes, sp.last-sp.first)/quota,
			fmtInt(co.u.writes), fmtInt(int64(h.cfg.writesPer150s)), fmtDur(sp.last-sp.first))
	}
	for _, r := range []shardResult{co, un, kill} {
		if r.disabled != r.users {
			t.note("Scenario 12: only %d of %d users disabled in a run.", r.disabled, r.users)
		}
	}
	t.note("Scenario 12: the shard processes' logs are in %s.", e.dir)
	t.note("Scenario 12: two `bin/manager` processes (--label-selector shard=a / shard=b, --graph-time-scale %g) share one app+tenant; "+
		"the quota ratio is scenario 1's (writes beyond one burst / wall time / write quota), wall times compressed ×%g. "+
		"The kill run's wall time is until the survivor's own batches finished.", h.cfg.timeScale, h.cfg.timeScale)
}

// shardRun starts the two shard processes, applies half the users'
// batches to each, and waits for them; with kill, shard b is killed once
// half the writes are done and only shard a's batches are waited for.
func (h *harness) shardRun(e *shardEnv, coordinated, kill bool, prefix string) shardResult {
	a, b := h.startShard(e, "a", coordinated), h.startShard(e, "b", coordinated)
	defer func() {
		a.p.Stop()
		b.p.Stop()
	}()
	te := h.newTenant(directoryOptions{throttling: true, shards: []string{"a", "b"}})
	upns := h.putUsers(h.cfg.shardUsers, prefix)
	half := len(upns) / 2
	bsA, bsB := shardBatches(te, "a", upns[:half]), shardBatches(te, "b", upns[half:])
	key := strings.ToLower(h.sim.TenantID() + "/" + te.clientID)
	h.refillQuota()
	h.sim.ResetCounters()
	r := shardResult{}
	if !kill {
		start := time.Now()
		tl := h.sampleWrites()
		var out []v1alpha1.UserDisableBatch
		r.wall, out = h.runBatchSet(append(bsA, bsB...), e.batches)
		r.span = tl.stop()
		r.finished = map[string]time.Duration{}
		for _, x := range out {
			if c := x.Status.CompletedAt; c != nil {
				r.finished[x.Labels[shardLabel]] = max(r.finished[x.Labels[shardLabel]], c.Sub(start))
			}
		}
		r.users = len(upns)
		r.u, r.disabled = usageOf(h.sim.Counters()), h.countDisabled(upns)
		return r
	}
	for _, x := range bsB {
		h.create(context.Background(), x)
	}
	done := make(chan shardResult, 1)
	go func() {
		var k shardResult
		k.shareBefore, k.takeBack, k.killErr = h.killShard(a, b, key, int64(half))
		done <- k
	}()
	r.wall, _ = h.runBatchSet(bsA, e.batches)
	select {
	case k := <-done:
		r.shareBefore, r.takeBack, r.killErr = k.shareBefore, k.takeBack, k.killErr
	case <-time.After(h.cfg.shardLease + 30*time.Second):
		r.killErr = "the survivor's share never came back to 1"
	}
	r.users = half
	r.u, r.disabled = usageOf(h.sim.Counters()), h.countDisabled(upns[:half])
	return r
}

// killShard kills b (kill -9) once the emulator has seen after writes and
// returns a's share just before, and how long after the kill a's share was
// 1 again. It runs beside the scenario, so it reports failures instead of
// aborting.
func (h *harness) killShard(a, b *shardProc, key string, after int64) (before float64, took time.Duration, failure string) {
	deadline := time.Now().Add(h.cfg.scenarioTimeout)
	for h.sim.Counters().Writes < after {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Sprintf("only %d writes before the timeout: shard b not killed", h.sim.Counters().Writes)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before = a.share(key)
	b.p.Kill()
	killed := time.Now()
	for a.share(key) != 1 {
		if time.Since(killed) > h.cfg.shardLease+30*time.Second {
			return before, 0, fmt.Sprintf("shard a's share still %.2f %s after the kill", a.share(key), fmtDur(time.Since(killed)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return before, time.Since(killed), ""
}

func (h *harness) countDisabled(upns []string) int {
	n := 0
	for _, upn := range upns {
		if g, ok := h.sim.GetUser(upn); ok && !g.AccountEnabled {
			n++
		}
	}
	return n
}
