//go:build sdk

package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// undoUsers is scenario 8: undo (UserEnableBatch fromBatch) the
// UserDisableBatches that disabled N users, at the L tenant's write quota.
// The disable runs first (not measured) and its batches are deleted, so the
// undo reads their audit exports, as after an incident's clean-up.
func (h *harness) undoUsers(t *table) {
	cfg := h.cfg
	name := scenarioNames[8]
	ctx := context.Background()
	te := h.newTenant(directoryOptions{throttling: true})
	upns := h.putUsers(cfg.batchUsers, "undo")
	_, bs := h.runBatches(te, "incident", upns, false)
	if c, phases := batchCounts(bs); int(c.Disabled) != len(upns) {
		h.fail("the disable to undo disabled %d of %d users (phases %v)", c.Disabled, len(upns), phases)
	}
	for i := range bs {
		if err := h.kube.Delete(ctx, &bs[i]); err != nil {
			h.fail("deleting batch %s: %v", bs[i].Name, err)
		}
	}
	h.waitFor(cfg.scenarioTimeout, "the disable's batches to be gone", func() bool {
		var list v1alpha1.UserDisableBatchList
		return h.watch.List(ctx, &list, client.InNamespace(te.ns)) == nil && len(list.Items) == 0
	})
	// The operator's budget for the Directory refills in one quota window;
	// then both sides start full, as for the disable of scenario 1.
	time.Sleep(time.Duration(float64(150*time.Second)/cfg.timeScale) + time.Second)
	h.refillQuota()
	h.sim.ResetCounters()
	tl := h.sampleWrites()
	wall, undos := h.runUndos(te, bs)
	cnt := h.sim.Counters()
	u := usageOf(cnt)
	throttledNote(t, 8, cnt)
	span := tl.stop()
	firstWrite := span.first

	enabled := 0
	for _, upn := range upns {
		if g, ok := h.sim.GetUser(upn); ok && g.AccountEnabled {
			enabled++
		}
	}
	var c v1alpha1.BatchCounts
	for _, e := range undos {
		c.Enabled += e.Status.Counts.Enabled
		c.Failed += e.Status.Counts.Failed
	}
	if enabled != len(upns) || int(c.Enabled) != len(upns) {
		t.note("Scenario 8: %d of %d users are enabled in the emulator; the undos report %d enabled, %d failed.", enabled, len(upns), c.Enabled, c.Failed)
	}
	rate, quota := h.effectiveWriteRate(u.writes, wall), h.writeRate()
	quotaRatio := rate / quota
	figure := fmt.Sprintf("%.2f of write quota: (%s writes − %s burst) / %s = %.0f writes/s vs quota %.0f writes/s; %s 429s",
		quotaRatio, fmtInt(u.writes), fmtInt(int64(cfg.writesPer150s)), fmtDur(wall), rate, quota, fmtInt(u.throttled))
	if u.writes <= int64(cfg.writesPer150s) {
		figure = fmt.Sprintf("all %s writes fit in the quota's %s-write burst: no quota ratio; %s 429s", fmtInt(u.writes), fmtInt(int64(cfg.writesPer150s)), fmtInt(u.throttled))
	}
	ok := (quotaRatio >= 0.95 || u.writes <= int64(cfg.writesPer150s)) && u.throttled == 0
	t.add(row{scenario: name, run: fmt.Sprintf("operator, %s users from the exports of %d deleted UserDisableBatch(es)", fmtInt(int64(len(upns))), len(undos)), wall: wall, usage: u,
		figure: figure, goal: "≥ 0.95 of quota, 0 429s: " + verdict(ok)})
	if firstWrite > 0 && wall > firstWrite {
		w := wall - firstWrite
		t.note("Scenario 8: the first write reached Graph %s after the undos were applied (reading the exports, a first wave of reads, "+
			"checkpointed before its rows are written); from the first write on, the pace was %.2f of the quota ((%s − %s burst) / %s).",
			fmtDur(firstWrite), h.effectiveWriteRate(u.writes, w)/quota, fmtInt(u.writes), fmtInt(int64(cfg.writesPer150s)), fmtDur(w))
	}
}

// runUndos applies one UserEnableBatch per source batch and waits until
// every one has finished.
func (h *harness) runUndos(te tenant, srcs []v1alpha1.UserDisableBatch) (time.Duration, []v1alpha1.UserEnableBatch) {
	ctx := context.Background()
	start := time.Now()
	out := make([]v1alpha1.UserEnableBatch, len(srcs))
	for i, src := range srcs {
		out[i] = v1alpha1.UserEnableBatch{
			ObjectMeta: metav1.ObjectMeta{Namespace: te.ns, Name: src.Name + "-undo"},
			Spec: v1alpha1.UserEnableBatchSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: te.directory},
				FromBatch: src.Name, Reason: "benchmark"},
		}
		h.create(ctx, &out[i])
	}
	h.waitFor(h.cfg.scenarioTimeout, "UserEnableBatches to finish", func() bool {
		var list v1alpha1.UserEnableBatchList
		if err := h.watch.List(ctx, &list, client.InNamespace(te.ns), client.UnsafeDisableDeepCopy); err != nil {
			return false
		}
		done := 0
		for _, e := range list.Items {
			if batchFinished(e.Status.Phase) {
				done++
			}
		}
		return done == len(srcs)
	})
	wall := time.Since(start)
	for i := range out {
		if err := h.kube.Get(ctx, client.ObjectKeyFromObject(&out[i]), &out[i]); err != nil {
			h.fail("reading %s: %v", out[i].Name, err)
		}
		if out[i].Status.Phase != v1alpha1.BatchCompleted {
			c := meta.FindStatusCondition(out[i].Status.Conditions, v1alpha1.ConditionReady)
			h.fail("%s ended %s: %+v", out[i].Name, out[i].Status.Phase, c)
		}
	}
	return wall, out
}
