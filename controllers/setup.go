// Package controllers wires every reconciler into a manager. Each kind's
// reconciler lives in its own sub-package with its own tests.
package controllers

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/directory-operator/directory-operator/controllers/directory"
	"github.com/directory-operator/directory-operator/controllers/directoryuser"
	"github.com/directory-operator/directory-operator/controllers/groupsync"
	"github.com/directory-operator/directory-operator/controllers/userdisablebatch"
	"github.com/directory-operator/directory-operator/internal/connection"
)

// Options tune all controllers.
type Options struct {
	// Concurrency is the number of parallel reconciles per controller.
	Concurrency int
}

// Setup registers every controller with mgr.
func Setup(mgr ctrl.Manager, res *connection.Resolver, opts Options) error {
	if err := (&directory.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Resolver:  res,
		Recorder:  mgr.GetEventRecorder("directory-operator"),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&directoryuser.Reconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Resolver:                res,
		Recorder:                mgr.GetEventRecorder("directory-operator"),
		MaxConcurrentReconciles: opts.Concurrency,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&userdisablebatch.Reconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Resolver:    res,
		Recorder:    mgr.GetEventRecorder("directory-operator"),
		Concurrency: opts.Concurrency,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&userdisablebatch.Reconciler{
		Enable:      true,
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Resolver:    res,
		Recorder:    mgr.GetEventRecorder("directory-operator"),
		Concurrency: opts.Concurrency,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&groupsync.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Resolver:  res,
		Recorder:  mgr.GetEventRecorder("directory-operator"),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	return nil
}
