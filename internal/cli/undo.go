package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/plan"
)

type undoOptions struct {
	name   string
	yes    bool
	dryRun bool
}

func newUndoCommand(k *kube, s Streams) *cobra.Command {
	o := &undoOptions{}
	cmd := &cobra.Command{
		Use:   "undo BATCH [--yes] [--name NAME] [--dry-run]",
		Short: "Create the UserEnableBatch that re-enables the users a UserDisableBatch disabled",
		Long: `undo creates a UserEnableBatch (spec.directoryRef, spec.fromBatch: BATCH) that re-enables
the accounts the batch disabled (its Disabled rows). It shows how many and asks for
confirmation; --yes skips the question, --dry-run prints the object without creating it.`,
		Example: `  kubectl entra undo leavers-2026-12
  kubectl entra undo leavers-2026-12 --yes`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(k, &v1alpha1.UserDisableBatchList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			return runUndo(ctxOf(cmd), c, k.namespace(), args[0], o, s)
		},
	}
	cmd.Flags().StringVar(&o.name, "name", "", "name of the UserEnableBatch (default BATCH-undo)")
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the UserEnableBatch, create nothing")
	return cmd
}

// enableBatch is the UserEnableBatch undoing batch b.
func enableBatch(b *v1alpha1.UserDisableBatch, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(plan.KindUserEnableBatch))
	u.SetNamespace(b.Namespace)
	u.SetName(name)
	u.Object["spec"] = map[string]any{
		"directoryRef": map[string]any{"name": b.Spec.DirectoryRef.Name},
		"fromBatch":    b.Name,
	}
	return u
}

func runUndo(ctx context.Context, c client.Client, ns, batch string, o *undoOptions, s Streams) error {
	b := &v1alpha1.UserDisableBatch{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: batch}, b); err != nil {
		return err
	}
	name := o.name
	if name == "" {
		name = batch + "-undo"
	}
	eb := enableBatch(b, name)
	if o.dryRun {
		y, err := yaml.Marshal(eb.Object)
		if err != nil {
			return err
		}
		_, err = s.Out.Write(y)
		return err
	}
	var disabled []string
	for _, r := range b.Status.Users {
		if r.Outcome == v1alpha1.OutcomeDisabled {
			disabled = append(disabled, r.User)
		}
	}
	if b.Spec.DryRun || len(disabled) == 0 {
		return fmt.Errorf("UserDisableBatch %s disabled no users; nothing to undo", batch)
	}
	if !o.yes && !confirm(s, fmt.Sprintf("Create UserEnableBatch %s/%s re-enabling the %d users UserDisableBatch %s disabled (%s)? [y/N] ",
		ns, name, len(disabled), batch, preview(disabled, 5))) {
		return fmt.Errorf("not confirmed; nothing created")
	}
	if err := c.Create(ctx, eb); err != nil {
		if isNoKind(err) {
			return fmt.Errorf("the cluster does not serve UserEnableBatch (%s): upgrade directory-operator's CRDs: %w", v1alpha1.GroupVersion, err)
		}
		return err
	}
	fmt.Fprintf(s.Out, "userenablebatch.%s/%s created\n", v1alpha1.GroupVersion.Group, name)
	return nil
}

func preview(users []string, n int) string {
	if len(users) <= n {
		return strings.Join(users, ", ")
	}
	return strings.Join(users[:n], ", ") + fmt.Sprintf(", … %d more", len(users)-n)
}

// confirm asks on Err and reads the answer from In.
func confirm(s Streams, question string) bool {
	fmt.Fprint(s.Err, question)
	line, _ := bufio.NewReader(s.In).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
