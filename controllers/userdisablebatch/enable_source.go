package userdisablebatch

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/export"
)

// sourceRecheck is how often an undo looks again for a source batch that is
// missing (applied after the undo, say) or still running.
const sourceRecheck = 15 * time.Second

// sourceRows are the rows of an undo (spec.fromBatch), frozen at start: the
// source batch's Disabled rows, to enable, and its AlreadyDisabled rows,
// Skipped (never read, never written). They are read from the batch's
// status, or from its audit export once the batch is gone.
func (ru *run) sourceRows(ctx context.Context) ([]v1alpha1.BatchUserResult, error) {
	if err := ru.r.auditNameFree(ctx, ru.b.Namespace, AuditName(ru.b.Name), enableKind.name+"/"+ru.b.Name); err != nil {
		return nil, err
	}
	src, err := ru.sourceBatchRows(ctx)
	if err != nil {
		return nil, err
	}
	var rows []v1alpha1.BatchUserResult
	for _, row := range src {
		switch row.Outcome {
		case v1alpha1.OutcomeDisabled:
			rows = append(rows, v1alpha1.BatchUserResult{User: row.User, ID: row.ID, JobTitle: row.JobTitle, Outcome: v1alpha1.OutcomePending})
		case v1alpha1.OutcomeAlreadyDisabled:
			rows = append(rows, v1alpha1.BatchUserResult{User: row.User, ID: row.ID, JobTitle: row.JobTitle, Outcome: v1alpha1.OutcomeSkipped,
				Message: fmt.Sprintf("already disabled before UserDisableBatch %s; left disabled", ru.from)})
		}
	}
	return rows, nil
}

// sourceBatchRows reads the source batch's rows. The batch is read around
// the cache: it may belong to another shard of the operator.
func (ru *run) sourceBatchRows(ctx context.Context) ([]v1alpha1.BatchUserResult, error) {
	src := &v1alpha1.UserDisableBatch{}
	err := ru.r.APIReader.Get(ctx, types.NamespacedName{Namespace: ru.b.Namespace, Name: ru.from}, src)
	switch {
	case apierrors.IsNotFound(err):
		return ru.exportRows(ctx)
	case err != nil:
		return nil, err
	case src.Spec.DirectoryRef.Name != ru.b.Spec.DirectoryRef.Name:
		return nil, ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec, "UserDisableBatch %s disabled users of Directory %q, not %q; create a new UserEnableBatch with directoryRef %q",
			ru.from, src.Spec.DirectoryRef.Name, ru.b.Spec.DirectoryRef.Name, src.Spec.DirectoryRef.Name)
	case src.Spec.DryRun:
		return nil, ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec, "UserDisableBatch %s is a dry run: it disabled nobody, there is nothing to undo", ru.from)
	case !finished(src.Status.Phase):
		phase := string(src.Status.Phase)
		if !src.DeletionTimestamp.IsZero() {
			phase = "being deleted"
		}
		return nil, ctrlkit.Waiting(sourceRecheck, v1alpha1.ReasonSourceNotComplete,
			"UserDisableBatch %s is %s; the undo starts once it has finished (a deleted batch: once its audit export is written)", ru.from, phase)
	}
	return src.Status.Users, nil
}

// exportRows reads the rows of a deleted source batch from its audit export.
func (ru *run) exportRows(ctx context.Context) ([]v1alpha1.BatchUserResult, error) {
	name := AuditName(ru.from)
	notFound := func(why string) error {
		e := ctrlkit.Stalled(v1alpha1.ReasonSourceNotFound,
			"no UserDisableBatch %s in namespace %s and %s; looking again every %s", ru.from, ru.b.Namespace, why, sourceRecheck)
		e.RetryAfter = sourceRecheck
		return e
	}
	// The manager's cache holds every export ConfigMap: reading a
	// 5,000-row export (and its shards) from it spares the API server;
	// only a miss is confirmed around it.
	cm := &corev1.ConfigMap{}
	key := types.NamespacedName{Namespace: ru.b.Namespace, Name: name}
	reader := client.Reader(ru.r.Client)
	err := reader.Get(ctx, key, cm)
	if apierrors.IsNotFound(err) {
		reader = ru.r.APIReader
		err = reader.Get(ctx, key, cm)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notFound("no audit export " + name + " (never run, or its export expired)")
		}
		return nil, err
	}
	if holder := cm.Annotations[v1alpha1.AnnotationBatch]; holder != disableKind.name+"/"+ru.from {
		return nil, notFound(fmt.Sprintf("ConfigMap %s is not its audit export (it records %q)", name, holder))
	}
	dir := &v1alpha1.Directory{}
	if err := ru.r.Get(ctx, types.NamespacedName{Namespace: ru.b.Namespace, Name: ru.b.Spec.DirectoryRef.Name}, dir); err != nil {
		return nil, fmt.Errorf("reading Directory %q: %w", ru.b.Spec.DirectoryRef.Name, err)
	}
	file, err := export.Read(ctx, reader, dir, name, AuditFile)
	if err != nil {
		return nil, err
	}
	if file == nil {
		return nil, notFound(fmt.Sprintf("its audit export %s is not Directory %s's", name, dir.Name))
	}
	rows, err := parseAudit(file)
	if err != nil {
		return nil, ctrlkit.Stalled(v1alpha1.ReasonSourceNotFound, "audit export %s: %v", name, err)
	}
	return rows, nil
}

// parseAudit reads the rows of an audit CSV (user, id, outcome, jobTitle).
func parseAudit(file []byte) ([]v1alpha1.BatchUserResult, error) {
	recs, err := csv.NewReader(bytes.NewReader(file)).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || len(recs[0]) < 4 || !slices.Equal(recs[0][:4], AuditHeader[:4]) {
		return nil, errors.New("not an audit CSV (header user,id,outcome,jobTitle,…)")
	}
	rows := make([]v1alpha1.BatchUserResult, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		rows = append(rows, v1alpha1.BatchUserResult{User: rec[0], ID: rec[1], Outcome: v1alpha1.UserOutcome(rec[2]), JobTitle: rec[3]})
	}
	return rows, nil
}
