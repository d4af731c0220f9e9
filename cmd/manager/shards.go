package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/shard"
)

// shardFlags are the flags of the Graph quota split between shards.
type shardFlags struct {
	enabled   string
	namespace string
	duration  time.Duration
	identity  string
}

func (f *shardFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.enabled, "budget-shards", "auto",
		"Split each app+tenant Graph quota with the other shards through Leases: true, false, or auto (true when --label-selector is set).")
	fs.StringVar(&f.namespace, "budget-lease-namespace", "",
		"Namespace of the budget Leases; every shard must use the same (default: --leader-election-namespace, else the pod's namespace).")
	fs.DurationVar(&f.duration, "budget-lease-duration", shard.DefaultDuration,
		"How long a shard's budget Lease lives without renewal (renewed every third): the longest a dead shard's part of the quota stays unused.")
	fs.StringVar(&f.identity, "budget-shard-identity", "",
		"This shard's name on its budget Leases (default: hostname and --label-selector).")
}

// setupShards returns the budget coordinator, registered with the manager,
// or nil when shards are off.
func setupShards(f shardFlags, mgr ctrl.Manager, scheme *runtime.Scheme, registry *graph.Registry,
	labelSelector, leaderNamespace string) (connection.BudgetSharer, error) {
	var on bool
	switch strings.ToLower(f.enabled) {
	case "auto", "":
		on = strings.TrimSpace(labelSelector) != ""
	case "true", "on":
		on = true
	case "false", "off":
		return nil, nil
	default:
		return nil, fmt.Errorf("invalid --budget-shards %q: true, false or auto", f.enabled)
	}
	if !on {
		return nil, nil
	}
	ns := f.namespace
	if ns == "" {
		ns = leaderNamespace
	}
	if ns == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, fmt.Errorf("--budget-shards needs --budget-lease-namespace outside a cluster: %w", err)
		}
		ns = strings.TrimSpace(string(b))
	}
	id := f.identity
	if id == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, err
		}
		id = host + "_" + labelSelector
	}
	// Leases are read from the API server: a cache would be another watch
	// and could lag behind a shard that just joined.
	c, err := client.New(mgr.GetConfig(), client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	coord := &shard.Coordinator{Client: c, Namespace: ns, Identity: id, Duration: f.duration,
		Budgets: registry.Budgets, Log: ctrl.Log.WithName("shard")}
	if err := mgr.Add(coord); err != nil {
		return nil, err
	}
	return coord, nil
}
