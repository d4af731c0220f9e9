package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

func newRowsCommand(k *kube, s Streams) *cobra.Command {
	var outcomes []string
	var output string
	cmd := &cobra.Command{
		Use:   "rows BATCH [--outcome Disabled,Failed] [-o text|json]",
		Short: "Print a UserDisableBatch's per-user rows as a table",
		Long: `rows prints one line per user of a UserDisableBatch: user, object ID, outcome, account state
before and now (spelled out where the row leaves it implied by its outcome), job title and
message. --outcome keeps only rows with those outcomes (Pending, Disabled, AlreadyDisabled,
NotFound, Protected, Managed, Failed, Queried).`,
		Example: `  kubectl entra rows leavers-2026-12
  kubectl entra rows leavers-2026-12 --outcome Failed,Managed`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(k, &v1alpha1.UserDisableBatchList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			b := &v1alpha1.UserDisableBatch{}
			if err := c.Get(ctxOf(cmd), client.ObjectKey{Namespace: k.namespace(), Name: args[0]}, b); err != nil {
				return err
			}
			rows, err := filterRows(b.Status.Users, outcomes)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			return printRows(s, rows)
		},
	}
	cmd.Flags().StringSliceVar(&outcomes, "outcome", nil, "only rows with these outcomes (comma-separated)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text|json")
	_ = cmd.RegisterFlagCompletionFunc("outcome", cobra.FixedCompletions(outcomeNames(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func outcomeNames() []string {
	return []string{string(v1alpha1.OutcomePending), string(v1alpha1.OutcomeDisabled), string(v1alpha1.OutcomeAlreadyDisabled),
		string(v1alpha1.OutcomeNotFound), string(v1alpha1.OutcomeProtected), string(v1alpha1.OutcomeManaged),
		string(v1alpha1.OutcomeFailed), string(v1alpha1.OutcomeQueried)}
}

func filterRows(rows []v1alpha1.BatchUserResult, outcomes []string) ([]v1alpha1.BatchUserResult, error) {
	if len(outcomes) == 0 {
		return rows, nil
	}
	want := map[string]bool{}
	for _, o := range outcomes {
		found := false
		for _, n := range outcomeNames() {
			if strings.EqualFold(o, n) {
				want[n], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown outcome %q (one of %s)", o, strings.Join(outcomeNames(), ", "))
		}
	}
	var out []v1alpha1.BatchUserResult
	for _, r := range rows {
		if want[string(r.Outcome)] {
			out = append(out, r)
		}
	}
	return out, nil
}

func printRows(s Streams, rows []v1alpha1.BatchUserResult) error {
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tID\tOUTCOME\tENABLED BEFORE\tENABLED NOW\tJOB TITLE\tMESSAGE")
	for _, r := range rows {
		before, now := rowStates(r)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.User, dash(r.ID), r.Outcome, before, now, dash(r.JobTitle), dash(r.Message))
	}
	return tw.Flush()
}

// rowStates spells out the states a row leaves implied by its outcome.
func rowStates(r v1alpha1.BatchUserResult) (before, now string) {
	before, now = boolText(r.AccountEnabledBefore), boolText(r.AccountEnabled)
	switch r.Outcome {
	case v1alpha1.OutcomeDisabled:
		before, now = "true", "false"
	case v1alpha1.OutcomeAlreadyDisabled:
		before, now = "false", "false"
	}
	return before, now
}

func boolText(b *bool) string {
	if b == nil {
		return "-"
	}
	return fmt.Sprint(*b)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// completeNames completes object names of one kind in the namespace.
func completeNames(k *kube, list client.ObjectList) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := k.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctxOf(cmd), l, client.InNamespace(k.namespace())); err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []string
		_ = forEachName(l, func(n string) {
			if strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
		})
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
