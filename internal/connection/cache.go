package connection

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// CacheOptions is what the manager caches and watches. Secrets and
// ConfigMaps are limited by label, so the manager never lists, watches or
// holds in memory the Secrets and ConfigMaps of the cluster that are not
// meant for it:
//   - Secrets labelled entra.directory-operator.io/credential=true (the
//     credentials Directories reference and the password Secrets the
//     operator creates);
//   - ConfigMaps labelled entra.directory-operator.io/export (the exports
//     the operator writes).
//
// namespaces (the --watch-namespaces flag) limits every kind to those
// namespaces, which is what lets the manager run with Roles in those
// namespaces only; shard (the --label-selector flag) limits the operator's
// own kinds.
func CacheOptions(namespaces []string, shard labels.Selector) cache.Options {
	opts := cache.Options{
		// managedFields are the API server's server-side-apply bookkeeping,
		// read by nothing here, and a large part of each cached object: at
		// 10,000 DirectoryUsers they are tens of MiB. Writes are unaffected
		// (an update without them keeps the server's).
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{
				v1alpha1.LabelCredential: v1alpha1.LabelCredentialValue,
			})},
			&corev1.ConfigMap{}: {Label: exportSelector()},
		}}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	if shard != nil && !shard.Empty() {
		// The shard selector applies to the operator's own kinds only:
		// Secrets and ConfigMaps they reference need not carry the shard
		// label.
		for _, o := range []client.Object{&v1alpha1.Directory{}, &v1alpha1.ClusterDirectory{}, &v1alpha1.DirectoryUser{}, &v1alpha1.UserDisableBatch{}, &v1alpha1.UserEnableBatch{}, &v1alpha1.GroupSync{}} {
			opts.ByObject[o] = cache.ByObject{Label: shard}
		}
	}
	return opts
}

func exportSelector() labels.Selector {
	req, err := labels.NewRequirement(v1alpha1.LabelExport, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key: cannot fail
	}
	return labels.NewSelector().Add(*req)
}
