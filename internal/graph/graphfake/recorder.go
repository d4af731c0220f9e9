// Package graphfake holds what the controllers' func-field fakes of their
// Graph ports share: a call log and the failure of a call the test did not
// expect. Each controller keeps its own fake (its port is its own); it
// embeds a Recorder.
package graphfake

import (
	"fmt"
	"sync"
	"testing"

	"github.com/directory-operator/directory-operator/internal/graph"
)

// Recorder records a fake's calls in order and fails the test on a call to
// a method whose func field is not set.
type Recorder struct {
	T     testing.TB
	mu    sync.Mutex
	calls []string
}

// Record appends one call to the log.
func (r *Recorder) Record(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

// Unset fails the test for a call to method, which the test did not set,
// and returns the error the fake answers with.
func (r *Recorder) Unset(method string) error {
	r.T.Helper()
	r.T.Errorf("unexpected Graph call %s (no %sFunc set)", method, method)
	return &graph.Error{Kind: graph.Invalid, Code: "UnexpectedCall", Message: method}
}

// Calls returns the calls so far.
func (r *Recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}
