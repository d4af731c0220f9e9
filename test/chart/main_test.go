// Package chart tests the Helm chart (lint, render, server-side dry run
// against a real API server, equality with config/) and the alert rules and
// dashboard (PromQL parses; every metric exists on the manager's /metrics).
package chart

import (
	"os"
	"sync"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/directory-operator/directory-operator/controllers"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/statusmetrics"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

var (
	envOnce sync.Once
	env     *testenv.Env
	envErr  error
)

// apiServer starts, on first use, a kube-apiserver with the controllers
// wired as cmd/manager wires them, status collector included, so the
// metrics test sees what /metrics serves. Render-only tests never start it.
func apiServer(t *testing.T) *testenv.Env {
	t.Helper()
	envOnce.Do(func() {
		env, envErr = testenv.Start(testenv.Options{Setup: func(mgr ctrl.Manager, res *connection.Resolver) error {
			if err := controllers.Setup(mgr, res, controllers.Options{Concurrency: 2}); err != nil {
				return err
			}
			if err := statusmetrics.Setup(mgr.GetClient()); err != nil {
				return err
			}
			return metrics.Registry.Register(res.Registry.Collector())
		}})
	})
	if envErr != nil {
		t.Fatalf("test environment: %v", envErr)
	}
	return env
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		env.Stop()
	}
	os.Exit(code)
}
