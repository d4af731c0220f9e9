//go:build sdk

package main

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
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
