package ctrlkit

import (
	"errors"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// Summarize sets Ready, Reconciling and Stalled from the steps' outcome, the
// way kstatus reads them: success → Ready=True; waiting or a transient error →
// Ready=False + Reconciling=True; stalled → Ready=False + Stalled=True. The
// observed generation is recorded in every case, so `kubectl wait` and Flux-
// style tooling can tell a stale status from a fresh one.
func Summarize(st *v1alpha1.CommonStatus, generation int64, err error, readyMessage string) {
	st.ObservedGeneration = generation
	var stalled *StalledError
	var waiting *WaitingError
	switch {
	case err == nil:
		set(st, generation, v1alpha1.ConditionReady, true, v1alpha1.ReasonSucceeded, readyMessage)
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
	case errors.As(err, &stalled):
		// The cause (e.g. Graph's error code and text) belongs in Ready
		// itself: it is the condition everyone reads.
		msg := stalled.Message
		if stalled.Err != nil {
			msg += ": " + stalled.Err.Error()
		}
		set(st, generation, v1alpha1.ConditionReady, false, stalled.Reason, msg)
		set(st, generation, v1alpha1.ConditionStalled, true, stalled.Reason, msg)
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionReconciling)
	case errors.As(err, &waiting):
		set(st, generation, v1alpha1.ConditionReady, false, waiting.Reason, waiting.Message)
		set(st, generation, v1alpha1.ConditionReconciling, true, waiting.Reason, waiting.Message)
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
	default:
		set(st, generation, v1alpha1.ConditionReady, false, ReasonFor(err), err.Error())
		set(st, generation, v1alpha1.ConditionReconciling, true, v1alpha1.ReasonProgressing, "Retrying after error")
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
	}
}

// SetCondition sets one condition with the object's generation.
func SetCondition(st *v1alpha1.CommonStatus, generation int64, condType string, status bool, reason, message string) {
	set(st, generation, condType, status, reason, message)
}

// ReasonOf is the condition reason any step error reports: a stall's or a
// wait's own, else ReasonFor's.
func ReasonOf(err error) string {
	var stalled *StalledError
	var waiting *WaitingError
	switch {
	case errors.As(err, &stalled):
		return stalled.Reason
	case errors.As(err, &waiting):
		return waiting.Reason
	}
	return ReasonFor(err)
}

// ReasonFor gives a transient error a condition reason.
func ReasonFor(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return v1alpha1.ReasonGraphError
}

func set(st *v1alpha1.CommonStatus, generation int64, condType string, status bool, reason, message string) {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	if len(message) > 1024 {
		message = message[:1021] + "..."
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: condType, Status: s, Reason: reason, Message: message, ObservedGeneration: generation,
	})
}

// IsReady reports whether the Ready condition is True for the current generation.
func IsReady(st *v1alpha1.CommonStatus, generation int64) bool {
	c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}
