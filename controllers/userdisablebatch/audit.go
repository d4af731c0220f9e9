package userdisablebatch

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/export"
)

// AuditFile is the audit export's file name.
const AuditFile = "audit.csv"

// Audit exports are labelled so the janitor finds them after their batch is
// gone, and annotated with when they may be deleted.
const (
	LabelAudit       = "entra.directory-operator.io/audit"
	AnnotationExpiry = "entra.directory-operator.io/expires-at"
)

// AuditHeader is the audit CSV's columns.
var AuditHeader = []string{"user", "id", "outcome", "jobTitle", "accountEnabledBefore", "accountEnabledAfter",
	"sessionsRevoked", "message", "time", "selectedBy"}

// AuditName is the ConfigMap of a batch's audit export.
func AuditName(batchName string) string { return batchName + "-audit" }

// auditRows renders one line per row. Values a row leaves out because its
// outcome implies them are spelled out here: the file is read without the
// API's conventions at hand. A row still Pending says why nothing was done.
func auditRows(rows []v1alpha1.BatchUserResult, at time.Time, deleted bool) [][]string {
	out := make([][]string, len(rows))
	ts := at.UTC().Format(time.RFC3339)
	for i, row := range rows {
		before, after := boolText(row.AccountEnabledBefore), boolText(row.AccountEnabled)
		switch row.Outcome {
		case v1alpha1.OutcomeDisabled:
			before, after = "true", "false"
		case v1alpha1.OutcomeAlreadyDisabled:
			before, after = "false", "false"
		case v1alpha1.OutcomeEnabled:
			before, after = "false", "true"
		case v1alpha1.OutcomeAlreadyEnabled:
			before, after = "true", "true"
		case v1alpha1.OutcomeProtected, v1alpha1.OutcomeManaged, v1alpha1.OutcomeQueried, v1alpha1.OutcomeFailed:
			if before == "" {
				before = after
			}
		case v1alpha1.OutcomePending:
			after = before // nothing was written
		}
		msg := row.Message
		if row.Outcome == v1alpha1.OutcomePending && msg == "" {
			msg = "not processed"
			if deleted {
				msg = "not processed: the batch was deleted first"
			}
		}
		out[i] = []string{row.User, row.ID, string(row.Outcome), row.JobTitle, before, after,
			boolText(row.SessionsRevoked), msg, ts, row.SelectedBy}
	}
	return out
}

func boolText(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

// auditTarget is what writeAudit needs of a batch of either kind.
type auditTarget struct {
	obj       client.Object
	kind      string
	directory string
	rows      []v1alpha1.BatchUserResult
	retention time.Duration
	summary   string
	deleted   bool
}

// writeAudit writes the audit export, owned by the Directory so that it
// outlives the batch (until the janitor deletes it after retention, or the
// Directory goes), and tells the Directory in an Event.
func (r *Reconciler) writeAudit(ctx context.Context, t auditTarget) (*v1alpha1.ExportStatus, error) {
	dir := &v1alpha1.Directory{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: t.obj.GetNamespace(), Name: t.directory}, dir); err != nil {
		return nil, fmt.Errorf("reading Directory %q for the audit export: %w", t.directory, err)
	}
	now := r.now()
	file := export.CSV(AuditHeader, auditRows(t.rows, now, t.deleted))
	name := AuditName(t.obj.GetName())
	if err := r.auditNameFree(ctx, t.obj.GetNamespace(), name, t.kind+"/"+t.obj.GetName()); err != nil {
		return nil, err
	}
	res, err := export.Write(ctx, r.Client, r.APIReader, r.Scheme(), dir, name, AuditFile, file)
	if err != nil {
		return nil, err
	}
	expires := now.Add(t.retention).UTC().Format(time.RFC3339)
	for _, cmName := range res.ConfigMaps {
		cm := &corev1.ConfigMap{}
		if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: t.obj.GetNamespace(), Name: cmName}, cm); err != nil {
			return nil, err
		}
		patch := client.MergeFrom(cm.DeepCopy())
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Labels[LabelAudit] = t.kind
		cm.Annotations[AnnotationExpiry] = expires
		cm.Annotations[v1alpha1.AnnotationBatch] = t.kind + "/" + t.obj.GetName()
		if err := r.Patch(ctx, cm, patch); err != nil {
			return nil, err
		}
	}
	ctrlkit.Event(r.Recorder, dir, t.obj, corev1.EventTypeNormal, "BatchAudited", "Audit",
		"%s %s: %s; audit export %s kept until %s: %s", t.kind, t.obj.GetName(), t.summary, name, expires, res.Command)
	log.FromContext(ctx).Info("Wrote audit export", "configMaps", res.ConfigMaps, "rows", len(t.rows))
	return &v1alpha1.ExportStatus{ConfigMaps: res.ConfigMaps, Encoding: res.Encoding, Command: res.Command}, nil
}

// auditNameFree refuses an audit export name that another batch's export
// holds: a UserDisableBatch and a UserEnableBatch of the same name would
// otherwise overwrite each other's audit trail.
func (r *Reconciler) auditNameFree(ctx context.Context, ns, name, batch string) error {
	cm := &corev1.ConfigMap{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, cm)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if holder := cm.Annotations[v1alpha1.AnnotationBatch]; holder != "" && holder != batch {
		return ctrlkit.Stalled(v1alpha1.ReasonExportConflict,
			"the audit export %s holds the audit trail of %s; it is left untouched: give this batch another name", name, holder)
	}
	return nil
}

// DefaultJanitorInterval is how often expired audit exports are looked for.
const DefaultJanitorInterval = time.Hour

// janitor deletes audit exports whose retention ended. It runs in the
// leader only (the manager starts it like a controller).
type janitor struct {
	c client.Client
	// reader lists the audit exports: the manager's cache, which holds every
	// export ConfigMap (label-selected) of the watched namespaces. Listing
	// around it would need cluster-wide list on ConfigMaps, which the
	// namespaced RBAC mode does not grant.
	reader   client.Reader
	interval time.Duration
	now      func() time.Time
}

func (j *janitor) NeedLeaderElection() bool { return true }

func (j *janitor) Start(ctx context.Context) error {
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		if err := j.sweep(ctx); err != nil {
			log.FromContext(ctx).Error(err, "Deleting expired audit exports failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (j *janitor) sweep(ctx context.Context) error {
	var list corev1.ConfigMapList
	if err := j.reader.List(ctx, &list, client.HasLabels{LabelAudit}); err != nil {
		return err
	}
	now := j.now()
	for i := range list.Items {
		cm := &list.Items[i]
		exp, err := time.Parse(time.RFC3339, cm.Annotations[AnnotationExpiry])
		if err != nil || now.Before(exp) {
			continue
		}
		if err := j.c.Delete(ctx, cm); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		log.FromContext(ctx).Info("Deleted expired audit export", "namespace", cm.Namespace, "configMap", cm.Name)
	}
	return nil
}
