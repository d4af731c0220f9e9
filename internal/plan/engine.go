package plan

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Graph is the read-only part of the Graph client layer the plan uses
// (*graph.Client implements it).
type Graph interface {
	GetUsers(ctx context.Context, keys []string, selectProps ...string) ([]graph.UserResult, error)
	GetGroup(ctx context.Context, id string) (graph.Group, error)
	FindGroups(ctx context.Context, displayName string) ([]graph.Group, error)
	ListGroupMembers(ctx context.Context, groupID string, transitive bool, selectProps ...string) ([]graph.User, error)
	GetManagers(ctx context.Context, userIDs []string) ([]graph.ManagerResult, error)
	Usage() graph.Usage
}

// Connector returns the Graph reader of a Directory, given the Directory
// as it will be once the manifests are applied.
type Connector func(ctx context.Context, dir *v1alpha1.Directory) (Graph, error)

// Input is what a plan compares.
type Input struct {
	// Desired are the manifests. Compute applies the CRD defaults to them.
	Desired *Objects
	// Live is what the cluster holds; nil when the plan runs without
	// cluster access (then nothing is known to be removed, and users found
	// in Graph by UPN are taken as already managed).
	Live *Objects
	// Prune reports objects of Live that the manifests no longer hold as
	// removed (deleted on apply with pruning, as GitOps tools do), among
	// the kinds the manifests hold in each namespace.
	Prune   bool
	Connect Connector
}

// userSelect is every property the plan compares: the fields the
// DirectoryUser diff covers and the batch's outcome needs.
var userSelect = []string{"id", "userPrincipalName", "displayName", "givenName", "surname", "mailNickname",
	"jobTitle", "department", "officeLocation", "usageLocation", "employeeId", "accountEnabled"}

// env is one Directory as the plan sees it.
type env struct {
	dir    *v1alpha1.Directory // nil: neither manifests nor cluster hold it
	safety connection.Safety
	gc     Graph
	reads  *reads
	// managers maps lower-cased user IDs to their manager's UPN ("" for
	// none), for users whose manager readManagers read.
	managers map[string]string
}

// managerOf is the manager readManagers read for id; known false when it
// was not read. A user not created yet has none.
func (e *env) managerOf(id string) (upn string, known bool) {
	if id == "" {
		return "", true
	}
	upn, known = e.managers[strings.ToLower(id)]
	return upn, known
}

// planner holds one Compute call's state.
type planner struct {
	in      Input
	ctx     context.Context
	envs    map[string]*env
	live    index
	desired index
	plan    *Plan
}

// Compute builds the plan.
func Compute(ctx context.Context, in Input) (*Plan, error) {
	in.Desired.Default()
	p := &planner{in: in, ctx: ctx, envs: map[string]*env{}, desired: newIndex(in.Desired),
		plan: &Plan{ClusterConsulted: in.Live != nil}}
	p.live = newIndex(in.Live)
	if err := p.connectAll(); err != nil {
		return nil, err
	}
	users := p.prepareUsers()
	batches := p.prepareBatches()
	if err := p.readAll(); err != nil {
		return nil, err
	}
	if err := p.rereadMissing(users); err != nil {
		return nil, err
	}
	if err := p.readManagers(users); err != nil {
		return nil, err
	}
	for _, u := range users {
		p.add(u.finish(p))
	}
	for _, b := range batches {
		it, err := b.finish(p)
		if err != nil {
			return nil, err
		}
		p.add(it)
	}
	p.planDirectories()
	if err := p.planGroupSyncs(); err != nil {
		return nil, err
	}
	p.planEnableBatches()
	if p.in.Live != nil && p.in.Prune {
		p.planRemovals()
	}
	for _, e := range p.envs {
		if e.gc != nil {
			p.plan.GraphRequests += e.gc.Usage().Sub(e.reads.start).Requests
		}
	}
	if len(in.Desired.Ignored) > 0 {
		p.plan.Warnings = append(p.plan.Warnings, fmt.Sprintf("%d manifests of other kinds are not planned (use kubectl diff): %s",
			len(in.Desired.Ignored), strings.Join(in.Desired.Ignored, ", ")))
	}
	p.plan.sort()
	sort.Strings(p.plan.Warnings)
	return p.plan, nil
}

func (p *planner) add(it Item) { p.plan.Items = append(p.plan.Items, it) }

// directory is the Directory ns/name as it will be after the apply: the
// manifest's, else the cluster's.
func (p *planner) directory(ns, name string) *v1alpha1.Directory {
	if d := p.desired.dirs[ns+"/"+name]; d != nil {
		return d
	}
	if d := p.live.dirs[ns+"/"+name]; d != nil && !p.removed(KindDirectory, ns, name) {
		return d
	}
	return nil
}

