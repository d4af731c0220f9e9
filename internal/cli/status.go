package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
)

func newStatusCommand(k *kube, s Streams) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "status [-A]",
		Short: "Show Directories: Ready and its reason, Graph traffic of the last window, budget, deletions",
		Long: `status lists the Directories of the namespace (all namespaces with -A): whether Ready and
why (see the README's troubleshooting table for each reason), the Graph requests, resource
units, writes and 429 answers of the last throttling window, the client-side budget the
operator keeps to (resource units per 10 s, writes per 150 s), and the deletions of the
last hour against safety.maxDeletionsPerHour.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			var opts []client.ListOption
			if !all {
				opts = append(opts, client.InNamespace(k.namespace()))
			}
			return printStatus(ctxOf(cmd), c, s, opts...)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "Directories of every namespace")
	return cmd
}

func printStatus(ctx context.Context, c client.Client, s Streams, opts ...client.ListOption) error {
	var dirs v1alpha1.DirectoryList
	if err := c.List(ctx, &dirs, opts...); err != nil {
		return err
	}
	if len(dirs.Items) == 0 {
		fmt.Fprintln(s.Err, "No Directories found.")
		return nil
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREADY\tREASON\tWINDOW\tREQUESTS\tRU\tWRITES\t429s\tBUDGET RU/10s\tBUDGET WRITES/150s\tDELETIONS/h\tMESSAGE")
	for i := range dirs.Items {
		d := &dirs.Items[i]
		ready, reason, msg := "Unknown", "-", "-"
		if cond := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady); cond != nil {
			ready, reason, msg = string(cond.Status), cond.Reason, cond.Message
		}
		window, req, ru, w, thr := "-", "-", "-", "-", "-"
		if t := d.Status.Throttling; t != nil {
			window = fmt.Sprintf("%ds", t.WindowSeconds)
			req, ru, w, thr = fmt.Sprint(t.Requests), fmt.Sprint(t.ResourceUnits), fmt.Sprint(t.Writes), fmt.Sprint(t.Throttled)
		}
		b := budget(d.Spec.Throttle)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d/%d\t%s\n", d.Namespace, d.Name, ready, reason,
			window, req, ru, w, thr, b.ResourceUnitsPer10s, b.WritesPer150s, deletionsLastHour(d), connection.MaxDeletionsPerHour(d), msg)
	}
	return tw.Flush()
}

// budget is the quota a Directory's throttle spec declares (the operator
// plans to spend connection.RefillShare of its refill rate).
func budget(t v1alpha1.ThrottleSpec) graph.BudgetConfig {
	size := string(t.TenantSize)
	if size == "" {
		size = string(v1alpha1.TenantSizeL)
	}
	b := graph.BudgetForTenantSize(size)
	if t.ResourceUnitsPer10s != nil {
		b.ResourceUnitsPer10s = int(*t.ResourceUnitsPer10s)
	}
	if t.WritesPer150s != nil {
		b.WritesPer150s = int(*t.WritesPer150s)
	}
	return b
}

func deletionsLastHour(d *v1alpha1.Directory) int {
	n := 0
	for _, b := range d.Status.DeletionWindow {
		n += int(b.Count)
	}
	return n
}
