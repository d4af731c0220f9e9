package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// row is one line of the result table; info rows are measurements that
// never fail the run.
type row struct {
	name, got, want string
	ok, info        bool
}

// facts is what the checks read once, at the end of the run.
type facts struct {
	obs      *observation
	counters simCounters
	users    map[string]simUser // live users by id
	byUPN    map[string]simUser // by lower-case UPN
	groups   []simGroup
}

func (r *runner) gather(ctx context.Context) (*facts, error) {
	f := &facts{users: map[string]simUser{}, byUPN: map[string]simUser{}}
	var err error
	if f.obs, err = r.observe(ctx); err != nil {
		return nil, err
	}
	if f.counters, err = r.sim.counters(); err != nil {
		return nil, err
	}
	us, err := r.sim.users()
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		f.users[u.ID] = u
		f.byUPN[strings.ToLower(u.UserPrincipalName)] = u
	}
	f.groups, err = r.sim.groups()
	return f, err
}

func (r *runner) check() []row {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, err := r.gather(ctx)
	if err != nil {
		return []row{{name: "final state readable", got: err.Error(), want: "yes"}}
	}
	rows := r.convergenceRows(f)
	rows = append(rows, r.createRows(f)...)
	rows = append(rows, r.batchRows(f)...)
	rows = append(rows, r.exportRow(ctx, f), r.takeoverRow(ctx))
	rows = append(rows, r.canaryRow(ctx))
	return append(rows, r.infoRows(f)...)
}

func pct(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(a)/float64(b))
}

func (r *runner) convergenceRows(f *facts) []row {
	o := f.obs
	var reasons []string
	for _, k := range slices.Sorted(maps.Keys(o.notReady)) {
		reasons = append(reasons, fmt.Sprintf("%s: %d", k, o.notReady[k]))
	}
	users := fmt.Sprintf("%d/%d (%s)", o.usersReady, o.usersTotal, pct(o.usersReady, o.usersTotal))
	if len(reasons) > 0 {
		users += "; not Ready: " + strings.Join(reasons, ", ")
	}
	batch := string(o.batchPhase)
	if c := o.batch.Status.Counts; c != nil {
		batch += fmt.Sprintf(" (disabled %d, already %d, protected %d, not found %d, failed %d, rows %d/%d)",
			c.Disabled, c.AlreadyDisabled, c.Protected, c.NotFound, c.Failed, len(o.batch.Status.Users), c.Total)
	}
	after := "not within " + r.cfg.convergeLimit.String()
	if r.convergedAfterStop >= 0 {
		after = r.convergedAfterStop.Round(time.Second).String()
	}
	low := "not within " + r.cfg.low.String()
	if r.convergedLow >= 0 {
		low = r.convergedLow.Round(time.Second).String()
	}
	resources := o.usersTotal + 3 // and the Directory, the batch, the GroupSync
	conv := o.usersReady
	for _, ok := range []bool{o.dirReady, o.batchPhase == v1alpha1.BatchCompleted, o.gsReady && o.gsHandled == r.finalSync} {
		if ok {
			conv++
		}
	}
	return []row{
		{name: "Resources converged (all kinds)", got: fmt.Sprintf("%d/%d (%s)", conv, resources, pct(conv, resources)), want: "100 %", ok: conv == resources},
		{name: "DirectoryUsers Ready", got: users, want: "100 %", ok: o.usersReady == o.usersTotal},
		{name: "UserDisableBatch", got: batch, want: "Completed", ok: o.batchPhase == v1alpha1.BatchCompleted},
		{name: "GroupSync Ready, answered the sync requested after faults stopped", got: fmt.Sprintf("ready=%v handled=%q", o.gsReady, o.gsHandled),
			want: fmt.Sprintf("ready=true handled=%q", r.finalSync), ok: o.gsReady && o.gsHandled == r.finalSync},
		{name: "Directory Ready", got: fmt.Sprint(o.dirReady), want: "true", ok: o.dirReady},
		{name: "Time to converge after faults stop", got: after, want: "converges", ok: r.convergedAfterStop >= 0},
		// Meaningful only with a low phase as long as the acceptance's 2 min.
		{name: fmt.Sprintf("Time to converge with faults at %.0f %%", 100*r.cfg.lowFaultRate), got: low, want: "≤ 2m0s",
			ok: r.convergedLow >= 0 && r.convergedLow <= 2*time.Minute, info: r.cfg.low < 2*time.Minute},
	}
}

