package plan

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Outcome is what a batch would do to one user: the UserDisableBatch
// row outcome, with Disable for a user a real run would disable.
type Outcome string

const (
	OutcomeDisable         Outcome = "Disable"
	OutcomeAlreadyDisabled Outcome = Outcome(v1alpha1.OutcomeAlreadyDisabled)
	OutcomeNotFound        Outcome = Outcome(v1alpha1.OutcomeNotFound)
	OutcomeProtected       Outcome = Outcome(v1alpha1.OutcomeProtected)
	OutcomeManaged         Outcome = Outcome(v1alpha1.OutcomeManaged)
	OutcomeFailed          Outcome = Outcome(v1alpha1.OutcomeFailed)
	OutcomeQueried         Outcome = Outcome(v1alpha1.OutcomeQueried)
)

// OutcomeOrder is the order counts are shown in.
var OutcomeOrder = []Outcome{OutcomeDisable, OutcomeAlreadyDisabled, OutcomeNotFound, OutcomeProtected, OutcomeManaged, OutcomeFailed, OutcomeQueried}

// BatchPreview is what a new UserDisableBatch would do.
type BatchPreview struct {
	DryRun bool            `json:"dryRun,omitempty"`
	Total  int             `json:"total"`
	Counts map[Outcome]int `json:"counts"`
	Rows   []BatchRow      `json:"rows"`
}

// BatchRow is one user's would-be outcome.
type BatchRow struct {
	User           string  `json:"user"`
	ID             string  `json:"id,omitempty"`
	AccountEnabled *bool   `json:"accountEnabled,omitempty"`
	Outcome        Outcome `json:"outcome"`
	Message        string  `json:"message,omitempty"`
}

// batchItem is one UserDisableBatch of the manifests.
type batchItem struct {
	b    *v1alpha1.UserDisableBatch
	live *v1alpha1.UserDisableBatch
	env  *env
	done *Item
}

func (bi *batchItem) item(a Action) Item {
	return Item{Kind: KindUserDisableBatch, Namespace: bi.b.Namespace, Name: bi.b.Name, Directory: bi.b.Spec.DirectoryRef.Name, Action: a}
}

func (p *planner) prepareBatches() []*batchItem {
	var out []*batchItem
	for i := range p.in.Desired.Batches {
		b := &p.in.Desired.Batches[i]
		bi := &batchItem{b: b, live: p.live.batches[b.Namespace+"/"+b.Name], env: p.env(b.Namespace, b.Spec.DirectoryRef.Name)}
		out = append(out, bi)
		if it := bi.precheck(); it != nil {
			bi.done = it
			continue
		}
		for _, u := range b.Spec.Users {
			bi.env.reads.want(strings.TrimSpace(u))
		}
	}
	return out
}

// precheck settles batches the cluster already holds (their spec is
// immutable) and specs the controller refuses before reading Graph.
func (bi *batchItem) precheck() *Item {
	b := bi.b
	if bi.live != nil {
		if equality.Semantic.DeepEqual(bi.live.Spec, b.Spec) {
			it := bi.item(ActionNoop)
			it.Message = liveBatchMessage(bi.live)
			return &it
		}
		it := bi.item(ActionStalled)
		it.Reason, it.Changed = v1alpha1.ReasonInvalidSpec, true
		it.Message = "spec is immutable: the API server refuses this edit; create a new UserDisableBatch instead"
		return &it
	}
	if bi.env == nil || bi.env.dir == nil {
		it := bi.item(ActionWait)
		it.Reason, it.Changed = v1alpha1.ReasonDirectoryNotFound, true
		it.Message = fmt.Sprintf("Directory %q not found", b.Spec.DirectoryRef.Name)
		return &it
	}
	seen := map[string]int{}
	for i, u := range b.Spec.Users {
		key := strings.ToLower(strings.TrimSpace(u))
		if j, dup := seen[key]; dup {
			it := bi.item(ActionStalled)
			it.Reason, it.Changed = v1alpha1.ReasonInvalidSpec, true
			it.Message = fmt.Sprintf("users[%d] %q repeats users[%d]; list each user once", i, u, j)
			return &it
		}
		seen[key] = i
	}
	return nil
}

func liveBatchMessage(b *v1alpha1.UserDisableBatch) string {
	msg := "exists, phase " + string(b.Status.Phase)
	if b.Status.Phase == "" {
		msg = "exists, not started"
	}
	if c := b.Status.Counts; c != nil {
		msg += fmt.Sprintf(": %d users, %d disabled, %d already disabled, %d not found, %d protected, %d managed, %d failed",
			c.Total, c.Disabled, c.AlreadyDisabled, c.NotFound, c.Protected, c.Managed, c.Failed)
	}
	return msg
}

// finish classifies every user of a new batch as its controller would.
func (bi *batchItem) finish(p *planner) (Item, error) {
	if bi.done != nil {
		return *bi.done, nil
	}
	users, err := bi.users(p)
	if err != nil {
		return Item{}, err
	}
	managed := p.managedUsers(bi.b.Namespace, bi.b.Spec.DirectoryRef.Name)
	pv := &BatchPreview{DryRun: bi.b.Spec.DryRun, Total: len(users), Counts: map[Outcome]int{}}
	byID := map[string]int{}
	for i, u := range users {
		row := bi.classify(u, managed, byID, i)
		pv.Counts[row.Outcome]++
		pv.Rows = append(pv.Rows, row)
	}
	it := bi.item(ActionCreate)
	it.Batch, it.Changed = pv, true
	if bi.b.Spec.DryRun {
		it.Message = "dry run: queries only, no writes"
	}
	return it, nil
}