// removed says whether a live object disappears with this apply: the
// manifests hold objects of its kind in its namespace, but not it. (A
// folder of DirectoryUsers does not remove the Directory it references.)
func (p *planner) removed(kind, ns, name string) bool {
	return p.in.Prune && p.in.Live != nil && !p.desired.has(kind, ns, name) && p.desired.scope[kind+" "+ns]
}

// connectAll resolves every Directory a planned object references, once.
func (p *planner) connectAll() error {
	refs := map[string][2]string{}
	for _, u := range p.in.Desired.Users {
		refs[u.Namespace+"/"+u.Spec.DirectoryRef.Name] = [2]string{u.Namespace, u.Spec.DirectoryRef.Name}
	}
	for _, b := range p.in.Desired.Batches {
		if p.live.batches[b.Namespace+"/"+b.Name] == nil {
			refs[b.Namespace+"/"+b.Spec.DirectoryRef.Name] = [2]string{b.Namespace, b.Spec.DirectoryRef.Name}
		}
	}
	for _, g := range p.in.Desired.GroupSyncs {
		if p.groupChanged(&g) {
			refs[g.Namespace+"/"+g.Spec.DirectoryRef.Name] = [2]string{g.Namespace, g.Spec.DirectoryRef.Name}
		}
	}
	for key, ref := range refs {
		e := &env{dir: p.directory(ref[0], ref[1]), managers: map[string]string{}}
		p.envs[key] = e
		if e.dir == nil {
			continue
		}
		e.safety = connection.NewSafety(e.dir.Spec.Safety)
		p.warnNotReady(e.dir)
		gc, err := p.in.Connect(p.ctx, e.dir)
		if err != nil {
			return fmt.Errorf("connecting to Directory %s/%s: %w", ref[0], ref[1], err)
		}
		e.gc = gc
		e.reads = newReads(gc.Usage())
	}
	return nil
}

// warnNotReady says when the cluster's Directory is not Ready: its
// dependents wait (DirectoryNotReady) until it is, whatever the plan shows.
func (p *planner) warnNotReady(dir *v1alpha1.Directory) {
	live := p.live.dirs[dir.Namespace+"/"+dir.Name]
	if live == nil {
		return
	}
	c := meta.FindStatusCondition(live.Status.Conditions, v1alpha1.ConditionReady)
	if c != nil && (c.Status == metav1.ConditionTrue || c.Reason == v1alpha1.ReasonThrottled) {
		return
	}
	why := "not checked yet"
	if c != nil {
		why = c.Reason + ": " + c.Message
	}
	p.plan.Warnings = append(p.plan.Warnings, fmt.Sprintf("Directory %s/%s is not Ready (%s); the objects that reference it wait until it is",
		dir.Namespace, dir.Name, why))
}

func (p *planner) env(ns, dir string) *env { return p.envs[ns+"/"+dir] }

// readAll sends each Directory's reads: one GetUsers of every key the
// users and batches need, 20 per $batch request.
func (p *planner) readAll() error {
	for key, e := range p.envs {
		if e.gc == nil || len(e.reads.keys) == 0 {
			continue
		}
		if err := e.reads.run(p.ctx, e.gc); err != nil {
			return fmt.Errorf("reading users of Directory %s: %w", key, err)
		}
	}
	return nil
}

// reads collects the keys (ids or UPNs) to read from one Directory, each
// once, and their answers.
type reads struct {
	start   graph.Usage
	keys    []string
	pending map[string]bool
	results map[string]graph.UserResult
}

func newReads(start graph.Usage) *reads {
	return &reads{start: start, pending: map[string]bool{}, results: map[string]graph.UserResult{}}
}

func (r *reads) want(key string) {
	k := strings.ToLower(key)
	if _, done := r.results[k]; done || r.pending[k] {
		return
	}
	r.pending[k] = true
	r.keys = append(r.keys, key)
}

func (r *reads) run(ctx context.Context, gc Graph) error {
	res, err := gc.GetUsers(ctx, r.keys, userSelect...)
	if err != nil {
		return err
	}
	for _, x := range res {
		// Graph refusing one key (400: not a valid id or UPN) is that
		// user's answer, as in the batch controller; anything else
		// (throttling, permissions, outages) leaves the plan unknown.
		if x.Err != nil && !graph.IsNotFound(x.Err) && graph.KindOf(x.Err) != graph.Invalid {
			return fmt.Errorf("reading user %s: %w", x.Key, x.Err)
		}
		r.results[strings.ToLower(x.Key)] = x
	}
	r.keys, r.pending = nil, map[string]bool{}
	return nil
}

// get returns the user read for key; ok false when Graph does not know it.
func (r *reads) get(key string) (graph.User, bool) {
	x, ok := r.results[strings.ToLower(key)]
	return x.User, ok && x.Err == nil
}

// invalid returns Graph's refusal of key (400), or nil.
func (r *reads) invalid(key string) error {
	if x := r.results[strings.ToLower(key)]; x.Err != nil && graph.KindOf(x.Err) == graph.Invalid {
		return x.Err
	}
	return nil
}
