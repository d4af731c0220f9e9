package ctrlkit

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// The one error policy: every controller turns a failed Graph call into a
// condition and a requeue through FromGraph, so a 401, 403 or 429 means the
// same thing to a Directory, a DirectoryUser, a batch and a GroupSync.
// Kinds only add context (what was being done, which permission it needs).
//
//	graph.Kind    outcome   reason              requeue
//	Throttled     Waiting   Throttled           Retry-After + up to 10 % + 250 ms jitter
//	Transient     error     Unreachable         controller-runtime's exponential backoff
//	NotFound      error     GraphError          backoff (callers handle expected 404s first)
//	Conflict      Stalled   Conflict            on the next change (a human decides)
//	Forbidden     Stalled   PermissionMissing   re-checked every RecheckOutside
//	Unauthorized  Stalled   InvalidCredentials  re-checked every RecheckOutside
//	Invalid       Stalled   InvalidSpec         on the next change (the spec must change)
//	Unknown       error     GraphError          backoff
//
// Forbidden and Unauthorized are fixed outside the cluster (admin consent,
// a new client secret in Entra), where no watch event tells the operator, so
// those stalls are looked at again on a slow timer.

// RecheckOutside is how often a stall only fixable outside the cluster is
// tried again.
const RecheckOutside = 5 * time.Minute

// GraphOp describes the failed call for the message.
type GraphOp struct {
	// Doing is what was being done, e.g. "creating user a@contoso.com".
	Doing string
	// Permissions names what the app needs for it, e.g. "User.ReadWrite.All".
	Permissions string
}

// FromGraph maps err by the table above. Errors that are not Graph errors
// (API server, context) go to backoff unchanged.
func FromGraph(err error, op GraphOp) error {
	var ge *graph.Error
	if !errors.As(err, &ge) {
		if op.Doing == "" {
			return err
		}
		return fmt.Errorf("%s: %w", op.Doing, err)
	}
	doing := op.Doing
	if doing == "" {
		doing = ge.Op
	}
	switch ge.Kind {
	case graph.Throttled:
		d := ThrottleDelay(ge.RetryAfter)
		if ge.StatusCode != http.StatusTooManyRequests {
			// Our own budget held the request back: Graph was not asked,
			// and the message must not say it throttled.
			return Waiting(d, v1alpha1.ReasonThrottled, "%s waits for the operator's client-side budget (%s); retrying in %s",
				doing, ge.Message, d.Round(time.Millisecond))
		}
		return Waiting(d, v1alpha1.ReasonThrottled, "Graph throttled %s (429); retrying in %s", doing, d.Round(time.Millisecond))
	case graph.Transient:
		return &graphFailure{reason: v1alpha1.ReasonUnreachable, doing: doing, err: err}
	case graph.Conflict:
		return &StalledError{Reason: v1alpha1.ReasonConflict, Message: doing + " conflicts with an existing object", Err: err}
	case graph.Forbidden:
		msg := "Graph refused " + doing
		if op.Permissions != "" {
			msg += "; grant the app " + op.Permissions + " with admin consent"
		}
		return &StalledError{Reason: v1alpha1.ReasonPermissionMissing, Message: msg, Err: err, RetryAfter: RecheckOutside}
	case graph.Unauthorized:
		return &StalledError{Reason: v1alpha1.ReasonInvalidCredentials, Message: "the Directory's credentials were refused while " + doing,
			Err: err, RetryAfter: RecheckOutside}
	case graph.Invalid:
		return &StalledError{Reason: v1alpha1.ReasonInvalidSpec, Message: "Graph rejected " + doing, Err: err}
	}
	return &graphFailure{reason: v1alpha1.ReasonGraphError, doing: doing, err: err}
}

// ThrottleDelay honours Retry-After and adds a little jitter, so resources
// throttled together do not all retry in the same instant.
func ThrottleDelay(retryAfter time.Duration) time.Duration {
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	return retryAfter + time.Duration(rand.Int64N(int64(retryAfter/10)+int64(250*time.Millisecond)))
}

// graphFailure is a Graph error retried with backoff, under a named reason.
type graphFailure struct {
	reason, doing string
	err           error
}

func (e *graphFailure) Error() string  { return e.doing + ": " + e.err.Error() }
func (e *graphFailure) Unwrap() error  { return e.err }
func (e *graphFailure) Reason() string { return e.reason }
