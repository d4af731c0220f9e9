// Package plan computes what applying a folder of manifests would do in
// Entra ID: per object create / update (field: old → new) / adopt /
// delete, disable or orphan per deletionPolicy / no-op, and for each new
// UserDisableBatch the outcome every listed user would get. It is the
// engine of `kubectl entra plan`.
//
// It reads Graph only (batched GETs with $select, 20 users per request) and
// decides with the operator's own code: the DirectoryUser update diff
// (internal/userspec), the safety rails (connection.Safety), and the
// batch's rules for protected and managed users.
package plan

import (
	"fmt"
	"sort"
	"strings"
)

// Action is what applying the manifests does to one object.
type Action string

const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionAdopt   Action = "adopt"
	ActionDelete  Action = "delete"
	ActionDisable Action = "disable"
	ActionOrphan  Action = "orphan"
	// ActionRemove deletes the Kubernetes object with no Graph write.
	ActionRemove Action = "remove"
	// ActionStalled: the operator would refuse (a safety rail, a conflict);
	// Reason is the condition reason the object would show.
	ActionStalled Action = "stalled"
	// ActionWait: the object would wait (an ObserveOnly user that does not
	// exist yet); Reason says why.
	ActionWait Action = "wait"
	// ActionObserve: an ObserveOnly user; differences are reported, never written.
	ActionObserve Action = "observe"
	ActionNoop    Action = "no-op"
)

// Change is one field an update or create sets.
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Item is the plan for one object.
type Item struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Directory string `json:"directory,omitempty"`
	Action    Action `json:"action"`
	// Reason is the condition reason of a stalled or waiting object.
	Reason  string   `json:"reason,omitempty"`
	Message string   `json:"message,omitempty"`
	Changes []Change `json:"changes,omitempty"`
	// Batch previews a UserDisableBatch.
	Batch *BatchPreview `json:"batch,omitempty"`
	// Changed says whether applying changes anything for this object: a
	// stalled object the cluster already holds unchanged is no change.
	Changed bool `json:"changed"`
}

// Plan is the whole plan.
type Plan struct {
	Items []Item `json:"items"`
	// GraphRequests is how many HTTP requests the plan sent to Graph ($batch
	// envelopes count one).
	GraphRequests int64 `json:"graphRequests"`
	// ClusterConsulted is false when the plan ran without cluster access.
	ClusterConsulted bool `json:"clusterConsulted"`
	// Warnings are things the plan could not check.
	Warnings []string `json:"warnings,omitempty"`
}

// Exit codes of `kubectl entra plan`, as `terraform plan -detailed-exitcode`.
const (
	ExitNoChanges = 0
	ExitError     = 1
	ExitChanges   = 2
)

// HasChanges reports whether applying the manifests changes anything.
func (p *Plan) HasChanges() bool {
	for _, it := range p.Items {
		if it.Changed {
			return true
		}
	}
	return false
}

// ExitCode is ExitChanges when anything changes, else ExitNoChanges.
func (p *Plan) ExitCode() int {
	if p.HasChanges() {
		return ExitChanges
	}
	return ExitNoChanges
}

// actionOrder is the order of the summary line.
var actionOrder = []Action{ActionCreate, ActionUpdate, ActionAdopt, ActionDelete, ActionDisable, ActionOrphan,
	ActionRemove, ActionStalled, ActionWait, ActionObserve, ActionNoop}

// Summary is one line: counts per action, Graph cost.
func (p *Plan) Summary() string {
	counts := map[Action]int{}
	for _, it := range p.Items {
		counts[it.Action]++
	}
	var parts []string
	for _, a := range actionOrder {
		if n := counts[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no objects")
	}
	verdict := "no changes"
	if p.HasChanges() {
		verdict = "changes"
	}
	return fmt.Sprintf("Plan: %s (%s); %d Graph %s.", strings.Join(parts, ", "), verdict, p.GraphRequests, plural(p.GraphRequests, "request"))
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// kindOrder sorts items: connections first, then what depends on them.
var kindOrder = map[string]int{KindDirectory: 0, KindDirectoryUser: 1, KindUserDisableBatch: 2, KindUserEnableBatch: 3, KindGroupSync: 4}

func (p *Plan) sort() {
	sort.SliceStable(p.Items, func(i, j int) bool {
		a, b := p.Items[i], p.Items[j]
		if kindOrder[a.Kind] != kindOrder[b.Kind] {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}
