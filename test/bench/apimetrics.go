//go:build sdk

package main

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// apiRequests are the kube-apiserver's own request counters
// (apiserver_request_total), summed by "VERB resource[/subresource]" over
// the operator's kinds and the objects it writes (events, Secrets,
// ConfigMaps, Leases). The bench reads them before and after a scenario to
// say what one object costs the API server, which is the other bound of
// every scenario that creates many objects.
type apiRequests map[string]float64

func (h *harness) apiRequests(ctx context.Context) (apiRequests, error) {
	cs, err := kubernetes.NewForConfig(h.env.Config)
	if err != nil {
		return nil, err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	out := apiRequests{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		l := parseLabels(labels)
		if l["group"] != "entra.directory-operator.io" && l["resource"] != "events" && l["resource"] != "secrets" && l["resource"] != "configmaps" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		key := l["verb"] + " " + l["resource"]
		if s := l["subresource"]; s != "" {
			key += "/" + s
		}
		out[key] += v
	}
	return out, sc.Err()
}

func parseLabels(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			m[k] = strings.Trim(v, `"`)
		}
	}
	return m
}

// sub returns a − b, dropping keys that did not change.
func (a apiRequests) sub(b apiRequests) apiRequests {
	out := apiRequests{}
	for k, v := range a {
		if d := v - b[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// perObject formats the counters divided by n, largest first, e.g.
// "PATCH directoryusers/status 2.00, UPDATE directoryusers 1.00".
func (a apiRequests) perObject(n int, kinds ...string) string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return a[keys[i]] > a[keys[j]] || (a[keys[i]] == a[keys[j]] && keys[i] < keys[j]) })
	var parts []string
	for _, k := range keys {
		if strings.HasPrefix(k, "WATCH") || strings.HasPrefix(k, "LIST") && a[k] < float64(n)/100 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", k, a[k]/float64(n)))
	}
	return strings.Join(parts, ", ")
}

// apiServerBound measures the API server's own bound for scenario 5 in the
// same run: n ConfigMaps about the size of a DirectoryUser created and
// patched twice each (the operator's least writes per created user besides
// the object itself: its create-pending record and its final status), by
// the harness's 16 parallel writers with the same client settings. The
// operator cannot converge faster than the API server takes these writes.
func (h *harness) apiServerBound(ctx context.Context, n int) time.Duration {
	ns := h.env.Namespace(tb{h: h})
	cms := make([]*corev1.ConfigMap, n)
	for i := range cms {
		cms[i] = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("bound%05d", i)},
			Data:       map[string]string{"spec": strings.Repeat("x", 400)},
		}
	}
	start := time.Now()
	err := parallel(cms, func(cm *corev1.ConfigMap) error {
		if err := h.kube.Create(ctx, cm); err != nil {
			return err
		}
		for p := range 2 {
			patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"data":{"status%d":"Ready"}}`, p)))
			if err := h.kube.Patch(ctx, cm, patch); err != nil {
				return err
			}
		}
		return nil
	})
	wall := time.Since(start)
	if err != nil {
		h.fail("API server bound: %v", err)
	}
	_ = h.kube.DeleteAllOf(ctx, &corev1.ConfigMap{}, client.InNamespace(ns))
	return wall
}
