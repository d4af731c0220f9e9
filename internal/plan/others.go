package plan

import (
	"encoding/json"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// specFieldChanges names the top-level spec fields that differ.
func specFieldChanges(before, after any) []string {
	a, b := jsonMap(before), jsonMap(after)
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || !equality.Semantic.DeepEqual(v, w) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func jsonMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return m
}

// specChanges renders the spec fields that differ as old → new JSON.
func specChanges(before, after any) []Change {
	a, b := jsonMap(before), jsonMap(after)
	var out []Change
	for _, f := range specFieldChanges(before, after) {
		out = append(out, Change{Field: "spec." + f, Old: compactJSON(a[f]), New: compactJSON(b[f])})
	}
	return out
}

func compactJSON(v any) string {
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// k8sOnly plans an object whose apply writes nothing to Graph by itself.
func k8sOnly(kind, ns, name, dir string, liveSpec, spec any, exists bool, created string) Item {
	it := Item{Kind: kind, Namespace: ns, Name: name, Directory: dir, Action: ActionNoop}
	switch {
	case !exists:
		it.Action, it.Changed, it.Message = ActionCreate, true, created
	case liveSpec == nil:
		it.Message = "not compared with the cluster (no cluster access)"
	default:
		if ch := specChanges(liveSpec, spec); len(ch) > 0 {
			it.Action, it.Changed, it.Changes = ActionUpdate, true, ch
		}
	}
	return it
}

func (p *planner) planDirectories() {
	for i := range p.in.Desired.Directories {
		d := &p.in.Desired.Directories[i]
		l := p.live.dirs[d.Namespace+"/"+d.Name]
		var ls any
		if l != nil {
			ls = l.Spec
		}
		it := k8sOnly(KindDirectory, d.Namespace, d.Name, "", ls, d.Spec, l != nil || p.in.Live == nil,
			"a new connection; its health check reads GET /organization")
		if it.Action == ActionUpdate {
			it.Message = "the safety rails and budget above apply to every object of this Directory in this plan"
		}
		p.add(it)
	}
}

func (p *planner) planGroupSyncs() error {
	for i := range p.in.Desired.GroupSyncs {
		g := &p.in.Desired.GroupSyncs[i]
		l := p.live.syncs[g.Namespace+"/"+g.Name]
		var ls any
		if l != nil {
			ls = l.Spec
		}
		export := g.Spec.Export
		if export == "" {
			export = g.Name + "-members"
		}
		it := k8sOnly(KindGroupSync, g.Namespace, g.Name, g.Spec.DirectoryRef.Name, ls, g.Spec, l != nil || p.in.Live == nil,
			"reads the group's members (no Graph writes) into ConfigMap "+export)
		if p.groupChanged(g) {
			if err := p.resolveGroup(g, &it); err != nil {
				return fmt.Errorf("GroupSync %s/%s: %w", g.Namespace, g.Name, err)
			}
		}
		p.add(it)
	}
	return nil
}

// groupChanged: a GroupSync whose group the plan resolves (new, or its
// group selector edited).
func (p *planner) groupChanged(g *v1alpha1.GroupSync) bool {
	l := p.live.syncs[g.Namespace+"/"+g.Name]
	return l == nil || l.Spec.Group != g.Spec.Group
}

// resolveGroup looks the group up as the GroupSync controller does (by
// id, else by display name, which must match one group) and stalls the
// item with the controller's reason when it would. Other Graph errors leave
// the plan unknown.
func (p *planner) resolveGroup(g *v1alpha1.GroupSync, it *Item) error {
	e := p.env(g.Namespace, g.Spec.DirectoryRef.Name)
	if e == nil || e.gc == nil {
		it.Action, it.Reason, it.Message = ActionWait, v1alpha1.ReasonDirectoryNotFound, fmt.Sprintf("Directory %q not found", g.Spec.DirectoryRef.Name)
		return nil
	}
	sel := g.Spec.Group
	stall := func(reason, format string, args ...any) {
		it.Action, it.Reason, it.Message = ActionStalled, reason, fmt.Sprintf(format, args...)
	}
	if sel.ID != "" {
		grp, err := e.gc.GetGroup(p.ctx, sel.ID)
		switch {
		case graph.IsNotFound(err):
			stall(v1alpha1.ReasonGroupNotFound, "no group with id %s in the tenant", sel.ID)
		case err != nil:
			return fmt.Errorf("reading group %s: %w", sel.ID, err)
		default:
			it.Message = fmt.Sprintf("mirrors group %q (%s); %s", grp.DisplayName, grp.ID, it.Message)
		}
		return nil
	}
	groups, err := e.gc.FindGroups(p.ctx, sel.DisplayName)
	switch {
	case err != nil:
		return fmt.Errorf("finding group %q: %w", sel.DisplayName, err)
	case len(groups) == 0:
		stall(v1alpha1.ReasonGroupNotFound, "no group named %q in the tenant", sel.DisplayName)
	case len(groups) > 1:
		stall(v1alpha1.ReasonInvalidSpec, "%d groups are named %q; set spec.group.id to the one to mirror", len(groups), sel.DisplayName)
	default:
		it.Message = fmt.Sprintf("mirrors group %q (%s); %s", groups[0].DisplayName, groups[0].ID, it.Message)
	}
	return nil
}

func (p *planner) planEnableBatches() {
	for i := range p.in.Desired.EnableBatches {
		e := &p.in.Desired.EnableBatches[i]
		l := p.live.enables[e.GetNamespace()+"/"+e.GetName()]
		spec, _, _ := unstructured.NestedMap(e.Object, "spec")
		dir, _, _ := unstructured.NestedString(spec, "directoryRef", "name")
		var ls any
		if l != nil {
			ls, _, _ = unstructured.NestedMap(l.Object, "spec")
		}
		p.add(k8sOnly(KindUserEnableBatch, e.GetNamespace(), e.GetName(), dir, ls, spec, l != nil || p.in.Live == nil,
			p.enableMessage(e.GetNamespace(), spec)))
	}
}

// enableMessage says how many users an undo would re-enable: the rows
// the batch it undoes disabled.
func (p *planner) enableMessage(ns string, spec map[string]any) string {
	from, _, _ := unstructured.NestedString(spec, "fromBatch")
	b := p.live.batches[ns+"/"+from]
	if from == "" || b == nil {
		return "re-enables users"
	}
	n := 0
	for _, r := range b.Status.Users {
		if r.Outcome == v1alpha1.OutcomeDisabled {
			n++
		}
	}
	return fmt.Sprintf("re-enables the %d users UserDisableBatch %s disabled", n, from)
}

// planRemovals lists the cluster's objects in the manifests' namespaces
// that the manifests no longer hold.
func (p *planner) planRemovals() {
	live := p.in.Live
	deletes := map[string]int{}
	for i := range live.Users {
		du := &live.Users[i]
		if p.removed(KindDirectoryUser, du.Namespace, du.Name) {
			p.add(p.userRemoval(du, deletes))
		}
	}
	remove := func(kind, ns, name, dir, msg string) {
		if p.removed(kind, ns, name) {
			p.add(Item{Kind: kind, Namespace: ns, Name: name, Directory: dir, Action: ActionRemove, Message: msg, Changed: true})
		}
	}
	for _, d := range live.Directories {
		remove(KindDirectory, d.Namespace, d.Name, "", "the objects that reference it stop reaching Graph")
	}
	for _, b := range live.Batches {
		remove(KindUserDisableBatch, b.Namespace, b.Name, b.Spec.DirectoryRef.Name,
			"no Graph write; its audit export "+b.Name+"-audit is kept until exportRetention")
	}
	for _, g := range live.GroupSyncs {
		remove(KindGroupSync, g.Namespace, g.Name, g.Spec.DirectoryRef.Name, "no Graph write; its export ConfigMaps are deleted with it")
	}
	for _, e := range live.EnableBatches {
		dir, _, _ := unstructured.NestedString(e.Object, "spec", "directoryRef", "name")
		remove(KindUserEnableBatch, e.GetNamespace(), e.GetName(), dir, "no Graph write")
	}
}

// userRemoval applies the DirectoryUser's deletionPolicy as its finalizer
// would: nothing for a user never created, orphan for ObserveOnly and
// Orphan, for a user another DirectoryUser manages and when the Directory
// goes too; protected users are never deleted or disabled.
func (p *planner) userRemoval(du *v1alpha1.DirectoryUser, deletes map[string]int) Item {
	it := Item{Kind: KindDirectoryUser, Namespace: du.Namespace, Name: du.Name, Directory: du.Spec.DirectoryRef.Name, Changed: true}
	id, policy := du.Status.ID, du.Spec.DeletionPolicy
	dir := p.directory(du.Namespace, du.Spec.DirectoryRef.Name)
	other := p.otherHolder(du)
	switch {
	case id == "":
		it.Action, it.Message = ActionRemove, "no user in Graph was created or adopted"
	case observeOnly(du) || policy == v1alpha1.DeletionOrphan:
		it.Action, it.Message = ActionOrphan, fmt.Sprintf("user %s (%s) stays in Graph", du.Status.UserPrincipalName, id)
	case other != "":
		it.Action, it.Message = ActionOrphan, "DirectoryUser "+other+" manages the same user; it stays in Graph"
	case dir == nil:
		it.Action, it.Message = ActionOrphan, "its Directory is gone; the user stays in Graph"
	case connection.NewSafety(dir.Spec.Safety).Protected(id, du.Status.UserPrincipalName, du.Spec.UserPrincipalName):
		it.Action, it.Reason = ActionOrphan, v1alpha1.ReasonProtectedUser
		it.Message = du.Spec.UserPrincipalName + " is a protected user: neither deleted nor disabled"
	case policy == v1alpha1.DeletionDisable:
		it.Action, it.Message = ActionDisable, fmt.Sprintf("user %s (%s) is disabled, not deleted", du.Status.UserPrincipalName, id)
		it.Changes = []Change{{Field: "accountEnabled", Old: boolString(du.Status.AccountEnabled), New: "false"}}
	default:
		key := du.Namespace + "/" + dir.Name
		deletes[key]++
		it.Action, it.Message = ActionDelete, fmt.Sprintf("user %s (%s) is deleted (restorable for 30 days)", du.Status.UserPrincipalName, id)
		if limit := connection.MaxDeletionsPerHour(dir); deletes[key] > limit {
			it.Message += fmt.Sprintf("; beyond Directory %s's maxDeletionsPerHour (%d) it waits (DeletionRateLimited)", dir.Name, limit)
		}
	}
	return it
}

// otherHolder names another DirectoryUser that stays and holds the same user.
func (p *planner) otherHolder(du *v1alpha1.DirectoryUser) string {
	for _, o := range p.afterApply() {
		if o.Name != du.Name && o.Namespace == du.Namespace && o.Status.ID != "" && o.Status.ID == du.Status.ID {
			return o.Name
		}
	}
	return ""
}

func boolString(b *bool) string {
	if b == nil {
		return ""
	}
	return fmt.Sprint(*b)
}
