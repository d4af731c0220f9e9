// Package connection turns a Directory reference into a ready Graph client,
// its safety rails and its deletion allowance. Every controller goes through
// it, so credentials are read in exactly one place and never leave it.
package connection

import (
	"context"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Resolver builds Graph clients for Directories. One per manager.
type Resolver struct {
	Kube     client.Reader
	Registry *graph.Registry
	// TimeScale compresses the client-side throttle budget's windows; it must
	// match a time-compressed emulator (tests, benchmarks). 0 or 1 = real time.
	TimeScale float64
	// Deletions enforces Directory.spec.safety.maxDeletionsPerHour.
	Deletions *DeletionLimiter
	// AllowedCustomHosts are the hosts a Custom cloud may name (the
	// --allowed-custom-hosts flag); nil: DefaultAllowedCustomHosts.
	AllowedCustomHosts *HostAllowList
	// Live reads Secret metadata around the cache, which holds only
	// Secrets labelled for the operator, to tell an unlabelled Secret from
	// a missing one. Nil: the message covers both.
	Live client.Reader
	// NoClusterDirectories refuses references to ClusterDirectories (the
	// manager watches some namespaces only and may not read cluster-scoped
	// objects).
	NoClusterDirectories bool
	// Shards, when set, splits each Graph quota with the other shards
	// (internal/shard): a budget joins before its first call.
	Shards BudgetSharer
}

// BudgetSharer gives a budget its part of a quota several processes spend.
type BudgetSharer interface {
	Join(ctx context.Context, b *graph.Budget) error
}

// Config reads a Directory's Secrets and returns the Graph client config.
// Errors never carry Secret contents.
func (r *Resolver) Config(ctx context.Context, dir *v1alpha1.Directory) (graph.Config, error) {
	spec, secretNS := dir.Spec, SecretNamespace(dir)
	cfg := graph.Config{TenantID: spec.TenantID, ClientID: spec.ClientID}
	switch spec.Cloud.Name {
	case v1alpha1.CloudCustom:
		if err := r.checkCustomEndpoints(spec.Cloud); err != nil {
			return cfg, err
		}
		cfg.AuthorityHost, cfg.GraphEndpoint = spec.Cloud.AuthorityHost, strings.TrimSuffix(spec.Cloud.GraphEndpoint, "/")
	case "":
		cfg.AuthorityHost, cfg.GraphEndpoint = graph.CloudEndpoints(string(v1alpha1.CloudAzurePublic))
	default:
		cfg.AuthorityHost, cfg.GraphEndpoint = graph.CloudEndpoints(string(spec.Cloud.Name))
	}
	if ref := spec.Cloud.CABundle; ref != nil {
		b, err := r.secretKey(ctx, secretNS, ref.Name, ref.Key)
		if err != nil {
			return cfg, err
		}
		cfg.CABundlePEM = b
	}
	cred := spec.Credential
	switch {
	case cred.ClientSecret != nil:
		b, err := r.secretKey(ctx, secretNS, cred.ClientSecret.Name, cred.ClientSecret.Key)
		if err != nil {
			return cfg, err
		}
		cfg.ClientSecret = strings.TrimSpace(string(b))
	case cred.ClientCertificate != nil:
		cc := cred.ClientCertificate
		certKey, keyKey := defaultString(cc.CertificateKey, "tls.crt"), defaultString(cc.PrivateKeyKey, "tls.key")
		crt, err := r.secretKey(ctx, secretNS, cc.SecretName, certKey)
		if err != nil {
			return cfg, err
		}
		key, err := r.secretKey(ctx, secretNS, cc.SecretName, keyKey)
		if err != nil {
			return cfg, err
		}
		cfg.CertificatePEM, cfg.PrivateKeyPEM = crt, key
	case cred.WorkloadIdentity != nil:
		cfg.FederatedTokenFile = defaultString(cred.WorkloadIdentity.TokenFile, "/var/run/secrets/azure/tokens/azure-identity-token")
	default:
		return cfg, ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec, "credential must set one of clientSecret, clientCertificate or workloadIdentity")
	}
	cfg.Budget, cfg.AppBudget = budgetFor(spec.Throttle), appBudgetFor(spec.Throttle)
	if r.TimeScale > 0 {
		cfg.Budget.TimeScale, cfg.AppBudget.TimeScale = r.TimeScale, r.TimeScale
	}
	return cfg, nil
}

