//go:build sdk

package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/testenv"
	"github.com/directory-operator/directory-operator/internal/testenv/proc"
)

// shardLabel is the label scenario 12's objects carry: shard=a or shard=b
// (--label-selector of each manager process); the in-process manager
// ignores every object that has it.
const shardLabel = "shard"

func mustRequirement(key string, op selection.Operator, vals ...string) labels.Requirement {
	r, err := labels.NewRequirement(key, op, vals)
	if err != nil {
		panic(err)
	}
	return *r
}

// shardEnv is what scenario 12's runs share: the manager binary, a
// kubeconfig for it, the Leases' namespace and a cache of the labelled
// batches (polling the API server for 5,000-user batches would load the
// apiserver the processes need).
type shardEnv struct {
	bin, kubeconfig, leaseNS, dir string
	batches                       cache.Cache
	runs                          int
}

func (h *harness) newShardEnv(ctx context.Context) *shardEnv {
	dir, err := os.MkdirTemp("", "bench-shards-")
	if err != nil {
		h.fail("%v", err)
	}
	bin, err := proc.Build(testenv.Root(), dir, "./cmd/manager")
	if err != nil {
		h.fail("%v", err)
	}
	kc, err := h.env.Kubeconfig(dir, "bench-shards", "system:masters")
	if err != nil {
		h.fail("kubeconfig for the shard processes: %v", err)
	}
	c, err := cache.New(h.env.Config, cache.Options{Scheme: h.env.Scheme, ByObject: map[client.Object]cache.ByObject{
		&v1alpha1.UserDisableBatch{}: {Label: labels.NewSelector().Add(mustRequirement(shardLabel, selection.Exists))},
	}})
	if err != nil {
		h.fail("%v", err)
	}
	go func() { _ = c.Start(ctx) }()
	return &shardEnv{bin: filepath.Join(bin, "manager"), kubeconfig: kc, leaseNS: h.env.Namespace(tb{h: h}), dir: dir, batches: c}
}

// shardProc is one manager process run with --label-selector shard=<name>.
type shardProc struct {
	name, metrics string
	p             *proc.Process
}

func (h *harness) startShard(e *shardEnv, name string, coordinated bool, extra ...string) *shardProc {
	addr, err := proc.FreeAddr()
	if err != nil {
		h.fail("%v", err)
	}
	// Each process's output goes to a numbered file in the scenario's directory,
	// which is kept (named in a note) for reading after the run.
	e.runs++
	logFile, err := os.Create(filepath.Join(e.dir, fmt.Sprintf("%d-shard-%s.log", e.runs, name)))
	if err != nil {
		h.fail("%v", err)
	}
	args := append([]string{
		"--label-selector", shardLabel + "=" + name, "--graph-time-scale", fmt.Sprint(h.cfg.timeScale),
		"--metrics-bind-address", addr, "--health-probe-bind-address", "0", "--concurrency", fmt.Sprint(concurrency),
		"--budget-shards", strconv.FormatBool(coordinated), "--budget-lease-namespace", e.leaseNS,
		"--budget-lease-duration", h.cfg.shardLease.String(), "--budget-shard-identity", "bench-" + name, "--zap-time-encoding", "rfc3339nano"},
		extra...)
	p, err := proc.Start(e.bin, []string{"KUBECONFIG=" + e.kubeconfig}, logFile, args...)
	if err != nil {
		h.fail("%v", err)
	}
	go func() { <-p.Done(); logFile.Close() }()
	s := &shardProc{name: name, metrics: "http://" + addr + "/metrics", p: p}
	h.waitFor(time.Minute, "shard "+name+" serving metrics", func() bool {
		select {
		case <-p.Done():
			h.fail("shard %s exited: %v\n%s", name, p.ExitErr(), tail(p.Output(), 20))
		default:
		}
		resp, err := http.Get(s.metrics)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return s
}

// share reads the process's directory_operator_graph_budget_share_ratio for
// budget key; -1 when it has none (yet).
func (s *shardProc) share(key string) float64 {
	resp, err := http.Get(s.metrics)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	prefix := `directory_operator_graph_budget_share_ratio{budget="` + key + `"} `
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// shardBatches are the UserDisableBatches of one shard: its label, its
// Directory.
func shardBatches(te tenant, shard string, upns []string) []*v1alpha1.UserDisableBatch {
	var bs []*v1alpha1.UserDisableBatch
	for i := 0; i < len(upns); i += maxBatchUsers {
		bs = append(bs, &v1alpha1.UserDisableBatch{
			ObjectMeta: metav1.ObjectMeta{Namespace: te.ns, Name: fmt.Sprintf("disable-%s-%d", shard, i/maxBatchUsers+1),
				Labels: map[string]string{shardLabel: shard}},
			Spec: v1alpha1.UserDisableBatchSpec{
				DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant-" + shard},
				Users:        upns[i:min(i+maxBatchUsers, len(upns))], Reason: "benchmark",
			},
		})
	}
	return bs
}
