//go:build sdk

package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graphsim"
)

// graphRUPer10sL is Graph's published read quota of an L tenant per app.
const graphRUPer10sL = 8000

// adoptUsers is scenario 10: a team moving an existing tenant under GitOps
// applies one DirectoryUser (adopt: true) per user that already exists, at
// the L quota. Each reconcile reads its user; concurrent reads share $batch
// envelopes in the Graph client, so the run costs about one request per 20
// users instead of one each. Bounds measured in the same run: the API
// server's (N creates + 2 patches each) and the read quota's (the RU used,
// beyond the bucket's initial burst, at 8,000 RU per 10 s).
func (h *harness) adoptUsers(t *table) {
	cfg := h.cfg
	name := scenarioNames[10]
	ctx := context.Background()
	n := cfg.directoryUsers
	b := h.apiServerBound(ctx, n)
	bound := b.kind
	te := h.newTenant(directoryOptions{throttling: true})
	dus := benchUsers(te, "ad", "Adopted", n)
	for _, du := range dus {
		du.Spec.Adopt = true
		h.sim.PutUser(graphsim.User{UserPrincipalName: du.Spec.UserPrincipalName, DisplayName: du.Spec.DisplayName,
			MailNickname: du.Name, JobTitle: *du.Spec.JobTitle, AccountEnabled: true})
	}
	h.sim.ResetCounters()
	start := time.Now()
	if err := h.createMany(ctx, dus); err != nil {
		h.fail("%v", err)
	}
	h.waitFor(cfg.scenarioTimeout, "all DirectoryUsers adopted and Ready", func() bool {
		ready, total := h.countReady(ctx, te.ns)
		return ready == n && total == n
	})
	wall := time.Since(start)
	u := usageOf(h.sim.Counters())

	ruPerSec := graphRUPer10sL / 10 * cfg.timeScale
	ruBound := time.Duration(math.Max(0, float64(u.ru-graphRUPer10sL)) / ruPerSec * float64(time.Second))
	worst := max(bound, ruBound)
	maxRequests := int64(math.Ceil(float64(n) * 600 / 10000))
	ok := wall.Seconds() <= 2*worst.Seconds() && u.requests <= maxRequests && u.throttled == 0
	t.add(row{scenario: name, run: fmt.Sprintf("operator, %s DirectoryUsers (adopt)", fmtInt(int64(n))), wall: wall, usage: u,
		figure: fmt.Sprintf("%.2f Graph requests per user (%.0f users per request); time %s of max(API-server bound %s, read-quota bound %s); one GET per user would be %s requests",
			float64(u.requests)/float64(n), float64(n)/math.Max(1, float64(u.requests)), ratio(wall.Seconds(), worst.Seconds()),
			fmtDur(bound), fmtDur(ruBound), fmtInt(int64(n))),
		goal: fmt.Sprintf("≤ 2× bound, ≤ %s requests, 0 429s: %s", fmtInt(maxRequests), verdict(ok))})
	t.note("Scenario 10: the API-server bound is scenario 5's (%s DirectoryUsers created and their status patched twice each by 16 writers: %s; "+
		"the same writes on ConfigMaps took %s, %s of the adoption's time); the read-quota bound is the RU charged (%s) beyond the 8,000-RU burst at 8,000 RU per 10 s ×%g.",
		fmtInt(int64(n)), fmtDur(bound), fmtDur(b.configMaps), ratio(wall.Seconds(), b.configMaps.Seconds()), fmtInt(u.ru), cfg.timeScale)

	h.deleteUsers(te.ns)
}

// deleteUsers deletes a scenario's DirectoryUsers (deletionPolicy Orphan:
// no Graph call) and waits until they are gone, so they do not keep
// reconciling (their Directory goes with the next scenario) beside it.
func (h *harness) deleteUsers(ns string) {
	ctx := context.Background()
	var issued time.Time
	h.waitFor(h.cfg.scenarioTimeout, "DirectoryUsers deleted (Orphan)", func() bool {
		if _, total := h.countReady(ctx, ns); total == 0 {
			return true
		}
		// One deletecollection of 10,000 objects can outlast the API
		// server's request timeout on a busy machine and stop halfway:
		// issue it again until none is left.
		if time.Since(issued) > 10*time.Second {
			issued = time.Now()
			_ = h.kube.DeleteAllOf(ctx, &v1alpha1.DirectoryUser{}, client.InNamespace(ns))
		}
		return false
	})
}