// RefillShare is the share of the declared quota's refill rate the
// operator plans to spend. Graph's buckets and ours start full and refill
// at the same rate, and our requests reach Graph after we reserved them,
// so in theory Graph always holds at least the tokens we think it does.
// In practice the two clocks and models never agree exactly (rounding,
// RU estimates corrected only after the answer, Graph's own sampling), and
// a budget refilling at exactly 100 % meets Graph's empty bucket now and
// then. Refilling 1 % slower makes our model fall behind Graph's by 1 % of
// the quota per window, which absorbs that; the full capacity keeps the
// burst a fresh bucket allows.
const RefillShare = 0.99

func budgetFor(t v1alpha1.ThrottleSpec) graph.BudgetConfig {
	b := graph.BudgetForTenantSize(defaultString(string(t.TenantSize), string(v1alpha1.TenantSizeL)))
	if t.ResourceUnitsPer10s != nil {
		b.ResourceUnitsPer10s = int(*t.ResourceUnitsPer10s)
	}
	if t.WritesPer150s != nil {
		b.WritesPer150s = int(*t.WritesPer150s)
	}
	b.RefillShare = RefillShare
	return b
}

// appBudgetFor is the app-wide budget a Directory asks for: Graph's
// published limits unless overridden.
func appBudgetFor(t v1alpha1.ThrottleSpec) graph.BudgetConfig {
	b := graph.AppWideBudget()
	if t.AppResourceUnitsPer20s != nil {
		b.ResourceUnitsPer10s = int(*t.AppResourceUnitsPer20s)
	}
	if t.AppWritesPer5m != nil {
		b.WritesPer150s = int(*t.AppWritesPer5m)
	}
	b.RefillShare = RefillShare
	return b
}

// client returns the cached Graph client for a Directory, rebuilt when its
// spec or Secrets changed. Controllers get it through a Port, as the narrow
// interface they define.
func (r *Resolver) client(ctx context.Context, dir *v1alpha1.Directory) (*graph.Client, error) {
	cfg, err := r.Config(ctx, dir)
	if err != nil {
		return nil, err
	}
	c, err := r.Registry.Client(Key(dir), cfg)
	if err != nil {
		return nil, ctrlkit.Stalled(v1alpha1.ReasonInvalidCredentials, "building Graph client: %v", err)
	}
	if r.Shards != nil {
		if err := r.Shards.Join(ctx, c.Budget()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// connect resolves the Directory a dependent resource references. It waits
// (requeues) while the Directory is missing or not yet usable, so dependents
// never hammer Graph with a connection known to be broken.
func (r *Resolver) connect(ctx context.Context, namespace, name string) (*Connection[*graph.Client], error) {
	dir := &v1alpha1.Directory{}
	if err := r.Kube.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, dir); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, ctrlkit.Waiting(30*time.Second, v1alpha1.ReasonDirectoryNotFound, "Directory %q not found", name)
		}
		return nil, err
	}
	return r.connectDirectory(ctx, dir, "Directory")
}

// connectDirectory connects to a Directory (or a ClusterDirectory's view)
// that is usable (see Usable). A Directory being deleted stays usable while
// it waits for its dependents (deletion protection).
func (r *Resolver) connectDirectory(ctx context.Context, dir *v1alpha1.Directory, kind string) (*Connection[*graph.Client], error) {
	name := dir.Name
	if !Usable(dir) {
		msg := "not checked yet"
		if ready := meta.FindStatusCondition(dir.Status.Conditions, v1alpha1.ConditionReady); ready != nil {
			msg = ready.Reason + ": " + ready.Message
		}
		return nil, ctrlkit.Waiting(30*time.Second, v1alpha1.ReasonDirectoryNotReady, "%s %q is not ready (%s)", kind, name, msg)
	}
	gc, err := r.client(ctx, dir)
	if err != nil {
		return nil, err
	}
	return &Connection[*graph.Client]{Directory: dir, Graph: gc, Safety: NewSafety(dir.Spec.Safety)}, nil
}

// Key identifies a Directory in the client registry and the deletion limiter.
func Key(dir *v1alpha1.Directory) string { return dir.Namespace + "/" + dir.Name }

func (r *Resolver) secretKey(ctx context.Context, namespace, name, key string) ([]byte, error) {
	s, err := CredentialSecret(ctx, r.Kube, r.Live, namespace, name)
	if err != nil {
		return nil, err
	}
	v, ok := s.Data[key]
	if !ok || len(v) == 0 {
		return nil, ctrlkit.Stalled(v1alpha1.ReasonSecretNotFound, "Secret %q has no key %q", name, key)
	}
	return v, nil
}

func defaultString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
