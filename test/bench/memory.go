//go:build sdk

package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv/proc"
)

// memoryShard labels scenario 13's objects for its own manager process.
const memoryShard = "memory"

// managerMemory is scenario 13: the manager's own memory (the process
// alone, not this bench) with N DirectoryUsers and G GroupSyncs of M
// members each, once all of them are Ready. The manager is the real
// binary, run with --label-selector shard=memory; its resident set is
// read from /proc.
func (h *harness) managerMemory(t *table) {
	cfg := h.cfg
	name := scenarioNames[13]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := h.newShardEnv(ctx)
	pprofAddr, err := proc.FreeAddr()
	if err != nil {
		h.fail("%v", err)
	}
	p := h.startShard(e, memoryShard, false, "--pprof-bind-address", pprofAddr)
	defer p.p.Stop()

	huge := int32(math.MaxInt32)
	te := h.newTenant(directoryOptions{budget: &v1alpha1.ThrottleSpec{ResourceUnitsPer10s: &huge, WritesPer150s: &huge}, shards: []string{memoryShard}})
	n := cfg.directoryUsers
	dus, syncs := h.memoryObjects(te, n)
	// The in-process manager's cache leaves shard-labelled objects out:
	// watch them with a cache of their own.
	seen, err := cache.New(h.env.Config, cache.Options{Scheme: h.env.Scheme, ByObject: map[client.Object]cache.ByObject{
		&v1alpha1.DirectoryUser{}: {Label: labels.SelectorFromSet(labels.Set{shardLabel: memoryShard})},
		&v1alpha1.GroupSync{}:     {Label: labels.SelectorFromSet(labels.Set{shardLabel: memoryShard})},
	}})
	if err != nil {
		h.fail("%v", err)
	}
	go func() { _ = seen.Start(ctx) }()
	h.sim.ResetCounters()
	start := time.Now()
	for _, gs := range syncs {
		h.create(ctx, gs)
	}
	if err := h.createMany(ctx, dus); err != nil {
		h.fail("%v", err)
	}
	h.waitFor(cfg.scenarioTimeout, "the memory shard's DirectoryUsers Ready and GroupSyncs synced", func() bool {
		ready, _ := countReadyIn(ctx, seen, te.ns)
		return ready == n && syncedCount(ctx, seen, te.ns) == len(syncs)
	})
	converged := time.Since(start)
	u := usageOf(h.sim.Counters())
	// Settle: exports written, the drift watcher's first polls done.
	time.Sleep(5 * time.Second)
	rss, peak, err := procMemory(p.p.Pid())
	if err != nil {
		h.fail("reading the manager's memory: %v", err)
	}
	heap := h.saveHeapProfile(pprofAddr, e.dir)
	const goal = 256 << 20
	t.add(row{scenario: name, run: fmt.Sprintf("manager process, %s DirectoryUsers + %d GroupSyncs × %s members", fmtInt(int64(n)), len(syncs), fmtInt(int64(cfg.memoryMembers))),
		wall: converged, usage: u, figure: fmt.Sprintf("RSS %s (peak %s) once all were Ready", fmtMiB(rss), fmtMiB(peak)),
		goal: "RSS < 256 MiB: " + verdict(rss < goal)})
	t.note("Scenario 13: the real manager binary (--label-selector shard=%s), its resident set (VmRSS) and peak (VmHWM) read from /proc after every object was Ready and 5 s of settling; the wall time is apply → all Ready (users adopted). %s", memoryShard, heap)

	for _, gs := range syncs {
		_ = h.kube.Delete(ctx, gs)
	}
	var issued time.Time
	h.waitFor(cfg.scenarioTimeout, "the memory shard's DirectoryUsers deleted (Orphan)", func() bool {
		if _, total := countReadyIn(ctx, seen, te.ns); total == 0 {
			return true
		}
		if time.Since(issued) > 10*time.Second {
			issued = time.Now()
			_ = h.kube.DeleteAllOf(ctx, &v1alpha1.DirectoryUser{}, client.InNamespace(te.ns), client.MatchingLabels{shardLabel: memoryShard})
		}
		return false
	})
}

// memoryObjects puts n users and the groups into the emulator and returns
// the DirectoryUsers adopting them and the GroupSyncs of the groups, all
// labelled for scenario 13's manager process.
func (h *harness) memoryObjects(te tenant, n int) ([]*v1alpha1.DirectoryUser, []*v1alpha1.GroupSync) {
	dus := benchUsers(te, "mem", "Resident", n)
	ids := make([]string, n)
	for i, du := range dus {
		du.Labels = map[string]string{shardLabel: memoryShard}
		du.Spec.Adopt = true
		g := h.sim.PutUser(graphsim.User{UserPrincipalName: du.Spec.UserPrincipalName, DisplayName: du.Spec.DisplayName,
			MailNickname: du.Name, JobTitle: *du.Spec.JobTitle, AccountEnabled: true})
		ids[i] = g.ID
	}
	var syncs []*v1alpha1.GroupSync
	for g := range h.cfg.memoryGroups {
		members := make([]string, 0, h.cfg.memoryMembers)
		for k := range h.cfg.memoryMembers {
			members = append(members, ids[(g*h.cfg.memoryMembers+k)%n])
		}
		grp := h.sim.PutGroup(graphsim.Group{DisplayName: fmt.Sprintf("Memory %02d", g), MailNickname: fmt.Sprintf("memory%02d", g),
			SecurityEnabled: true, Members: members})
		syncs = append(syncs, &v1alpha1.GroupSync{
			ObjectMeta: metav1.ObjectMeta{Namespace: te.ns, Name: fmt.Sprintf("memory-%02d", g), Labels: map[string]string{shardLabel: memoryShard}},
			Spec: v1alpha1.GroupSyncSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: te.directory}, Group: v1alpha1.GroupSelector{ID: grp.ID},
				Interval: &metav1.Duration{Duration: 24 * time.Hour}},
		})
	}
	return dus, syncs
}

// countReadyIn counts a namespace's DirectoryUsers in r, and those Ready
// for their generation.
func countReadyIn(ctx context.Context, r client.Reader, ns string) (ready, total int) {
	var list v1alpha1.DirectoryUserList
	if err := r.List(ctx, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return 0, -1
	}
	for i := range list.Items {
		if ctrlkit.IsReady(&list.Items[i].Status.CommonStatus, list.Items[i].Generation) {
			ready++
		}
	}
	return ready, len(list.Items)
}

// syncedCount counts a namespace's GroupSyncs in r that synced and are Ready.
func syncedCount(ctx context.Context, r client.Reader, ns string) int {
	var list v1alpha1.GroupSyncList
	if err := r.List(ctx, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return -1
	}
	n := 0
	for i := range list.Items {
		gs := &list.Items[i]
		if gs.Status.LastSync != nil && ctrlkit.IsReady(&gs.Status.CommonStatus, gs.Generation) {
			n++
		}
	}
	return n
}

// procMemory reads a process's resident set and its peak from /proc.
func procMemory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, peak, nil
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// saveHeapProfile saves the manager's heap profile (--pprof-bind-address)
// next to its log and says where, or why not, for the note.
func (h *harness) saveHeapProfile(addr, dir string) string {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap")
	if err != nil {
		return "No heap profile: " + err.Error() + "."
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	path := filepath.Join(dir, "manager-heap.pprof")
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		return "No heap profile: " + err.Error() + "."
	}
	return "Its heap profile at that moment: `go tool pprof -top " + path + "`."
}
