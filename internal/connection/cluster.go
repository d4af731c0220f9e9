package connection

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// A ClusterDirectory travels through the resolver as a Directory with no
// namespace (so its registry key, "/name", never collides with a
// Directory's "namespace/name"), its spec, its status, and its credential
// namespace in an annotation only the resolver reads. It is never written
// as a Directory: status goes back to the ClusterDirectory.
const annotationCredentialNamespace = "entra.directory-operator.io/credential-namespace"

// namespaceRecheck is how often a resource refused by a ClusterDirectory's
// allowedNamespaces looks again.
const namespaceRecheck = time.Minute

// AsDirectory is the Directory view of a ClusterDirectory.
func AsDirectory(cd *v1alpha1.ClusterDirectory) *v1alpha1.Directory {
	d := &v1alpha1.Directory{
		ObjectMeta: metav1.ObjectMeta{
			Name: cd.Name, UID: cd.UID, Generation: cd.Generation,
			Annotations: map[string]string{annotationCredentialNamespace: cd.Spec.CredentialNamespace},
		},
		Spec:   *cd.Spec.DirectorySpec.DeepCopy(),
		Status: *cd.Status.DeepCopy(),
	}
	d.Spec.Exports = v1alpha1.DirectoryExports{}
	return d
}

// IsCluster says whether dir is the Directory view of a ClusterDirectory.
func IsCluster(dir *v1alpha1.Directory) bool { return dir.Namespace == "" }

// SecretNamespace is where a Directory's (or ClusterDirectory's) Secrets are.
func SecretNamespace(dir *v1alpha1.Directory) string {
	if IsCluster(dir) {
		return dir.Annotations[annotationCredentialNamespace]
	}
	return dir.Namespace
}

// connectRef resolves the Directory or ClusterDirectory a dependent in
// namespace references. A ClusterDirectory that does not admit the
// namespace is refused (Stalled, NamespaceNotAllowed) before any Secret is
// read or token requested.
func (r *Resolver) connectRef(ctx context.Context, namespace string, ref v1alpha1.DirectoryReference) (*Connection[*graph.Client], error) {
	if !ref.IsCluster() {
		return r.connect(ctx, namespace, ref.Name)
	}
	if r.NoClusterDirectories {
		return nil, ctrlkit.Stalled(v1alpha1.ReasonNamespaceNotAllowed,
			"ClusterDirectory %q cannot be used: the operator watches only some namespaces (--watch-namespaces) and reads no cluster-scoped objects; use a Directory", ref.Name)
	}
	cd := &v1alpha1.ClusterDirectory{}
	if err := r.Kube.Get(ctx, types.NamespacedName{Name: ref.Name}, cd); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, ctrlkit.Waiting(30*time.Second, v1alpha1.ReasonDirectoryNotFound, "ClusterDirectory %q not found", ref.Name)
		}
		return nil, err
	}
	if err := r.checkNamespaceAllowed(ctx, cd, namespace); err != nil {
		return nil, err
	}
	return r.connectDirectory(ctx, AsDirectory(cd), "ClusterDirectory")
}

// checkNamespaceAllowed applies a ClusterDirectory's allowedNamespaces.
func (r *Resolver) checkNamespaceAllowed(ctx context.Context, cd *v1alpha1.ClusterDirectory, namespace string) error {
	ok, err := NamespaceAllowed(ctx, r.Kube, cd.Spec.AllowedNamespaces, namespace)
	if err != nil || ok {
		return err
	}
	st := ctrlkit.Stalled(v1alpha1.ReasonNamespaceNotAllowed,
		"ClusterDirectory %q does not allow namespace %q (allowedNamespaces: %s); ask its owner to add the namespace",
		cd.Name, namespace, describeAllowed(cd.Spec.AllowedNamespaces))
	// No watch connects a ClusterDirectory's edit to its would-be users:
	// look again now and then.
	st.RetryAfter = namespaceRecheck
	return st
}

// NamespaceAllowed says whether a admits namespace, by name or by the
// namespace's labels. A namespace that does not exist is not admitted.
func NamespaceAllowed(ctx context.Context, c client.Reader, a v1alpha1.AllowedNamespaces, namespace string) (bool, error) {
	if slices.Contains(a.Names, namespace) {
		return true, nil
	}
	if a.Selector == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(a.Selector)
	if err != nil {
		return false, ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec, "allowedNamespaces.selector: %v", err)
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return sel.Matches(labels.Set(ns.Labels)), nil
}

func describeAllowed(a v1alpha1.AllowedNamespaces) string {
	var parts []string
	if len(a.Names) > 0 {
		parts = append(parts, "names "+strings.Join(a.Names, ", "))
	}
	if a.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(a.Selector)
		if err == nil {
			parts = append(parts, fmt.Sprintf("selector %q", sel.String()))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// persist writes a deletion window to the status of the Directory, or of
// the ClusterDirectory whose view dir is.
func (l *DeletionLimiter) persist(ctx context.Context, dir *v1alpha1.Directory, kept []v1alpha1.DeletionBucket) error {
	if !IsCluster(dir) {
		base := dir.DeepCopy()
		saved := base.DeepCopy()
		saved.Status.DeletionWindow = kept
		return l.Client.Status().Patch(ctx, saved, client.MergeFrom(base))
	}
	base := &v1alpha1.ClusterDirectory{ObjectMeta: metav1.ObjectMeta{Name: dir.Name}}
	base.Status.DeletionWindow = dir.Status.DeletionWindow
	saved := base.DeepCopy()
	saved.Status.DeletionWindow = kept
	return l.Client.Status().Patch(ctx, saved, client.MergeFrom(base))
}
