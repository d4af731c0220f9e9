package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// canaryRow looks for every secret value (client secret, user-supplied and
// generated passwords) in the manager's logs, in events, in every
// resource's status and in ConfigMaps: as plain text, base64 (Secret data
// in JSON bodies) and inside hex dumps (protobuf bodies logged by client-go).
func (r *runner) canaryRow(ctx context.Context) row {
	canaries := map[string]string{r.sim.clientSecret: "client secret"}
	for _, p := range r.plan.passwords {
		canaries[p] = "supplied password"
	}
	generated := 0
	var secrets corev1.SecretList
	if err := r.cl.kube.List(ctx, &secrets, client.InNamespace(namespace)); err == nil {
		for _, s := range secrets.Items {
			if pw := string(s.Data["password"]); strings.HasSuffix(s.Name, "-initial-password") && pw != "" {
				canaries[pw] = "generated password"
				generated++
			}
		}
	}
	texts := map[string][]string{
		// One text per manager incarnation: a long run's logs are large.
		"manager logs": r.sup.logs(),
		"events":       {r.dump(ctx, &eventsv1.EventList{}, &corev1.EventList{})},
		"status":       {r.statuses(ctx)},
		"ConfigMaps":   {r.dump(ctx, &corev1.ConfigMapList{})},
	}
	var found []string
	total := 0
	for _, where := range slices.Sorted(maps.Keys(texts)) {
		seen := map[string]bool{}
		for _, text := range texts[where] {
			decoded := string(hexDumps(text))
			for c := range canaries {
				b64 := base64.StdEncoding.EncodeToString([]byte(c))
				if !seen[c] && (strings.Contains(text, c) || strings.Contains(text, b64) ||
					strings.Contains(decoded, c) || strings.Contains(decoded, b64)) {
					seen[c] = true
				}
			}
		}
		kinds := map[string]int{}
		for c := range seen {
			kinds[canaries[c]]++
			total++
		}
		for _, k := range slices.Sorted(maps.Keys(kinds)) {
			found = append(found, fmt.Sprintf("%s: %d %s", where, kinds[k], k))
		}
	}
	got := fmt.Sprintf("%d found", total)
	if len(found) > 0 {
		got += " (" + strings.Join(found, ", ") + ")"
	}
	got += fmt.Sprintf(" among 1 client secret, %d supplied and %d generated passwords", len(r.plan.passwords), generated)
	return row{name: "Secret canaries in logs, events, status, ConfigMaps", got: got, want: "0", ok: total == 0}
}

// hexDumpLine is one line of Go's hex.Dump: an 8-digit offset, then up to
// 16 bytes in hex.
var hexDumpLine = regexp.MustCompile(`([0-9a-f]{8})  ((?:[0-9a-f]{2} {1,2}){1,16})`)

// hexDumps decodes every hex dump in text back into bytes, consecutive
// lines joined, so a value split over dump lines is found whole.
func hexDumps(text string) []byte {
	var out []byte
	for _, m := range hexDumpLine.FindAllStringSubmatch(text, -1) {
		if m[1] == "00000000" {
			out = append(out, '\n')
		}
		b, err := hex.DecodeString(strings.ReplaceAll(m[2], " ", ""))
		if err == nil {
			out = append(out, b...)
		}
	}
	return out
}
