package testenv

import (
	"context"
	"sync"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/directory-operator/directory-operator/internal/connection"
)

// StartManager runs another manager in this process, as a restarted
// operator would be: a new cache and whatever reconcilers setup registers
// (with no memory of the shared manager's). name labels its errors. The
// returned stop cancels it and waits until it has stopped; it is safe to
// call more than once, also concurrently, and runs at cleanup.
func (e *Env) StartManager(t testing.TB, name string, setup func(mgr ctrl.Manager) error) (stop func()) {
	t.Helper()
	skip := true // several managers in one process register same-named controllers
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme: e.Scheme,
		// The production cache selection, as the shared manager's: a
		// restarted manager that cached every Secret would not be one.
		Cache:      connection.CacheOptions(nil, nil),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatalf("building manager %s: %v", name, err)
	}
	if err := setup(mgr); err != nil {
		t.Fatalf("registering reconcilers of manager %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager %s: %v", name, err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("manager %s did not stop", name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
