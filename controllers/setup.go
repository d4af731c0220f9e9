// Package controllers wires every reconciler into a manager. Each kind's
// reconciler lives in its own sub-package with its own tests.
package controllers

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/directory-operator/directory-operator/controllers/directory"
	"github.com/directory-operator/directory-operator/controllers/directoryuser"
	"github.com/directory-operator/directory-operator/controllers/groupsync"
	"github.com/directory-operator/directory-operator/controllers/userdisablebatch"
	"github.com/directory-operator/directory-operator/internal/connection"
)

// Default parallel reconciles (see Options).
const (
	DefaultConcurrency     = 4
	DefaultUserConcurrency = 32
)

// Options tune all controllers.
type Options struct {
	// Concurrency is the number of parallel reconciles of the
	// UserDisableBatch and UserEnableBatch controllers (0:
	// DefaultConcurrency). Their reconciles are few and long (a batch paces
	// thousands of Graph calls itself, 4 envelopes at a time), so more
	// workers would only compete for the same Graph budget. Directory and
	// GroupSync reconcile one object at a time.
	Concurrency int
	// UserConcurrency is the number of parallel DirectoryUser reconciles (0:
	// DefaultUserConcurrency). A DirectoryUser reconcile is a few API
	// server round trips and one or two small Graph calls that concurrent
	// reconciles share as $batch envelopes: with few workers the operator
	// waits on round trips, not on quota. The Graph budget paces them
	// (a worker never sleeps longer than 1 s on it; beyond that it requeues).
	UserConcurrency int
	// UserFilter, when set, limits which DirectoryUsers this manager's
	// DirectoryUser controller handles (benchmarks that run a second
	// manager beside it; production shards use --label-selector instead).
	UserFilter predicate.Predicate
}

// Setup registers every controller with mgr.
func Setup(mgr ctrl.Manager, res *connection.Resolver, opts Options) error {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.UserConcurrency <= 0 {
		opts.UserConcurrency = DefaultUserConcurrency
	}
	if err := (&directory.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Dialer:    connection.Port[directory.Graph](res),
		Clients:   res.Registry,
		Recorder:  mgr.GetEventRecorder("directory-operator"),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if !res.NoClusterDirectories {
		if err := (&directory.ClusterReconciler{
			Client:   mgr.GetClient(),
			Dialer:   connection.Port[directory.Graph](res),
			Clients:  res.Registry,
			Recorder: mgr.GetEventRecorder("directory-operator"),
		}).SetupWithManager(mgr); err != nil {
			return err
		}
	}
	if err := (&directoryuser.Reconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Connector:               connection.Port[directoryuser.Graph](res),
		Deletions:               deletions(res),
		Recorder:                mgr.GetEventRecorder("directory-operator"),
		MaxConcurrentReconciles: opts.UserConcurrency,
		Filter:                  opts.UserFilter,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&userdisablebatch.Reconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Connector:   connection.Port[userdisablebatch.Graph](res),
		Recorder:    mgr.GetEventRecorder("directory-operator"),
		Concurrency: opts.Concurrency,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&userdisablebatch.Reconciler{
		Enable:      true,
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Connector:   connection.Port[userdisablebatch.Graph](res),
		Recorder:    mgr.GetEventRecorder("directory-operator"),
		Concurrency: opts.Concurrency,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&groupsync.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Connector: connection.Port[groupsync.Graph](res),
		Recorder:  mgr.GetEventRecorder("directory-operator"),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	return nil
}

// deletions is res's deletion allowance, or nil (no limit) without one: a
// nil *DeletionLimiter in the interface would not compare equal to nil.
func deletions(res *connection.Resolver) directoryuser.Deletions {
	if res.Deletions == nil {
		return nil
	}
	return res.Deletions
}
