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
	"k8s.io/client-go/rest"
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

// options are the manager's flags.
type options struct {
	metricsAddr        string
	probeAddr          string
	pprofAddr          string
	leaderElect        bool
	leaderID           string
	leaderNamespace    string
	watchNamespaces    string
	labelSelector      string
	timeScale          float64
	concurrency        int
	userConcurrency    int
	kubeQPS            float64
	kubeBurst          int
	allowedCustomHosts string
	shards             shardFlags
	zap                zap.Options
}

// parseFlags reads the command line.
func parseFlags() options {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint (0 disables it).")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "0", "Address of Go's /debug/pprof endpoints, e.g. 127.0.0.1:8082 for a port-forward (0, the default, disables them).")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader so only one replica writes to Graph.")
	flag.StringVar(&o.leaderID, "leader-election-id", "directory-operator.entra.directory-operator.io", "Lease name; give each shard its own.")
	flag.StringVar(&o.leaderNamespace, "leader-election-namespace", "", "Namespace of the Lease (default: the pod's namespace; required outside a cluster).")
	flag.StringVar(&o.watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces to watch (default: all).")
	flag.StringVar(&o.labelSelector, "label-selector", "", "Only reconcile objects matching this label selector (sharding across deployments).")
	flag.Float64Var(&o.timeScale, "graph-time-scale", 1, "Compress the client-side throttle windows (only for a time-compressed Graph emulator).")
	flag.IntVar(&o.concurrency, "concurrency", controllers.DefaultConcurrency, "Parallel reconciles of UserDisableBatches and UserEnableBatches.")
	flag.IntVar(&o.userConcurrency, "user-concurrency", controllers.DefaultUserConcurrency,
		"Parallel DirectoryUser reconciles (the Graph budget paces them; their Graph calls share $batch envelopes).")
	flag.Float64Var(&o.kubeQPS, "kube-api-qps", 0,
		"Client-side limit of Kubernetes API requests per second; 0 or less: none (API Priority and Fairness paces the manager, controller-runtime's default).")
	flag.IntVar(&o.kubeBurst, "kube-api-burst", 0, "Burst of --kube-api-qps (default 2 × qps).")
	flag.StringVar(&o.allowedCustomHosts, "allowed-custom-hosts", strings.Join(connection.DefaultAllowedCustomHosts, ","),
		"Comma-separated hosts (or *.domain) a Directory with cloud Custom may send its credential and requests to; replaces the default list.")
	o.shards.bind(flag.CommandLine)
	o.zap = zap.Options{Development: false}
	o.zap.BindFlags(flag.CommandLine)
	flag.Parse()
	return o
}

func main() {
	o := parseFlags()
	// Redacting at every level: --zap-log-level=10 dumps API bodies.
	logging.Install(logging.New(&o.zap))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme))
	must(v1alpha1.AddToScheme(scheme))

	cacheOpts, err := cacheOptions(o.watchNamespaces, o.labelSelector)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	allowedHosts, err := connection.ParseHostAllowList(o.allowedCustomHosts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid --allowed-custom-hosts:", err)
		os.Exit(2)
	}

	mgr, err := ctrl.NewManager(restConfig(o.kubeQPS, o.kubeBurst), ctrl.Options{
		Scheme: scheme,
		Cache:  cacheOpts,
		Metrics: metricsserver.Options{
			BindAddress: o.metricsAddr,
			// HTTP/2 stays off: it has had rapid-reset CVEs and metrics need none of it.
			TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
		},
		HealthProbeBindAddress:        o.probeAddr,
		PprofBindAddress:              o.pprofAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              o.leaderID,
		LeaderElectionNamespace:       o.leaderNamespace,
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
		TimeScale:          o.timeScale,
		Deletions:          connection.NewDeletionLimiter(mgr.GetClient()),
		AllowedCustomHosts: allowedHosts,
		// Watching some namespaces only means Roles in those namespaces:
		// cluster-scoped ClusterDirectories (and Namespaces) are out of reach.
		NoClusterDirectories: strings.TrimSpace(o.watchNamespaces) != "",
	}
	if resolver.Shards, err = setupShards(o.shards, mgr, scheme, registry, o.labelSelector, o.leaderNamespace); err != nil {
		log.Error(err, "Unable to set up the Graph budget shards")
		os.Exit(1)
	}
	if err := controllers.Setup(mgr, resolver, controllers.Options{Concurrency: o.concurrency, UserConcurrency: o.userConcurrency}); err != nil {
		log.Error(err, "Unable to set up controllers")
		os.Exit(1)
	}
	must(statusmetrics.Setup(mgr.GetClient()))
	must(metrics.Registry.Register(registry.Collector()))
	must(mgr.AddHealthzCheck("healthz", healthz.Ping))
	must(mgr.AddReadyzCheck("readyz", healthz.Ping))

	log.Info("Starting manager", "version", version, "watchNamespaces", o.watchNamespaces, "labelSelector", o.labelSelector, "allowedCustomHosts", allowedHosts.String())
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped with error")
		os.Exit(1)
	}
}

// restConfig is the kubeconfig (or in-cluster config) with the client-side
// rate limit of --kube-api-qps/--kube-api-burst. controller-runtime turns
// an unset QPS into -1, no client-side limiter, relying on the API server's
// Priority and Fairness (client-go alone would default to 5 QPS, burst 10:
// far too slow for 10,000 DirectoryUsers, each a status write or more).
func restConfig(qps float64, burst int) *rest.Config {
	cfg := ctrl.GetConfigOrDie()
	if qps > 0 {
		cfg.QPS = float32(qps)
		cfg.Burst = burst
		if burst <= 0 {
			cfg.Burst = int(2 * qps)
		}
	}
	return cfg
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
