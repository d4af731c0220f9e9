package connection

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Ports, after crossplane-runtime's ExternalConnecter: each controller
// defines the narrow Graph interface it uses (G) where it uses it, and holds
// a Connector[G] (or a Dialer[G]) instead of the Resolver. Production wires
// Port[G](resolver); unit tests wire a ConnectorFunc returning a fake G.

// Connection is a resolved, usable Directory and its Graph port.
type Connection[G any] struct {
	Directory *v1alpha1.Directory
	Graph     G
	Safety    Safety
}

// Connector resolves the Directory a dependent resource references. It
// returns a ctrlkit.Waiting error while the Directory is missing or not
// usable, and a ctrlkit.Stalled error for a broken credential or spec.
// The reference is the dependent's directoryRef: a Directory in namespace,
// or a ClusterDirectory that must admit namespace.
type Connector[G any] interface {
	Connect(ctx context.Context, namespace string, ref v1alpha1.DirectoryReference) (*Connection[G], error)
}

// ConnectorFunc adapts a function to a Connector (tests).
type ConnectorFunc[G any] func(ctx context.Context, namespace string, ref v1alpha1.DirectoryReference) (*Connection[G], error)

// Connect calls f.
func (f ConnectorFunc[G]) Connect(ctx context.Context, namespace string, ref v1alpha1.DirectoryReference) (*Connection[G], error) {
	return f(ctx, namespace, ref)
}

// Dialer gives the Graph port of a Directory whatever its readiness: the
// Directory controller's health check is what decides readiness.
type Dialer[G any] interface {
	Dial(ctx context.Context, dir *v1alpha1.Directory) (G, error)
}

// DialerFunc adapts a function to a Dialer (tests).
type DialerFunc[G any] func(ctx context.Context, dir *v1alpha1.Directory) (G, error)

// Dial calls f.
func (f DialerFunc[G]) Dial(ctx context.Context, dir *v1alpha1.Directory) (G, error) {
	return f(ctx, dir)
}

// Ported serves a Resolver's Graph clients as the port G. It is both a
// Connector[G] and a Dialer[G].
type Ported[G any] struct{ r *Resolver }

// Port serves r's Graph clients as G. It panics when the client does not
// implement G: a wiring mistake, found when the manager is set up (each
// controller also checks it at compile time).
func Port[G any](r *Resolver) Ported[G] {
	var c any = (*graph.Client)(nil)
	if _, ok := c.(G); !ok {
		panic(fmt.Sprintf("connection.Port: the Graph client does not implement %T", (*G)(nil)))
	}
	return Ported[G]{r: r}
}

// Connect resolves a usable Directory or ClusterDirectory (see Connector).
func (p Ported[G]) Connect(ctx context.Context, namespace string, ref v1alpha1.DirectoryReference) (*Connection[G], error) {
	c, err := p.r.connectRef(ctx, namespace, ref)
	if err != nil {
		return nil, err
	}
	return &Connection[G]{Directory: c.Directory, Graph: any(c.Graph).(G), Safety: c.Safety}, nil
}

// Dial returns dir's Graph port, built from its spec and Secrets.
func (p Ported[G]) Dial(ctx context.Context, dir *v1alpha1.Directory) (G, error) {
	c, err := p.r.client(ctx, dir)
	if err != nil {
		var zero G
		return zero, err
	}
	return any(c).(G), nil
}

// Usable is the one rule for "dependents may use this Directory": Ready, or
// not Ready only because Graph throttles it (the shared budget paces every
// caller anyway). Connect waits on it, and every controller's watch on
// Directories wakes dependents when it flips (UsabilityChanged).
func Usable(dir *v1alpha1.Directory) bool {
	c := meta.FindStatusCondition(dir.Status.Conditions, v1alpha1.ConditionReady)
	return c != nil && (c.Status == metav1.ConditionTrue || c.Reason == v1alpha1.ReasonThrottled)
}

// UsabilityChanged passes the Directory events that can change what its
// dependents see: a Directory appearing or going, a new spec, or Usable
// flipping.
// A healthy Directory's periodic status updates pass nothing, so thousands
// of dependents are not woken every health check.
var UsabilityChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return true },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*v1alpha1.Directory)
		n, ok2 := e.ObjectNew.(*v1alpha1.Directory)
		if !ok1 || !ok2 {
			return false
		}
		return o.Generation != n.Generation || Usable(o) != Usable(n)
	},
}
