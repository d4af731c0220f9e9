//go:build sdk

package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// apiBound is the API server's own bound for scenarios 5 and 10: the least
// writes the operator needs per created user besides the object itself
// (its create-pending record and its final status), sent by the harness's
// 16 parallel writers with the same client settings. The operator cannot
// converge faster than the API server takes these writes.
type apiBound struct {
	n int
	// kind: n DirectoryUsers created and their status patched twice each,
	// with the operator's own patches. This is the bound the goals use: a
	// custom resource costs the API server about twice a ConfigMap's
	// write (schema coercion and validation of unstructured JSON, measured
	// 15.1 s vs 7.1 s at 3,000 objects).
	kind time.Duration
	// configMaps: the same three writes on ConfigMaps of about the same
	// size, the proxy used before; printed for comparison.
	configMaps time.Duration
}

// apiServerBound measures the bound once per object count and run: it is
// the API server's figure, not the scenario's.
func (h *harness) apiServerBound(ctx context.Context, n int) apiBound {
	if h.bound.n == n {
		return h.bound
	}
	ns := h.env.Namespace(tb{h: h})
	b := apiBound{n: n, configMaps: h.configMapBound(ctx, ns, n), kind: h.kindBound(ctx, ns, n)}
	h.bound = b
	return b
}

// kindBound creates n DirectoryUsers labelled for no manager (the shard
// label keeps the in-process manager off them, and no shard process runs
// now) and patches their status twice as the operator does: the
// create-pending record, then the bound user and Ready.
func (h *harness) kindBound(ctx context.Context, ns string, n int) time.Duration {
	dus := benchUsers(tenant{ns: ns, directory: "bound"}, "bound", "Bound", n)
	for _, du := range dus {
		du.Labels = map[string]string{shardLabel: "bound"}
	}
	at := time.Now().UTC().Format(time.RFC3339)
	return timeBound(ctx, h, "DirectoryUsers", ns, dus, &v1alpha1.DirectoryUserList{}, func(du *v1alpha1.DirectoryUser) error {
		upn := du.Spec.UserPrincipalName
		pending := fmt.Sprintf(`{"status":{"createPending":{"userPrincipalName":%q,"firstAttempt":%q,"lastAttempt":%q}}}`, upn, at, at)
		final := fmt.Sprintf(`{"status":{"createPending":null,"id":"00000000-0000-0000-0000-%012d","userPrincipalName":%q,"displayName":%q,`+
			`"jobTitle":"Engineer","accountEnabled":true,"createdDateTime":%q,"lastSyncTime":%q,"observedGeneration":1,`+
			`"conditions":[{"type":"Ready","status":"True","reason":"Succeeded","message":"user is in sync with Graph","lastTransitionTime":%q,"observedGeneration":1}]}}`,
			len(upn), upn, du.Spec.DisplayName, at, at, at)
		for _, p := range []string{pending, final} {
			if err := h.kube.Status().Patch(ctx, du, client.RawPatch(types.MergePatchType, []byte(p))); err != nil {
				return err
			}
		}
		return nil
	})
}

// configMapBound is the same three writes on ConfigMaps.
func (h *harness) configMapBound(ctx context.Context, ns string, n int) time.Duration {
	cms := make([]*corev1.ConfigMap, n)
	for i := range cms {
		cms[i] = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("bound%05d", i), Labels: map[string]string{shardLabel: "bound"}},
			Data:       map[string]string{"spec": strings.Repeat("x", 400)},
		}
	}
	return timeBound(ctx, h, "ConfigMaps", ns, cms, &corev1.ConfigMapList{}, func(cm *corev1.ConfigMap) error {
		for p := range 2 {
			patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"data":{"status%d":"Ready"}}`, p)))
			if err := h.kube.Patch(ctx, cm, patch); err != nil {
				return err
			}
		}
		return nil
	})
}

// timeBound creates the objects and sends their patches with the harness's
// 16 parallel writers, and returns how long that took; then it deletes
// them and waits until they are gone.
func timeBound[T client.Object](ctx context.Context, h *harness, what, ns string, objs []T, list client.ObjectList, patch func(T) error) time.Duration {
	start := time.Now()
	err := parallel(objs, func(o T) error {
		// A retried create may find its object: an earlier attempt timed
		// out on our side but was applied.
		if err := h.kube.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		return patch(o)
	})
	wall := time.Since(start)
	if err != nil {
		h.fail("API server bound (%s): %v", what, err)
	}
	h.deleteAndWait(ctx, objs[0], list, ns)
	return wall
}

// deleteAndWait deletes every object of a kind in ns and waits until they
// are gone, so the scenario measured next does not share the API server
// with the deletions.
func (h *harness) deleteAndWait(ctx context.Context, obj client.Object, list client.ObjectList, ns string) {
	sel := client.MatchingLabels{shardLabel: "bound"}
	_ = h.kube.DeleteAllOf(ctx, obj, client.InNamespace(ns), sel)
	h.waitFor(2*time.Minute, "the bound's objects deleted", func() bool {
		err := h.kube.List(ctx, list, client.InNamespace(ns), sel, client.Limit(1))
		return err == nil && meta.LenList(list) == 0
	})
}
