// Package statusmetrics exposes the operator's resources' status as
// Prometheus gauges, for alerts and dashboards: readiness, batch phases and
// progress, GroupSync freshness and each Directory's Graph traffic.
//
// The gauges are computed at scrape time from the manager's informer cache,
// like kube-state-metrics does: the controllers need no metric code, a
// deleted object's series disappear with it, and each shard of a sharded
// deployment reports exactly the objects it reconciles.
package statusmetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// DefaultGroupSyncInterval is GroupSync's spec.interval default (documented
// on the field), used when the spec leaves it out.
const DefaultGroupSyncInterval = 15 * time.Minute

var (
	readyDesc = prometheus.NewDesc("directory_operator_ready",
		"1 when the object's Ready condition is True, else 0 (reason: the condition's reason), for Directory, GroupSync, UserDisableBatch and UserEnableBatch.",
		[]string{"kind", "namespace", "name", "reason"}, nil)
	usersDesc = prometheus.NewDesc("directory_operator_directoryusers",
		"DirectoryUsers by Directory, Ready status and reason.",
		[]string{"namespace", "directory", "ready", "reason"}, nil)
	batchPhaseDesc = prometheus.NewDesc("directory_operator_batch_phase",
		"1 for the batch's (UserDisableBatch, UserEnableBatch) current phase (Pending, Running, Completed, CompletedWithErrors, Failed).",
		[]string{"kind", "namespace", "name", "phase"}, nil)
	batchUsersDesc = prometheus.NewDesc("directory_operator_batch_users",
		"Batch rows by outcome (total, disabled, alreadyDisabled, enabled, alreadyEnabled, skipped, notFound, protected, managed, failed, queried).",
		[]string{"kind", "namespace", "name", "outcome"}, nil)
	lastSyncDesc = prometheus.NewDesc("directory_operator_groupsync_last_sync_timestamp_seconds",
		"Unix time of the GroupSync's last completed sync (absent before the first).",
		[]string{"namespace", "name"}, nil)
	intervalDesc = prometheus.NewDesc("directory_operator_groupsync_interval_seconds",
		"The GroupSync's sync interval.",
		[]string{"namespace", "name"}, nil)
	windowDesc = prometheus.NewDesc("directory_operator_directory_graph_window",
		"Graph traffic through the Directory over its last throttling window (status.throttling): requests, resource_units, writes, throttled.",
		[]string{"namespace", "name", "figure"}, nil)
	windowSecondsDesc = prometheus.NewDesc("directory_operator_directory_graph_window_seconds",
		"Length of the window directory_operator_directory_graph_window covers.",
		[]string{"namespace", "name"}, nil)
)

// Collector computes the gauges from a client.Reader (the manager's cache).
type Collector struct {
	Reader client.Reader
}

