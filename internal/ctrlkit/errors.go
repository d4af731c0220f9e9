// Package ctrlkit holds the pieces every reconciler shares: typed results
// (stalled, waiting, transient), kstatus conditions and the status patch that
// only writes when something changed. It follows Flux's shape: steps return
// typed errors and one place turns them into a ctrl.Result and conditions.
package ctrlkit

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// StalledError means the operator cannot make progress until the user changes
// something (bad spec, conflict, missing permission). It sets Stalled=True and
// is not retried; the next spec change or watch event reconciles again.
type StalledError struct {
	Reason  string
	Message string
	Err     error
	// RetryAfter, when set, looks again after that long: for stalls fixed
	// outside the cluster (admin consent), where no watch event arrives.
	RetryAfter time.Duration
}

func (e *StalledError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Message, e.Err)
	}
	return e.Reason + ": " + e.Message
}

func (e *StalledError) Unwrap() error { return e.Err }

// Stalled builds a StalledError.
func Stalled(reason, format string, args ...any) *StalledError {
	return &StalledError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// WaitingError means progress depends on time or on another object (throttled,
// replication lag, a manager that does not exist yet). It requeues after
// RequeueAfter and is not logged as an error.
type WaitingError struct {
	Reason       string
	Message      string
	RequeueAfter time.Duration
}

func (e *WaitingError) Error() string { return e.Reason + ": " + e.Message }

// Waiting builds a WaitingError.
func Waiting(after time.Duration, reason, format string, args ...any) *WaitingError {
	return &WaitingError{Reason: reason, Message: fmt.Sprintf(format, args...), RequeueAfter: after}
}

// Result turns the outcome of the steps into what controller-runtime needs.
// Success requeues at the jittered interval; waiting requeues at its own
// time; stalled requeues only at its RetryAfter (if any); anything else goes to exponential backoff.
func Result(err error, interval time.Duration) (ctrl.Result, error) {
	var stalled *StalledError
	var waiting *WaitingError
	switch {
	case err == nil:
		if interval <= 0 {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{RequeueAfter: Jitter(interval, 0.1)}, nil
	case errors.As(err, &stalled):
		return ctrl.Result{RequeueAfter: stalled.RetryAfter}, nil
	case errors.As(err, &waiting):
		return ctrl.Result{RequeueAfter: waiting.RequeueAfter}, nil
	default:
		return ctrl.Result{}, err
	}
}

// Jitter spreads d by up to ±fraction so that thousands of objects created
// together do not resync in the same second.
func Jitter(d time.Duration, fraction float64) time.Duration {
	if d <= 0 || fraction <= 0 {
		return d
	}
	delta := (rand.Float64()*2 - 1) * fraction * float64(d)
	return d + time.Duration(delta)
}
