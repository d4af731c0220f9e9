// Command manager runs the directory-operator controllers.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	// The image has no base layer and so no CA bundle: these roots are used
	// when the system has none, so Graph and the token endpoint verify.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/logging"
	"github.com/directory-operator/directory-operator/internal/statusmetrics"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	var (
		metricsAddr        string
		probeAddr          string
		leaderElect        bool
		leaderID           string
		leaderNamespace    string
		watchNamespaces    string
		labelSelector      string
		timeScale          float64
		concurrency        int
		allowedCustomHosts string
		shards             shardFlags
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint (0 disables it).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so only one replica writes to Graph.")
	flag.StringVar(&leaderID, "leader-election-id", "directory-operator.entra.directory-operator.io", "Lease name; give each shard its own.")
	flag.StringVar(&leaderNamespace, "leader-election-namespace", "", "Namespace of the Lease (default: the pod's namespace; required outside a cluster).")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces to watch (default: all).")
	flag.StringVar(&labelSelector, "label-selector", "", "Only reconcile objects matching this label selector (sharding across deployments).")
	flag.Float64Var(&timeScale, "graph-time-scale", 1, "Compress the client-side throttle windows (only for a time-compressed Graph emulator).")
	flag.IntVar(&concurrency, "concurrency", 4, "Parallel reconciles per controller.")
	flag.StringVar(&allowedCustomHosts, "allowed-custom-hosts", strings.Join(connection.DefaultAllowedCustomHosts, ","),
		"Comma-separated hosts (or *.domain) a Directory with cloud Custom may send its credential and requests to; replaces the default list.")
	shards.bind(flag.CommandLine)
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	// Redacting at every level: --zap-log-level=10 dumps API bodies.
	logging.Install(logging.New(&opts))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme))
	must(v1alpha1.AddToScheme(scheme))

	cacheOpts, err := cacheOptions(watchNamespaces, labelSelector)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	allowedHosts, err := connection.ParseHostAllowList(allowedCustomHosts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid --allowed-custom-hosts:", err)
		os.Exit(2)
	}

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme: scheme,
		Cache:  cacheOpts,
		Metrics: metricsserver.Options{
			BindAddress: metricsAddr,
			// HTTP/2 stays off: it has had rapid-reset CVEs and metrics need none of it.
			TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
		},
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              leaderID,
		LeaderElectionNamespace:       leaderNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		log.Error(err, "Unable to create manager")
		os.Exit(1)
	}
	registry := graph.NewRegistry()
	resolver := &connection.Resolver{
		Kube:               mgr.GetClient(),
		Live:               mgr.GetAPIReader(),
		Registry:           registry,
		TimeScale:          timeScale,
		Deletions:          connection.NewDeletionLimiter(mgr.GetClient()),
		AllowedCustomHosts: allowedHosts,
		// Watching some namespaces only means Roles in those namespaces:
		// cluster-scoped ClusterDirectories (and Namespaces) are out of reach.
		NoClusterDirectories: strings.TrimSpace(watchNamespaces) != "",
	}
	if resolver.Shards, err = setupShards(shards, mgr, scheme, registry, labelSelector, leaderNamespace); err != nil {
		log.Error(err, "Unable to set up the Graph budget shards")
		os.Exit(1)
	}
	if err := controllers.Setup(mgr, resolver, controllers.Options{Concurrency: concurrency}); err != nil {
		log.Error(err, "Unable to set up controllers")
		os.Exit(1)
	}
	must(statusmetrics.Setup(mgr.GetClient()))
	must(metrics.Registry.Register(registry.Collector()))
	must(mgr.AddHealthzCheck("healthz", healthz.Ping))
	must(mgr.AddReadyzCheck("readyz", healthz.Ping))

	log.Info("Starting manager", "version", version, "watchNamespaces", watchNamespaces, "labelSelector", labelSelector, "allowedCustomHosts", allowedHosts.String())
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped with error")
		os.Exit(1)
	}
}

// cacheOptions turns --watch-namespaces and --label-selector into the
// manager's cache selection (connection.CacheOptions).
func cacheOptions(watchNamespaces, labelSelector string) (cache.Options, error) {
	var namespaces []string
	for _, ns := range strings.Split(watchNamespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			namespaces = append(namespaces, ns)
		}
	}
	var shard labels.Selector
	if labelSelector != "" {
		sel, err := labels.Parse(labelSelector)
		if err != nil {
			return cache.Options{}, fmt.Errorf("invalid --label-selector: %w", err)
		}
		shard = sel
	}
	return connection.CacheOptions(namespaces, shard), nil
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
