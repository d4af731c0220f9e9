package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/groupsync"
	"github.com/directory-operator/directory-operator/controllers/userdisablebatch"
	"github.com/directory-operator/directory-operator/internal/export"
)

// Export kinds of `kubectl entra export --kind`.
const (
	exportGroupSync = "groupsync"
	exportBatch     = "batch"
	exportDirectory = "directory"
)

func newExportCommand(k *kube, s Streams) *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "export NAME [--kind groupsync|batch|directory]",
		Short: "Print a GroupSync's users.csv or a batch's audit.csv, whatever its storage",
		Long: `export prints the CSV an object exported, however it is stored: plain in data, gzip in
binaryData, or gzip split into shards. NAME is a GroupSync (users.csv), a UserDisableBatch
(its audit.csv, also after the batch itself was deleted, until exportRetention) or, with
--kind directory, a Directory with spec.exports.groups (groups.csv). Without --kind a
GroupSync of that name is tried first, then a batch.`,
		Example: `  kubectl entra export all-staff > all-staff.csv
  kubectl entra export leavers-2026-12 --kind batch`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(k, &v1alpha1.GroupSyncList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			b, err := readExport(ctxOf(cmd), c, k.namespace(), args[0], kind)
			if err != nil {
				return err
			}
			_, err = s.Out.Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "groupsync, batch or directory (default: the GroupSync, else the batch)")
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions([]string{exportGroupSync, exportBatch, exportDirectory}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func readExport(ctx context.Context, c client.Client, ns, name, kind string) ([]byte, error) {
	switch kind {
	case exportGroupSync:
		return groupSyncExport(ctx, c, ns, name)
	case exportBatch:
		return auditExport(ctx, c, ns, name)
	case exportDirectory:
		dir := &v1alpha1.Directory{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dir); err != nil {
			return nil, err
		}
		return readOwned(ctx, c, dir, export.GroupsConfigMapName(dir), "groups.csv")
	case "":
		b, err := groupSyncExport(ctx, c, ns, name)
		if !apierrors.IsNotFound(err) {
			return b, err
		}
		return auditExport(ctx, c, ns, name)
	}
	return nil, fmt.Errorf("unknown --kind %q (groupsync, batch or directory)", kind)
}

func groupSyncExport(ctx context.Context, c client.Client, ns, name string) ([]byte, error) {
	gs := &v1alpha1.GroupSync{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, gs); err != nil {
		return nil, err
	}
	cm := gs.Spec.Export
	if gs.Status.Export != nil && len(gs.Status.Export.ConfigMaps) > 0 {
		cm = gs.Status.Export.ConfigMaps[0]
	}
	if cm == "" {
		cm = gs.Name + "-members"
	}
	return readOwned(ctx, c, gs, cm, groupsync.UsersFile)
}

// auditExport reads a batch's audit.csv. It is owned by the batch's
// Directory, so it is found through its ConfigMap when the batch is gone.
func auditExport(ctx context.Context, c client.Client, ns, batch string) ([]byte, error) {
	name := userdisablebatch.AuditName(batch)
	cm := &metav1.PartialObjectMetadata{}
	cm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("no GroupSync or batch audit export named %q in namespace %s (a batch writes its audit when it finishes)", batch, ns)
		}
		return nil, err
	}
	ref := metav1.GetControllerOf(cm)
	if ref == nil || ref.Kind != "Directory" {
		return nil, fmt.Errorf("ConfigMap %s is not an audit export of directory-operator", name)
	}
	dir := &v1alpha1.Directory{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, dir); err != nil {
		return nil, err
	}
	return readOwned(ctx, c, dir, name, userdisablebatch.AuditFile)
}

// readOwned reads an export through internal/export, which accepts only
// ConfigMaps owner created for it (and joins gzip shards).
func readOwned(ctx context.Context, c client.Reader, owner client.Object, name, file string) ([]byte, error) {
	b, err := export.Read(ctx, c, owner, name, file)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%s has no export %s yet", owner.GetName(), name)
	}
	return b, nil
}

// forEachName calls fn with the name of every item of a list.
func forEachName(l client.ObjectList, fn func(string)) error {
	items, err := meta.ExtractList(l)
	if err != nil {
		return err
	}
	for _, it := range items {
		if o, ok := it.(client.Object); ok {
			fn(o.GetName())
		}
	}
	return nil
}
