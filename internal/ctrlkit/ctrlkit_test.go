package ctrlkit

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

func TestResultMapsTypedErrors(t *testing.T) {
	generic := errors.New("boom")
	cases := []struct {
		name        string
		err         error
		wantErr     bool
		wantRequeue time.Duration
	}{
		{"stalled does not requeue", Stalled(v1alpha1.ReasonUserExists, "taken"), false, 0},
		{"waiting requeues after its delay", Waiting(3*time.Second, v1alpha1.ReasonThrottled, "429"), false, 3 * time.Second},
		{"wrapped waiting too", errors.Join(errors.New("ctx"), Waiting(time.Second, "R", "m")), false, time.Second},
		{"generic error goes to backoff", generic, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Result(tc.err, 0)
			if (err != nil) != tc.wantErr || res.RequeueAfter != tc.wantRequeue {
				t.Fatalf("Result(%v) = %+v, %v", tc.err, res, err)
			}
		})
	}
	res, err := Result(nil, 10*time.Minute)
	if err != nil || res.RequeueAfter < 9*time.Minute || res.RequeueAfter > 11*time.Minute {
		t.Fatalf("success should requeue at the jittered interval, got %+v %v", res, err)
	}
}

func TestSummarizeSetsKstatusConditions(t *testing.T) {
	st := &v1alpha1.CommonStatus{}
	Summarize(st, 3, Stalled(v1alpha1.ReasonDomainNotAllowed, "no"), "ok")
	if !meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionStalled) || meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionReady) {
		t.Fatalf("stalled: %+v", st.Conditions)
	}
	Summarize(st, 4, Waiting(time.Second, v1alpha1.ReasonThrottled, "wait"), "ok")
	if !meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionReconciling) || meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionStalled) != nil {
		t.Fatalf("waiting: %+v", st.Conditions)
	}
	Summarize(st, 5, nil, "ok")
	if !IsReady(st, 5) || len(st.Conditions) != 1 || st.ObservedGeneration != 5 {
		t.Fatalf("ready: %+v", st)
	}
	if IsReady(st, 6) {
		t.Fatal("Ready for an older generation must not count")
	}
}
