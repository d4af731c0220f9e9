package statusmetrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

func TestCollector(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ready := []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Succeeded"}}
	throttled := []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Throttled"}}
	last := metav1.NewTime(time.Unix(1700000000, 0))
	dir := &v1alpha1.Directory{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tenant"}}
	dir.Status.Conditions = throttled
	dir.Status.Throttling = &v1alpha1.ThrottlingStatus{WindowSeconds: 300, Requests: 10, Throttled: 2}
	u1 := &v1alpha1.DirectoryUser{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"}, Spec: v1alpha1.DirectoryUserSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: "tenant"}}}
	u1.Status.Conditions = ready
	u2 := u1.DeepCopy()
	u2.Name = "b"
	u3 := u1.DeepCopy()
	u3.Name, u3.Status.Conditions = "c", nil
	batch := &v1alpha1.UserDisableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b"}}
	batch.Status.Phase = v1alpha1.BatchCompletedWithErrors
	batch.Status.Counts = &v1alpha1.BatchCounts{Total: 3, Disabled: 2, Failed: 1}
	// A batch not reconciled yet has no phase and no counts.
	fresh := &v1alpha1.UserDisableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "fresh"}}
	undo := &v1alpha1.UserEnableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "undo"}}
	undo.Status.Phase = v1alpha1.BatchCompleted
	undo.Status.Counts = &v1alpha1.BatchCounts{Total: 2, Enabled: 1, Skipped: 1}
	gs := &v1alpha1.GroupSync{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g"}, Spec: v1alpha1.GroupSyncSpec{Interval: &metav1.Duration{Duration: time.Hour}}}
	gs.Status.Conditions = ready
	gs.Status.LastSync = &v1alpha1.LastSync{Time: last}

	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(dir, u1, u2, u3, batch, fresh, undo, gs).Build()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&Collector{Reader: reader})
	want := `
# HELP directory_operator_directoryusers DirectoryUsers by Directory, Ready status and reason.
# TYPE directory_operator_directoryusers gauge
directory_operator_directoryusers{directory="tenant",namespace="ns",ready="True",reason="Succeeded"} 2
directory_operator_directoryusers{directory="tenant",namespace="ns",ready="Unknown",reason=""} 1
# HELP directory_operator_batch_phase 1 for the batch's (UserDisableBatch, UserEnableBatch) current phase (Pending, Running, Completed, CompletedWithErrors, Failed).
# TYPE directory_operator_batch_phase gauge
directory_operator_batch_phase{kind="UserDisableBatch",name="b",namespace="ns",phase="CompletedWithErrors"} 1
directory_operator_batch_phase{kind="UserDisableBatch",name="fresh",namespace="ns",phase="Pending"} 1
directory_operator_batch_phase{kind="UserEnableBatch",name="undo",namespace="ns",phase="Completed"} 1
# HELP directory_operator_groupsync_last_sync_timestamp_seconds Unix time of the GroupSync's last completed sync (absent before the first).
# TYPE directory_operator_groupsync_last_sync_timestamp_seconds gauge
directory_operator_groupsync_last_sync_timestamp_seconds{name="g",namespace="ns"} 1.7e+09
# HELP directory_operator_groupsync_interval_seconds The GroupSync's sync interval.
# TYPE directory_operator_groupsync_interval_seconds gauge
directory_operator_groupsync_interval_seconds{name="g",namespace="ns"} 3600
`
	names := []string{"directory_operator_directoryusers", "directory_operator_batch_phase",
		"directory_operator_groupsync_last_sync_timestamp_seconds", "directory_operator_groupsync_interval_seconds"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	for name, n := range map[string]int{
		"directory_operator_ready":                          5,  // Directory, three batches, GroupSync
		"directory_operator_batch_users":                    17, // 8 outcomes of a disable, 9 of an enable
		"directory_operator_directory_graph_window":         4,
		"directory_operator_directory_graph_window_seconds": 1,
	} {
		if got, err := testutil.GatherAndCount(reg, name); err != nil || got != n {
			t.Errorf("%s: %d series (%v), want %d", name, got, err, n)
		}
	}
}
