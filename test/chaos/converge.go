package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// observation is the state of the scenario's resources at one moment.
type observation struct {
	dirReady bool
	// usersReady counts Ready DirectoryUsers, the duplicate pair counting
	// as one when at least one of them is Ready; usersTotal likewise.
	usersReady, usersTotal int
	// notReady counts the others by Ready reason.
	notReady   map[string]int
	examples   map[string]string
	batchPhase v1alpha1.BatchPhase
	batchDone  int32
	batchTotal int32
	gsReady    bool
	gsHandled  string
	users      []v1alpha1.DirectoryUser
	batch      *v1alpha1.UserDisableBatch
	groupSync  *v1alpha1.GroupSync
}

// ready: the Ready condition is True for the current generation.
func ready(conds []metav1.Condition, generation int64) (bool, string) {
	c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	switch {
	case c == nil:
		return false, "NoReadyCondition"
	case c.ObservedGeneration != generation:
		return false, "OldGeneration"
	case c.Status != metav1.ConditionTrue:
		return false, c.Reason
	}
	return true, c.Reason
}

func (r *runner) observe(ctx context.Context) (*observation, error) {
	o := &observation{notReady: map[string]int{}, examples: map[string]string{}}
	kube := r.cl.kube
	var dir v1alpha1.Directory
	if err := kube.Get(ctx, client.ObjectKey{Namespace: namespace, Name: dirName}, &dir); err != nil {
		return nil, err
	}
	o.dirReady, _ = ready(dir.Status.Conditions, dir.Generation)
	var list v1alpha1.DirectoryUserList
	if err := kube.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	o.users = list.Items
	dup := map[string]bool{}
	for _, n := range r.plan.duplicates {
		dup[n] = true
	}
	dupReady := 0
	for i := range list.Items {
		u := &list.Items[i]
		ok, reason := ready(u.Status.Conditions, u.Generation)
		if dup[u.Name] {
			if ok {
				dupReady++
			}
			continue
		}
		o.usersTotal++
		if ok {
			o.usersReady++
			continue
		}
		o.notReady[reason]++
		if _, seen := o.examples[reason]; !seen {
			o.examples[reason] = u.Name
		}
	}
	if len(r.plan.duplicates) > 0 {
		o.usersTotal++
		if dupReady > 0 {
			o.usersReady++
		} else {
			o.notReady["DuplicatePairNotReady"]++
		}
	}
	o.batch = &v1alpha1.UserDisableBatch{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: namespace, Name: batchName}, o.batch); err != nil {
		return nil, err
	}
	o.batchPhase = o.batch.Status.Phase
	o.batchTotal = int32(len(o.batch.Spec.Users))
	if c := o.batch.Status.Counts; c != nil {
		o.batchDone = c.Disabled + c.AlreadyDisabled + c.NotFound + c.Protected
	}
	o.groupSync = &v1alpha1.GroupSync{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: namespace, Name: gsName}, o.groupSync); err != nil {
		return nil, err
	}
	o.gsReady, _ = ready(o.groupSync.Status.Conditions, o.groupSync.Generation)
	o.gsHandled = o.groupSync.Status.LastHandledSyncRequest
	return o, nil
}

// converged: every resource reached its goal. The GroupSync must also have
// answered the latest sync request, which was made after the last fault
// phase began.
func (o *observation) converged(finalSync string) bool {
	return o.dirReady && o.usersReady == o.usersTotal && o.batchPhase == v1alpha1.BatchCompleted &&
		o.gsReady && o.gsHandled == finalSync
}

func (o *observation) String() string {
	var reasons []string
	for k, v := range o.notReady {
		reasons = append(reasons, fmt.Sprintf("%s %d (e.g. %s)", k, v, o.examples[k]))
	}
	sort.Strings(reasons)
	s := fmt.Sprintf("users %d/%d Ready", o.usersReady, o.usersTotal)
	if len(reasons) > 0 {
		s += " [" + strings.Join(reasons, ", ") + "]"
	}
	return s + fmt.Sprintf("; batch %s %d/%d; groupsync ready=%v handled=%q; directory ready=%v",
		orDash(string(o.batchPhase)), o.batchDone, o.batchTotal, o.gsReady, o.gsHandled, o.dirReady)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// watch polls the resources until deadline, logging progress; with
// untilConverged it returns as soon as everything converged.
func (r *runner) watch(deadline time.Time, untilConverged bool) (time.Time, bool) {
	lastLog := time.Time{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		o, err := r.observe(ctx)
		cancel()
		now := time.Now()
		switch {
		case err != nil && now.Sub(lastLog) > 10*time.Second:
			logf("  (observe: %v)", err)
			lastLog = now
		case err == nil && untilConverged && o.converged(r.finalSync):
			logf("  %s", o)
			return now, true
		case err == nil && now.Sub(lastLog) > 15*time.Second:
			logf("  %s", o)
			lastLog = now
		}
		if now.After(deadline) {
			return now, false
		}
		time.Sleep(min(2*time.Second, time.Until(deadline)+10*time.Millisecond))
	}
}
