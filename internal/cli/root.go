// Package cli is the kubectl-entra plugin: `kubectl entra plan` shows what
// a change to the manifests would do in Entra ID, and rows, export, undo
// and status answer the day-to-day questions about batches, exports and
// Directories. cmd/kubectl-entra only calls Main.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/plan"
)

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// exitError carries an exit code other than 1 (plan's 2 = changes).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs the plugin with args (without the program name) and returns
// the process exit code.
func Main(args []string, s Streams) int {
	cmd := NewRootCommand(s)
	cmd.SetArgs(args)
	err := cmd.Execute()
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	fmt.Fprintln(s.Err, "error:", err)
	return plan.ExitError
}

// kube holds the kubeconfig flags, as kubectl names them.
type kube struct {
	loading   *clientcmd.ClientConfigLoadingRules
	overrides *clientcmd.ConfigOverrides
	scheme    *runtime.Scheme
}

func (k *kube) config() clientcmd.ClientConfig {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(k.loading, k.overrides)
}

// namespace is -n, else the kubeconfig context's, else "default".
func (k *kube) namespace() string {
	ns, _, err := k.config().Namespace()
	if err != nil || ns == "" {
		return "default"
	}
	return ns
}

// client is a direct (uncached) client with the user's own permissions.
func (k *kube) client() (client.Client, error) {
	rc, err := k.config().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 50, 100
	return client.New(rc, client.Options{Scheme: k.scheme})
}

// NewRootCommand builds `kubectl entra` and its subcommands.
func NewRootCommand(s Streams) *cobra.Command {
	k := &kube{loading: clientcmd.NewDefaultClientConfigLoadingRules(), overrides: &clientcmd.ConfigOverrides{}, scheme: runtime.NewScheme()}
	_ = clientgoscheme.AddToScheme(k.scheme)
	_ = v1alpha1.AddToScheme(k.scheme)
	root := &cobra.Command{
		Use:   "kubectl-entra",
		Short: "Plan, inspect and undo directory-operator changes to Microsoft Entra ID",
		Long: `kubectl entra works with the directory-operator's kinds (Directory, DirectoryUser,
UserDisableBatch, GroupSync).

  plan    what applying a folder of manifests would do in Entra ID (read-only Graph calls)
  rows    a UserDisableBatch's per-user rows as a table
  export  a batch's audit CSV or a GroupSync's members CSV, whatever its storage
  undo    create the UserEnableBatch that re-enables a batch's users
  status  Directories: Ready reason, throttling window, budget`,
		// Help and usage read "kubectl entra", as kubectl runs it.
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl entra"},
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: false,
		},
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	fs := root.PersistentFlags()
	fs.StringVar(&k.loading.ExplicitPath, "kubeconfig", "", "path to the kubeconfig file")
	clientcmd.BindOverrideFlags(k.overrides, fs, clientcmd.RecommendedConfigOverrideFlags(""))
	root.AddCommand(newPlanCommand(k, s), newRowsCommand(k, s), newExportCommand(k, s), newUndoCommand(k, s), newStatusCommand(k, s))
	return root
}