// Setup registers a Collector reading from the manager's cache with
// controller-runtime's registry, which the manager serves on /metrics.
func Setup(reader client.Reader) error {
	return metrics.Registry.Register(&Collector{Reader: reader})
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{readyDesc, usersDesc, batchPhaseDesc, batchUsersDesc, lastSyncDesc, intervalDesc, windowDesc, windowSecondsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A list that fails (cache not
// synced yet) leaves that kind out of this scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var dirs v1alpha1.DirectoryList
	if c.Reader.List(ctx, &dirs) == nil {
		for i := range dirs.Items {
			collectDirectory(ch, &dirs.Items[i])
		}
	}
	var users v1alpha1.DirectoryUserList
	if c.Reader.List(ctx, &users) == nil {
		collectUsers(ch, users.Items)
	}
	var batches v1alpha1.UserDisableBatchList
	if c.Reader.List(ctx, &batches) == nil {
		for i := range batches.Items {
			b := &batches.Items[i]
			collectBatch(ch, "UserDisableBatch", b.Namespace, b.Name, &b.Status)
		}
	}
	var undos v1alpha1.UserEnableBatchList
	if c.Reader.List(ctx, &undos) == nil {
		for i := range undos.Items {
			b := &undos.Items[i]
			collectBatch(ch, "UserEnableBatch", b.Namespace, b.Name, &b.Status)
		}
	}
	var syncs v1alpha1.GroupSyncList
	if c.Reader.List(ctx, &syncs) == nil {
		for i := range syncs.Items {
			collectGroupSync(ch, &syncs.Items[i])
		}
	}
}

func collectDirectory(ch chan<- prometheus.Metric, d *v1alpha1.Directory) {
	ready(ch, "Directory", d.Namespace, d.Name, d.Status.Conditions)
	if t := d.Status.Throttling; t != nil {
		for figure, v := range map[string]int64{"requests": t.Requests, "resource_units": t.ResourceUnits, "writes": t.Writes, "throttled": t.Throttled} {
			ch <- prometheus.MustNewConstMetric(windowDesc, prometheus.GaugeValue, float64(v), d.Namespace, d.Name, figure)
		}
		ch <- prometheus.MustNewConstMetric(windowSecondsDesc, prometheus.GaugeValue, float64(t.WindowSeconds), d.Namespace, d.Name)
	}
}

// collectUsers counts users instead of a series per user: a tenant has
// thousands, and alerts need only how many are not Ready, and why.
func collectUsers(ch chan<- prometheus.Metric, users []v1alpha1.DirectoryUser) {
	type key struct{ ns, dir, ready, reason string }
	counts := map[key]int{}
	for i := range users {
		u := &users[i]
		status, reason := readyCondition(u.Status.Conditions)
		counts[key{u.Namespace, u.Spec.DirectoryRef.Name, status, reason}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(usersDesc, prometheus.GaugeValue, float64(n), k.ns, k.dir, k.ready, k.reason)
	}
}

func collectBatch(ch chan<- prometheus.Metric, kind, ns, name string, st *v1alpha1.UserDisableBatchStatus) {
	ready(ch, kind, ns, name, st.Conditions)
	phase := st.Phase
	if phase == "" {
		phase = v1alpha1.BatchPending
	}
	ch <- prometheus.MustNewConstMetric(batchPhaseDesc, prometheus.GaugeValue, 1, kind, ns, name, string(phase))
	c := st.Counts
	if c == nil {
		return
	}
	counts := map[string]int32{"total": c.Total, "notFound": c.NotFound, "protected": c.Protected, "managed": c.Managed,
		"failed": c.Failed, "queried": c.Queried}
	if kind == "UserEnableBatch" {
		counts["enabled"], counts["alreadyEnabled"], counts["skipped"] = c.Enabled, c.AlreadyEnabled, c.Skipped
	} else {
		counts["disabled"], counts["alreadyDisabled"] = c.Disabled, c.AlreadyDisabled
	}
	for outcome, v := range counts {
		ch <- prometheus.MustNewConstMetric(batchUsersDesc, prometheus.GaugeValue, float64(v), kind, ns, name, outcome)
	}
}

func collectGroupSync(ch chan<- prometheus.Metric, g *v1alpha1.GroupSync) {
	ready(ch, "GroupSync", g.Namespace, g.Name, g.Status.Conditions)
	interval := DefaultGroupSyncInterval
	if g.Spec.Interval != nil && g.Spec.Interval.Duration > 0 {
		interval = g.Spec.Interval.Duration
	}
	ch <- prometheus.MustNewConstMetric(intervalDesc, prometheus.GaugeValue, interval.Seconds(), g.Namespace, g.Name)
	if g.Status.LastSync != nil {
		ch <- prometheus.MustNewConstMetric(lastSyncDesc, prometheus.GaugeValue,
			float64(g.Status.LastSync.Time.UnixNano())/1e9, g.Namespace, g.Name)
	}
}

func ready(ch chan<- prometheus.Metric, kind, ns, name string, conds []metav1.Condition) {
	status, reason := readyCondition(conds)
	v := 0.0
	if status == string(metav1.ConditionTrue) {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, v, kind, ns, name, reason)
}

// readyCondition returns the Ready condition's status and reason; an object
// not reconciled yet reads Unknown.
func readyCondition(conds []metav1.Condition) (status, reason string) {
	c := meta.FindStatusCondition(conds, "Ready")
	if c == nil {
		return string(metav1.ConditionUnknown), ""
	}
	return string(c.Status), c.Reason
}