// found is one batch user: as given, and as Graph answered (nil: not found).
type found struct {
	given string
	user  *graph.User
	err   error // Graph refused the key (400)
}

// users returns the batch's users: the listed ones as read, or the group's
// members (sorted by UPN, as the controller freezes them).
func (bi *batchItem) users(p *planner) ([]found, error) {
	if g := bi.b.Spec.Group; g != nil {
		return bi.groupMembers(p, g)
	}
	out := make([]found, len(bi.b.Spec.Users))
	for i, u := range bi.b.Spec.Users {
		out[i].given = strings.TrimSpace(u)
		if gu, ok := bi.env.reads.get(out[i].given); ok {
			out[i].user = &gu
		}
		out[i].err = bi.env.reads.invalid(out[i].given)
	}
	return out, nil
}

func (bi *batchItem) groupMembers(p *planner, sel *v1alpha1.BatchGroupSelector) ([]found, error) {
	gc := bi.env.gc
	id := sel.ID
	if id == "" {
		groups, err := gc.FindGroups(p.ctx, sel.DisplayName)
		if err != nil {
			return nil, fmt.Errorf("finding group %q: %w", sel.DisplayName, err)
		}
		if len(groups) != 1 {
			return nil, fmt.Errorf("UserDisableBatch %s/%s: %d groups are named %q", bi.b.Namespace, bi.b.Name, len(groups), sel.DisplayName)
		}
		id = groups[0].ID
	}
	members, err := gc.ListGroupMembers(p.ctx, id, sel.Transitive, userSelect...)
	if err != nil {
		return nil, fmt.Errorf("listing the members of group %s: %w", id, err)
	}
	sort.SliceStable(members, func(i, j int) bool {
		return strings.ToLower(members[i].UserPrincipalName) < strings.ToLower(members[j].UserPrincipalName)
	})
	out := make([]found, len(members))
	for i := range members {
		out[i] = found{given: members[i].UserPrincipalName, user: &members[i]}
	}
	return out, nil
}

// classify mirrors the UserDisableBatch controller's rules, in its order:
// a user listed twice under two names, protected (safety.protectedUsers
// or a domain outside safety.allowedDomains), managed by a Full-policy
// DirectoryUser, dry run, already disabled, else disabled.
func (bi *batchItem) classify(f found, managed map[string]string, byID map[string]int, i int) BatchRow {
	row := BatchRow{User: f.given}
	if f.err != nil {
		row.Outcome, row.Message = OutcomeFailed, f.err.Error()
		return row
	}
	if f.user == nil {
		row.Outcome = OutcomeNotFound
		return row
	}
	u := *f.user
	row.ID, row.AccountEnabled = u.ID, u.AccountEnabled
	if j, dup := byID[strings.ToLower(u.ID)]; dup {
		row.Outcome, row.Message = OutcomeFailed, fmt.Sprintf("same user as row %d; not processed twice", j)
		return row
	}
	byID[strings.ToLower(u.ID)] = i
	safety := bi.env.safety
	by := ""
	for _, k := range []string{u.ID, u.UserPrincipalName, f.given} {
		if n, ok := managed[strings.ToLower(k)]; ok && k != "" && by == "" {
			by = n
		}
	}
	spec := bi.b.Spec
	switch {
	case safety.Protected(u.ID, u.UserPrincipalName, f.given):
		row.Outcome, row.Message = OutcomeProtected, "listed in the Directory's safety.protectedUsers"
	case !safety.DomainAllowed(u.UserPrincipalName):
		row.Outcome, row.Message = OutcomeProtected, "domain not in the Directory's safety.allowedDomains"
	case by != "" && (spec.DryRun || !spec.DisableManaged):
		row.Outcome, row.Message = OutcomeManaged, "managed by DirectoryUser "+by
	case spec.DryRun:
		row.Outcome = OutcomeQueried
	case u.AccountEnabled == nil:
		row.Outcome, row.Message = OutcomeFailed, "Graph did not report accountEnabled"
	case !*u.AccountEnabled:
		row.Outcome = OutcomeAlreadyDisabled
	default:
		row.Outcome = OutcomeDisable
		if by != "" {
			row.Message = "held disabled through DirectoryUser " + by
		}
	}
	return row
}

// managedUsers maps the lower-cased IDs and UPNs of the users Full-policy
// DirectoryUsers of one Directory will manage after the apply to their names.
func (p *planner) managedUsers(ns, dir string) map[string]string {
	out := map[string]string{}
	for _, du := range p.afterApply() {
		if du.Namespace != ns || du.Spec.DirectoryRef.Name != dir || du.Spec.ManagementPolicy == v1alpha1.ManagementObserveOnly {
			continue
		}
		for _, k := range []string{du.Status.ID, du.Spec.UserPrincipalName, du.Status.UserPrincipalName} {
			if k != "" {
				out[strings.ToLower(k)] = du.Name
			}
		}
	}
	return out
}
