package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/plan"
)

// clusterConnector builds each Directory's Graph client as the manager
// does (connection.Resolver: endpoint allow-list, labelled credential
// Secrets only, the Directory's throttle budget), reading the Secret with
// the kubeconfig user's own permissions.
func clusterConnector(c client.Client, hosts *connection.HostAllowList) plan.Connector {
	res := &connection.Resolver{Kube: c, Live: c, Registry: graph.NewRegistry(), AllowedCustomHosts: hosts}
	return func(ctx context.Context, dir *v1alpha1.Directory) (plan.Graph, error) {
		return connection.Port[plan.Graph](res).Dial(ctx, dir)
	}
}

// ciSecret is the name of the in-memory Secret an environment credential
// is presented as, so connection.Resolver reads it like any other.
const ciSecret = "kubectl-entra-environment"

// envConnector builds Graph clients without a cluster: the Directory's
// endpoints, budget and safety rails from the manifests, the credential
// from the environment (the names azidentity's EnvironmentCredential uses).
func envConnector(hosts *connection.HostAllowList, caFile string) plan.Connector {
	return func(ctx context.Context, dir *v1alpha1.Directory) (plan.Graph, error) {
		d := dir.DeepCopy()
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: ciSecret,
			Labels: map[string]string{v1alpha1.LabelCredential: v1alpha1.LabelCredentialValue}}, Data: map[string][]byte{}}
		if v := os.Getenv("AZURE_TENANT_ID"); v != "" {
			d.Spec.TenantID = v
		}
		if v := os.Getenv("AZURE_CLIENT_ID"); v != "" {
			d.Spec.ClientID = v
		}
		cred := v1alpha1.DirectoryCredential{}
		switch {
		case os.Getenv("AZURE_CLIENT_SECRET") != "":
			secret.Data["clientSecret"] = []byte(os.Getenv("AZURE_CLIENT_SECRET"))
			cred.ClientSecret = &v1alpha1.SecretKeySelector{Name: ciSecret, Key: "clientSecret"}
		case os.Getenv("AZURE_FEDERATED_TOKEN_FILE") != "":
			cred.WorkloadIdentity = &v1alpha1.WorkloadIdentityCredential{TokenFile: os.Getenv("AZURE_FEDERATED_TOKEN_FILE")}
		case os.Getenv("AZURE_CLIENT_CERTIFICATE_PATH") != "":
			pem, err := os.ReadFile(os.Getenv("AZURE_CLIENT_CERTIFICATE_PATH"))
			if err != nil {
				return nil, fmt.Errorf("AZURE_CLIENT_CERTIFICATE_PATH: %w", err)
			}
			// One PEM file holds both; azidentity takes each block it needs.
			secret.Data["tls.crt"], secret.Data["tls.key"] = pem, pem
			cred.ClientCertificate = &v1alpha1.ClientCertificateCredential{SecretName: ciSecret, CertificateKey: "tls.crt", PrivateKeyKey: "tls.key"}
		default:
			return nil, errors.New("--no-cluster needs a credential in the environment: AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_CERTIFICATE_PATH")
		}
		d.Spec.Credential = cred
		d.Spec.Cloud.CABundle = nil
		if caFile != "" {
			ca, err := os.ReadFile(caFile)
			if err != nil {
				return nil, fmt.Errorf("--ca-file: %w", err)
			}
			secret.Data["ca.crt"] = ca
			d.Spec.Cloud.CABundle = &v1alpha1.SecretKeySelector{Name: ciSecret, Key: "ca.crt"}
		}
		res := &connection.Resolver{Kube: &secretReader{secret}, Registry: graph.NewRegistry(), AllowedCustomHosts: hosts}
		return connection.Port[plan.Graph](res).Dial(ctx, d)
	}
}

// secretReader serves one Secret to connection.Resolver.
type secretReader struct{ s *corev1.Secret }

func (r *secretReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	out, ok := obj.(*corev1.Secret)
	if !ok || key.Name != r.s.Name || key.Namespace != r.s.Namespace {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, key.Name)
	}
	r.s.DeepCopyInto(out)
	return nil
}

func (r *secretReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not supported")
}

// isNoKind: the cluster does not serve the kind (its CRD is not installed).
func isNoKind(err error) bool {
	return meta.IsNoMatchError(err) || apierrors.IsNotFound(err)
}
