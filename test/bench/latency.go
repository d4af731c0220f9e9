//go:build sdk

package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// applyLatency is scenario 7: apply one DirectoryUser and time until it is
// Ready, in sequence, against one SDK POST /users as the baseline.
func (h *harness) applyLatency(t *table) {
	cfg := h.cfg
	name := scenarioNames[7]
	ctx := context.Background()
	te := h.newTenant(directoryOptions{})
	lat := make([]time.Duration, 0, cfg.latencyRuns)
	for i := range cfg.latencyRuns {
		nick := fmt.Sprintf("lat%03d", i)
		du := &v1alpha1.DirectoryUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: te.ns, Name: nick},
			Spec: v1alpha1.DirectoryUserSpec{
				DirectoryRef:      v1alpha1.DirectoryReference{Name: te.directory},
				UserPrincipalName: nick + "@contoso.com",
				DisplayName:       "Latency " + nick,
				// Orphan: tearing the run down must not add Graph traffic.
				DeletionPolicy: v1alpha1.DeletionOrphan,
			},
		}
		start := time.Now()
		h.create(ctx, du)
		key := client.ObjectKeyFromObject(du)
		h.waitForFast(cfg.scenarioTimeout, "DirectoryUser "+nick+" Ready", func() bool {
			got := &v1alpha1.DirectoryUser{}
			return h.watch.Get(ctx, key, got) == nil && got.Status.ObservedGeneration == got.Generation && ready(got.Status.Conditions)
		})
		lat = append(lat, time.Since(start))
		if err := h.kube.Delete(ctx, du); err != nil && !apierrors.IsNotFound(err) {
			h.fail("deleting %s: %v", nick, err)
		}
		h.waitFor(time.Minute, "DirectoryUser "+nick+" deleted", func() bool {
			return apierrors.IsNotFound(h.kube.Get(ctx, key, &v1alpha1.DirectoryUser{}))
		})
	}
	u := usageOf(h.sim.Counters())

	n, err := newNaive(h.sim.URL(), h.sim.TenantID(), te.clientID, te.secret, h.sim.CACertPEM())
	if err != nil {
		h.fail("building the SDK baseline client: %v", err)
	}
	// The first call also fetches the token; a script pays it once.
	if _, err := n.create(ctx, "warm@contoso.com", "warm"); err != nil {
		h.fail("SDK baseline POST /users: %v", err)
	}
	h.sim.ResetCounters()
	base := make([]time.Duration, 0, cfg.latencyRuns)
	for i := range cfg.latencyRuns {
		nick := fmt.Sprintf("sdk%03d", i)
		d, err := n.create(ctx, nick+"@contoso.com", nick)
		if err != nil {
			h.fail("SDK baseline POST /users: %v", err)
		}
		base = append(base, d)
	}
	bu := usageOf(h.sim.Counters())

	p50, p95 := percentile(lat, 50), percentile(lat, 95)
	b50, b95 := percentile(base, 50), percentile(base, 95)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	t.add(row{scenario: name, run: fmt.Sprintf("operator, %d runs in sequence", len(lat)), wall: sum, usage: u,
		figure: fmt.Sprintf("p50 %s, p95 %s vs one SDK POST /users p50 %s, p95 %s (emulated Graph RTT %s): %s / %s of the direct call",
			fmtDur(p50), fmtDur(p95), fmtDur(b50), fmtDur(b95), fmtDur(scaledLatency(cfg)), ratio(float64(p50), float64(b50)), ratio(float64(p95), float64(b95)))})
	var bsum time.Duration
	for _, d := range base {
		bsum += d
	}
	t.add(row{scenario: name, run: "naive SDK POST /users", wall: bsum, usage: bu, figure: fmt.Sprintf("p50 %s, p95 %s", fmtDur(b50), fmtDur(b95))})
	t.note("Scenario 7: latency is create → Ready (observedGeneration current) as seen by a watch-backed client polled every 2 ms; "+
		"Graph requests per DirectoryUser: %.1f.", float64(u.requests)/float64(len(lat)))
}

// percentile is the nearest-rank percentile.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

// waitForFast polls every 2 ms, for latency measurements.
func (h *harness) waitForFast(timeout time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.fail("timed out after %s waiting for %s", fmtDur(timeout), what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
