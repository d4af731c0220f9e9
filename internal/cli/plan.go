package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/plan"
)

type planOptions struct {
	files        []string
	recursive    bool
	output       string
	prune        bool
	selector     string
	noCluster    bool
	allowedHosts string
	caFile       string
	timeout      time.Duration
}

func newPlanCommand(k *kube, s Streams) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan -f DIR|FILE [-R] [-o text|json|markdown]",
		Short: "Show what applying manifests would do in Entra ID",
		Long: `plan reads the manifests (DirectoryUser, UserDisableBatch, UserEnableBatch, GroupSync,
Directory), compares them with what the cluster holds and with live Microsoft Graph, and
prints per object: create / update (field: old → new) / adopt / delete, disable or orphan
(per deletionPolicy, for objects the cluster holds and the manifests no longer do) /
no-op, and for each new UserDisableBatch the outcome every user would get.

It only reads Graph: $batch GETs of 20 users with $select of the compared fields, so N
users cost about N/20 requests. Safety rails (protected users, allowed domains) and the
DirectoryUser update diff are the operator's own code.

Each Directory's credential comes from the cluster (its Secret, read with your
kubeconfig's permissions). With --no-cluster (CI without cluster access) every Directory
must be in the manifests and the credential comes from the environment:
AZURE_CLIENT_SECRET, or AZURE_FEDERATED_TOKEN_FILE (workload identity federation, e.g.
GitHub Actions OIDC), or AZURE_CLIENT_CERTIFICATE_PATH (PEM certificate and key);
AZURE_CLIENT_ID and AZURE_TENANT_ID, when set, replace the Directory's (a read-only app).

Exit status: 0 no changes, 2 changes, 1 error.`,
		Example: `  kubectl entra plan -f users/ -R
  kubectl entra plan -f users/ -R -o markdown > plan.md
  AZURE_CLIENT_SECRET=... kubectl entra plan -f users/ --no-cluster`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := runPlan(cmd.Context(), k, o, s)
			if err != nil {
				return err
			}
			if err := p.Render(s.Out, o.output); err != nil {
				return err
			}
			if code := p.ExitCode(); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil, "manifest files or directories (\"-\" for stdin)")
	f.BoolVarP(&o.recursive, "recursive", "R", false, "read directories recursively")
	f.StringVarP(&o.output, "output", "o", plan.FormatText, "output format: "+strings.Join(plan.Formats, "|"))
	f.BoolVar(&o.prune, "prune", true, "report cluster objects the manifests no longer hold as removed (delete, disable or orphan per deletionPolicy), for the kinds the manifests hold in each namespace, as apply --prune and GitOps tools delete them")
	f.StringVarP(&o.selector, "selector", "l", "", "only cluster objects matching this label selector can be removed (the prune scope)")
	f.BoolVar(&o.noCluster, "no-cluster", false, "do not contact the cluster: Directories from the manifests, credential from the environment")
	f.StringVar(&o.allowedHosts, "allowed-custom-hosts", strings.Join(connection.DefaultAllowedCustomHosts, ","),
		"hosts a Directory with cloud Custom may send the credential to (as the manager's flag)")
	f.StringVar(&o.caFile, "ca-file", os.Getenv("ENTRA_CA_FILE"), "with --no-cluster: extra PEM CA certificates for a Custom cloud (default $ENTRA_CA_FILE)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(plan.Formats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runPlan(ctx context.Context, k *kube, o *planOptions, s Streams) (*plan.Plan, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	switch o.output {
	case plan.FormatText, plan.FormatJSON, plan.FormatMarkdown:
	default:
		return nil, fmt.Errorf("unknown output format %q (one of %s)", o.output, strings.Join(plan.Formats, ", "))
	}
	hosts, err := connection.ParseHostAllowList(o.allowedHosts)
	if err != nil {
		return nil, fmt.Errorf("--allowed-custom-hosts: %w", err)
	}
	desired, err := plan.ReadManifests(o.files, o.recursive, k.namespace(), s.In)
	if err != nil {
		return nil, err
	}
	in := plan.Input{Desired: desired, Prune: o.prune}
	if o.noCluster {
		in.Connect = envConnector(hosts, o.caFile)
		return plan.Compute(ctx, in)
	}
	c, err := k.client()
	if err != nil {
		return nil, err
	}
	if in.Live, err = snapshot(ctx, c, desired, o.selector); err != nil {
		return nil, err
	}
	in.Connect = clusterConnector(c, hosts)
	return plan.Compute(ctx, in)
}

// snapshot lists the operator's objects in the manifests' namespaces and
// the Directories they reference. Objects not matching selector are left
// out of the prune scope, not out of the comparison.
func snapshot(ctx context.Context, c client.Client, desired *plan.Objects, selector string) (*plan.Objects, error) {
	sel := labels.Everything()
	if selector != "" {
		var err error
		if sel, err = labels.Parse(selector); err != nil {
			return nil, fmt.Errorf("--selector: %w", err)
		}
	}
	live := &plan.Objects{}
	inManifests := desired.Keys()
	for _, ns := range desired.Namespaces() {
		var dirs v1alpha1.DirectoryList
		var users v1alpha1.DirectoryUserList
		var batches v1alpha1.UserDisableBatchList
		var syncs v1alpha1.GroupSyncList
		for _, l := range []client.ObjectList{&dirs, &users, &batches, &syncs} {
			if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
				return nil, fmt.Errorf("listing %T in namespace %s: %w", l, ns, err)
			}
		}
		keep := func(o client.Object, kind string) bool {
			return sel.Matches(labels.Set(o.GetLabels())) || inManifests[plan.Key(kind, o.GetNamespace(), o.GetName())]
		}
		for i := range dirs.Items {
			if keep(&dirs.Items[i], plan.KindDirectory) {
				live.Directories = append(live.Directories, dirs.Items[i])
			}
		}
		for i := range users.Items {
			if keep(&users.Items[i], plan.KindDirectoryUser) {
				live.Users = append(live.Users, users.Items[i])
			}
		}
		for i := range batches.Items {
			if keep(&batches.Items[i], plan.KindUserDisableBatch) {
				live.Batches = append(live.Batches, batches.Items[i])
			}
		}
		for i := range syncs.Items {
			if keep(&syncs.Items[i], plan.KindGroupSync) {
				live.GroupSyncs = append(live.GroupSyncs, syncs.Items[i])
			}
		}
		enables, err := listEnableBatches(ctx, c, ns)
		if err != nil {
			return nil, err
		}
		for i := range enables {
			if keep(&enables[i], plan.KindUserEnableBatch) {
				live.EnableBatches = append(live.EnableBatches, enables[i])
			}
		}
	}
	return live, nil
}

// listEnableBatches lists UserEnableBatches, or none where the cluster
// does not serve that kind yet.
func listEnableBatches(ctx context.Context, c client.Client, ns string) ([]unstructured.Unstructured, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(plan.KindUserEnableBatch + "List"))
	if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
		if isNoKind(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing UserEnableBatches in namespace %s: %w", ns, err)
	}
	return l.Items, nil
}
