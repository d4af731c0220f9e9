//go:build sdk

package main

import (
	"context"
	"fmt"
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/groupsync"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graphsim"
)

// Graph's published app+tenant resource-unit quota of an L tenant.
const lTenantRUPer10s = 8000

// groupSync is scenario 3 (first sync of a big group with managers, at the
// L tenant's quota) followed by scenario 4 (a resync with no change, then
// one after 1 % of the membership changed).
func (h *harness) groupSync(t *table) {
	cfg := h.cfg
	ctx := context.Background()
	te := h.newTenant(directoryOptions{throttling: true})
	gen := h.sim.Generate(graphsim.GenerateOptions{Users: cfg.tenantUsers, ManagersEvery: 8, GroupMembers: cfg.groupMembers, Seed: 3})
	if gen.AllStaffGroupID == "" {
		h.fail("the emulator generated no group")
	}
	group, _ := h.sim.GetGroup(gen.AllStaffGroupID)
	members := len(group.Members)
	tenantUsers := len(gen.UserIDs)

	gs := &v1alpha1.GroupSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: te.ns, Name: "all-staff"},
		Spec: v1alpha1.GroupSyncSpec{
			DirectoryRef: v1alpha1.DirectoryReference{Name: te.directory},
			Group:        v1alpha1.GroupSelector{ID: gen.AllStaffGroupID},
			// Resyncs happen when the bench asks (annotation), never by timer
			// in the middle of a measurement.
			Interval: &metav1.Duration{Duration: 24 * time.Hour},
		},
	}
	h.refillQuota()
	h.sim.ResetCounters()
	start := time.Now()
	h.create(ctx, gs)
	first := h.waitSync(gs, nil)
	wall := time.Since(start)
	u := usageOf(h.sim.Counters())

	plan := groupsync.PlanFullSync(members, tenantUsers, false, true)
	ruRatio := float64(u.ru) / float64(plan.ResourceUnits)
	ruRate := float64(lTenantRUPer10s) / 10 * cfg.timeScale
	budgetFloor := time.Duration(float64(plan.ResourceUnits) / ruRate * float64(time.Second))
	// A listing is a chain of nextLinks: page k+1 is known only from page k.
	chain := int(math.Ceil(float64(max(members, tenantUsers)) / 999))
	pagingFloor := time.Duration(chain) * scaledLatency(cfg)
	name := scenarioNames[3]
	t.add(row{scenario: name, run: fmt.Sprintf("operator, %s members (+ managers) in a %s-user tenant", fmtInt(int64(members)), fmtInt(int64(tenantUsers))), wall: wall, usage: u,
		figure: fmt.Sprintf("RU %s of the cost-model minimum (%s RU, %s plan; alternative %s RU); time %s of the RU-budget floor (%s at 8,000 RU/10 s ×%g) and %s of the paging floor (%d sequential pages × %s RTT = %s)",
			ratio(float64(u.ru), float64(plan.ResourceUnits)), fmtInt(int64(plan.ResourceUnits)), plan.Strategy, fmtInt(int64(plan.Alternative)),
			ratio(wall.Seconds(), budgetFloor.Seconds()), fmtDur(budgetFloor), cfg.timeScale,
			ratio(wall.Seconds(), pagingFloor.Seconds()), chain, fmtDur(scaledLatency(cfg)), fmtDur(pagingFloor)),
		goal: "RU ≤ 1.2× minimum: " + verdict(ruRatio <= 1.2)})
	t.note("Scenario 3: the sync reported %s requests and %s RU itself (emulator: %s and %s), strategy %s, model estimate %s RU; "+
		"the RU-budget floor ignores the bucket's 8,000 RU initial burst (with it the floor is 0 for this sync).",
		fmtInt(first.GraphRequests), fmtInt(first.ResourceUnits), fmtInt(u.requests), fmtInt(u.ru), first.ManagerStrategy, fmtInt(first.EstimatedResourceUnits))

	h.resyncs(t, gs, u, gen)
	// A GroupSync left behind would resync against the next scenario's
	// emptied emulator.
	_ = h.kube.Delete(ctx, gs)
}

