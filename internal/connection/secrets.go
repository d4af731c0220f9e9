package connection

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// CredentialSecret reads a Secret a resource references, refusing any not
// labelled entra.directory-operator.io/credential=true: a reference in a
// spec alone must not make the operator read (and send to Graph, or set as
// a user's password) a Secret its owner never meant for it.
//
// kube is normally the manager's client, whose cache holds only labelled
// Secrets, so an unlabelled one is not found there; live (optional) then
// reads its metadata, never its data, to say which of the two it is.
// Errors name the Secret and never carry its contents.
func CredentialSecret(ctx context.Context, kube, live client.Reader, namespace, name string) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	s := &corev1.Secret{}
	err := kube.Get(ctx, key, s)
	switch {
	case err == nil:
		if !IsCredential(s) {
			return nil, notLabelled(namespace, name)
		}
		return s, nil
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading Secret %q: %w", name, err)
	case live == nil:
		return nil, ctrlkit.Stalled(v1alpha1.ReasonSecretNotFound,
			"Secret %q not found among the Secrets labelled %s=%s (the only ones the operator reads): create it, or label it: %s",
			name, v1alpha1.LabelCredential, v1alpha1.LabelCredentialValue, labelCommand(namespace, name))
	}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := live.Get(ctx, key, meta); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, ctrlkit.Stalled(v1alpha1.ReasonSecretNotFound,
				"Secret %q not found: create it with label %s=%s", name, v1alpha1.LabelCredential, v1alpha1.LabelCredentialValue)
		}
		return nil, fmt.Errorf("reading Secret %q: %w", name, err)
	}
	if meta.Labels[v1alpha1.LabelCredential] == v1alpha1.LabelCredentialValue {
		// Labelled a moment ago: the cache has not seen it yet.
		return nil, fmt.Errorf("Secret %q is labelled but not in the cache yet", name)
	}
	return nil, notLabelled(namespace, name)
}

// IsCredential says whether a Secret is labelled for the operator's use.
func IsCredential(s client.Object) bool {
	return s.GetLabels()[v1alpha1.LabelCredential] == v1alpha1.LabelCredentialValue
}

func notLabelled(namespace, name string) error {
	return ctrlkit.Stalled(v1alpha1.ReasonSecretNotLabelled,
		"Secret %q is not labelled %s=%s, so the operator does not read it; if it is meant for directory-operator, label it: %s",
		name, v1alpha1.LabelCredential, v1alpha1.LabelCredentialValue, labelCommand(namespace, name))
}

func labelCommand(namespace, name string) string {
	return fmt.Sprintf("kubectl label secret %s -n %s %s=%s", name, namespace, v1alpha1.LabelCredential, v1alpha1.LabelCredentialValue)
}
