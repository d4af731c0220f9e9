package graph

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Prometheus metrics, served by the manager's controller-runtime metrics
// endpoint. They aggregate every Directory: per-Directory figures live in
// each Directory's status (Budget.Stats), which keeps label cardinality flat.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "directory_operator_graph_requests_total",
		Help: "HTTP requests sent to Microsoft Graph (a $batch envelope counts once), by operation and HTTP status code (\"error\" when no response was received).",
	}, []string{"operation", "code"})
	resourceUnitsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "directory_operator_graph_resource_units_total",
		Help: "Graph resource units charged (x-ms-resource-unit, or the documented cost when the header is absent).",
	})
	writesTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "directory_operator_graph_writes_total",
		Help: "Graph write operations sent (POST, PATCH, PUT, DELETE, including $batch items).",
	})
	throttledTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "directory_operator_graph_throttled_total",
		Help: "Graph answers with status 429, including items inside a $batch.",
	})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal, resourceUnitsTotal, writesTotal, throttledTotal)
}