// resyncs is scenario 4.
func (h *harness) resyncs(t *table, gs *v1alpha1.GroupSync, full usage, gen graphsim.GenerateResult) {
	name := scenarioNames[4]
	cur := h.getGroupSync(gs)

	same, wall := h.resync(gs, cur.Status.LastSync)
	u := usageOf(h.sim.Counters())
	t.add(row{scenario: name, run: "operator, no change", wall: wall, usage: u,
		figure: fmt.Sprintf("%s requests, %s RU (mode %s) vs %s requests of the full sync", fmtInt(u.requests), fmtInt(u.ru), same.Mode, fmtInt(full.requests)),
		goal:   "≤ 2 requests: " + verdict(u.requests <= 2)})

	// 1 % of the membership changes: half leave, as many non-members join.
	group, _ := h.sim.GetGroup(gen.AllStaffGroupID)
	in := map[string]bool{}
	for _, m := range group.Members {
		in[m] = true
	}
	members := len(group.Members)
	k := max(2, members/100)
	for _, id := range group.Members[:k/2] {
		h.sim.RemoveMember(gen.AllStaffGroupID, id)
	}
	added := 0
	for _, id := range gen.UserIDs {
		if added == k-k/2 {
			break
		}
		if !in[id] {
			h.sim.AddMember(gen.AllStaffGroupID, id)
			added++
		}
	}
	changed, wall := h.resync(gs, same)
	u = usageOf(h.sim.Counters())
	t.add(row{scenario: name, run: fmt.Sprintf("operator, 1 %% change (%d left, %d joined)", k/2, added), wall: wall, usage: u,
		figure: fmt.Sprintf("%s requests, %s RU (mode %s; sync saw +%d −%d) vs %s requests of the full sync",
			fmtInt(u.requests), fmtInt(u.ru), changed.Mode, changed.Added, changed.Removed, fmtInt(full.requests))})
}

func (h *harness) getGroupSync(gs *v1alpha1.GroupSync) *v1alpha1.GroupSync {
	cur := &v1alpha1.GroupSync{}
	if err := h.kube.Get(context.Background(), client.ObjectKeyFromObject(gs), cur); err != nil {
		h.fail("reading GroupSync: %v", err)
	}
	return cur
}

// resync asks for a sync through the annotation and waits for it; the
// emulator's counters are reset when it is asked for.
func (h *harness) resync(gs *v1alpha1.GroupSync, prev *v1alpha1.LastSync) (*v1alpha1.LastSync, time.Duration) {
	// lastSync.time has one-second resolution: start in a later second
	// than the previous sync so the new one is recognisable.
	if prev != nil {
		time.Sleep(time.Until(prev.Time.Add(time.Second)) + 10*time.Millisecond)
	}
	cur := h.getGroupSync(gs)
	patch := client.MergeFrom(cur.DeepCopy())
	if cur.Annotations == nil {
		cur.Annotations = map[string]string{}
	}
	cur.Annotations[v1alpha1.AnnotationSyncRequested] = time.Now().UTC().Format(time.RFC3339Nano)
	h.sim.ResetCounters()
	start := time.Now()
	if err := h.kube.Patch(context.Background(), cur, patch); err != nil {
		h.fail("requesting a resync: %v", err)
	}
	return h.waitSync(gs, prev), time.Since(start)
}

// waitSync waits for a completed sync newer than prev, with the GroupSync Ready.
func (h *harness) waitSync(gs *v1alpha1.GroupSync, prev *v1alpha1.LastSync) *v1alpha1.LastSync {
	var last *v1alpha1.LastSync
	h.waitFor(h.cfg.scenarioTimeout, "GroupSync "+gs.Name+" to sync", func() bool {
		cur := &v1alpha1.GroupSync{}
		if err := h.kube.Get(context.Background(), client.ObjectKeyFromObject(gs), cur); err != nil {
			return false
		}
		ls := cur.Status.LastSync
		if ls == nil || (prev != nil && !ls.Time.After(prev.Time.Time)) || !ctrlkit.IsReady(&cur.Status.CommonStatus, cur.Generation) {
			return false
		}
		last = ls
		return true
	})
	return last
}