// createRows: every create that Graph applied made a distinct user, only
// planned UPNs were created, and no Entra object is claimed by two Ready
// DirectoryUsers.
func (r *runner) createRows(f *facts) []row {
	planned := map[string]bool{}
	for _, u := range r.plan.created {
		planned[strings.ToLower(u)] = true
	}
	distinct, unexpected := 0, []string{}
	for _, u := range f.users {
		if _, before := r.sim.initialUsers[u.ID]; before {
			continue
		}
		distinct++
		if !planned[strings.ToLower(u.UserPrincipalName)] {
			unexpected = append(unexpected, u.UserPrincipalName)
		}
	}
	dups := int(f.counters.Posts) - distinct
	got := fmt.Sprintf("%d POST /users sent, %d applied, %d distinct UPNs created (%d planned); duplicates %d",
		f.counters.ByEndpoint["POST /users"], f.counters.Posts, distinct, len(r.plan.created), dups)
	if len(unexpected) > 0 {
		got += fmt.Sprintf("; unplanned UPNs %d (e.g. %s)", len(unexpected), unexpected[0])
	}
	claims := map[string][]string{}
	for _, u := range f.obs.users {
		if ok, _ := ready(u.Status.Conditions, u.Generation); ok && u.Status.ID != "" {
			claims[strings.ToLower(u.Status.ID)] = append(claims[strings.ToLower(u.Status.ID)], u.Name)
		}
	}
	var shared []string
	for id, names := range claims {
		if len(names) > 1 {
			shared = append(shared, fmt.Sprintf("%s by %s", id, strings.Join(names, "+")))
		}
	}
	return []row{
		{name: "Graph creates vs distinct UPNs", got: got, want: "0 duplicates, none unplanned", ok: dups == 0 && len(unexpected) == 0},
		{name: "Entra objects claimed by two Ready DirectoryUsers", got: fmt.Sprintf("%d %s", len(shared), strings.Join(shared, "; ")), want: "0", ok: len(shared) == 0},
	}
}

// batchRows: one disable write per user at most, protected users never
// written, every row equal to what Graph holds.
func (r *runner) batchRows(f *facts) []row {
	b := f.obs.batch
	// Users a DirectoryUser also manages are counted apart: a batch and a
	// DirectoryUser fighting over one account is its own failure (the
	// batch rows show it), not a repeated write after a lost answer.
	overlap := map[string]bool{}
	for _, upn := range r.plan.overlap {
		overlap[strings.ToLower(upn)] = true
	}
	maxW, multi, multiEx, overlapW := int64(0), 0, "", []string{}
	for _, upn := range b.Spec.Users {
		u, ok := r.initialByUPN(upn)
		if !ok {
			continue
		}
		n := f.counters.UserDisables[u.ID]
		if overlap[strings.ToLower(upn)] {
			overlapW = append(overlapW, fmt.Sprint(n))
			continue
		}
		maxW = max(maxW, n)
		if n > 1 {
			multi++
			multiEx = fmt.Sprintf(" (e.g. %s: %d)", upn, n)
		}
	}
	protectedWrites := int64(0)
	protectedSet := map[string]bool{}
	for _, upn := range r.plan.protected {
		protectedSet[strings.ToLower(upn)] = true
		if u, ok := r.initialByUPN(upn); ok {
			protectedWrites += f.counters.UserWrites[u.ID]
		}
	}
	protectedRows := map[v1alpha1.UserOutcome]int{}
	for _, rw := range b.Status.Users {
		if protectedSet[strings.ToLower(rw.User)] {
			protectedRows[rw.Outcome]++
		}
	}
	mismatch, unfinished, examples := 0, 0, []string{}
	for _, rw := range b.Status.Users {
		okRow, final, why := rowMatches(rw, f, r)
		if !final {
			unfinished++
			continue
		}
		if !okRow {
			mismatch++
			if len(examples) < 3 {
				examples = append(examples, why)
			}
		}
	}
	rowsGot := fmt.Sprintf("%d rows of %d; %d differ from Graph, %d not final", len(b.Status.Users), len(b.Spec.Users), mismatch, unfinished)
	if len(examples) > 0 {
		rowsGot += " (" + strings.Join(examples, "; ") + ")"
	}
	return []row{
		{name: "Disable writes per batch user (max)", got: fmt.Sprintf("%d; users written more than once: %d%s; users also managed by a DirectoryUser (not counted): %s",
			maxW, multi, multiEx, strings.Join(overlapW, ", ")), want: "≤ 1", ok: maxW <= 1},
		{name: "Protected users written", got: fmt.Sprintf("%d writes to %d protected users; their rows: %v", protectedWrites, len(r.plan.protected), protectedRows),
			want: "0", ok: protectedWrites == 0},
		{name: "Batch rows equal Graph state", got: rowsGot, want: "all rows, 0 differ", ok: mismatch == 0 && unfinished == 0 && len(b.Status.Users) == len(b.Spec.Users)},
	}
}

func (r *runner) initialByUPN(upn string) (simUser, bool) {
	u, ok := r.sim.initialByUPN[strings.ToLower(upn)]
	return u, ok
}

// rowMatches compares one batch row with the emulator: the state now, and
// the state before the batch that the outcome implies.
func rowMatches(rw v1alpha1.BatchUserResult, f *facts, r *runner) (ok, final bool, why string) {
	live, exists := f.byUPN[strings.ToLower(rw.User)]
	if rw.ID != "" {
		live, exists = f.users[strings.ToLower(rw.ID)]
	}
	before, existed := r.initialByUPN(rw.User)
	var wantNow *bool
	switch rw.Outcome {
	case v1alpha1.OutcomeNotFound:
		return !existed, true, rw.User + " NotFound but exists"
	case v1alpha1.OutcomeDisabled:
		if existed && !before.AccountEnabled {
			return false, true, rw.User + " Disabled but was disabled before"
		}
		wantNow = ptr(false)
	case v1alpha1.OutcomeAlreadyDisabled:
		if existed && before.AccountEnabled {
			return false, true, rw.User + " AlreadyDisabled but was enabled before"
		}
		wantNow = ptr(false)
	case v1alpha1.OutcomePending, v1alpha1.OutcomeFailed:
		return false, false, ""
	}
	if rw.AccountEnabled != nil {
		wantNow = rw.AccountEnabled
	}
	if wantNow == nil {
		return true, true, "" // an outcome that claims no state (e.g. a future one)
	}
	if !exists {
		return false, true, rw.User + " " + string(rw.Outcome) + " but gone from Graph"
	}
	if live.AccountEnabled != *wantNow {
		return false, true, fmt.Sprintf("%s %s but accountEnabled=%v in Graph", rw.User, rw.Outcome, live.AccountEnabled)
	}
	return true, true, ""
}

// takeoverRow: a ConfigMap the operator did not create is never written
// or owned by an export that names it.
func (r *runner) takeoverRow(ctx context.Context) row {
	if r.plan.appConfig == nil {
		return row{name: "Unrelated ConfigMap untouched", got: "not tested (-takeover=false)", info: true}
	}
	var cm corev1.ConfigMap
	if err := r.cl.kube.Get(ctx, client.ObjectKeyFromObject(r.plan.appConfig), &cm); err != nil {
		return row{name: "Unrelated ConfigMap untouched", got: err.Error(), want: "untouched"}
	}
	var changes []string
	if !maps.Equal(cm.Data, r.plan.appConfig.Data) {
		changes = append(changes, fmt.Sprintf("data keys now %v", slices.Sorted(maps.Keys(cm.Data))))
	}
	if len(cm.BinaryData) > 0 {
		changes = append(changes, "binaryData added")
	}
	for _, o := range cm.OwnerReferences {
		changes = append(changes, fmt.Sprintf("ownerReference %s/%s", o.Kind, o.Name))
	}
	got := "untouched"
	if len(changes) > 0 {
		got = strings.Join(changes, "; ")
	}
	return row{name: "Unrelated ConfigMap untouched by a GroupSync export naming it", got: got, want: "untouched", ok: len(changes) == 0}
}

// dump is the JSON of every object of the given lists, all namespaces.
func (r *runner) dump(ctx context.Context, lists ...client.ObjectList) string {
	var b strings.Builder
	for _, l := range lists {
		if err := r.cl.kube.List(ctx, l); err != nil {
			fmt.Fprintf(&b, "list error: %v\n", err)
			continue
		}
		j, _ := json.Marshal(l)
		b.Write(j)
	}
	return b.String()
}

// statuses is the JSON of every status of the operator's kinds.
func (r *runner) statuses(ctx context.Context) string {
	var b strings.Builder
	var dirs v1alpha1.DirectoryList
	var dus v1alpha1.DirectoryUserList
	var udbs v1alpha1.UserDisableBatchList
	var gss v1alpha1.GroupSyncList
	for _, l := range []client.ObjectList{&dirs, &dus, &udbs, &gss} {
		_ = r.cl.kube.List(ctx, l)
	}
	add := func(v any) { j, _ := json.Marshal(v); b.Write(j) }
	for _, o := range dirs.Items {
		add(o.Status)
	}
	for _, o := range dus.Items {
		add(o.Status)
	}
	for _, o := range udbs.Items {
		add(o.Status)
	}
	for _, o := range gss.Items {
		add(o.Status)
	}
	return b.String()
}
