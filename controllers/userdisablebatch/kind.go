package userdisablebatch

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// One engine runs both batch kinds. UserDisableBatch writes
// accountEnabled=false, UserEnableBatch writes true; everything else (rows,
// dry run, checkpoints before writes, confirmation of lost answers, pacing,
// safety rails, finalizer, audit export) is shared. The engine works on a
// UserDisableBatch-shaped view of the object: both kinds share the status
// type, and the view carries the object's metadata, the spec fields the
// engine reads and the status. For a UserDisableBatch the view is the
// object itself.

// operation is what a batch writes and how its rows are named.
type operation struct {
	// target is the accountEnabled value written.
	target bool
	// done and already are the outcomes of a row written and of a row
	// found in the target state.
	done, already v1alpha1.UserOutcome
	// verb is the past participle in messages ("disabled", "enabled").
	verb string
}

var (
	disableOp = &operation{target: false, done: v1alpha1.OutcomeDisabled, already: v1alpha1.OutcomeAlreadyDisabled, verb: "disabled"}
	enableOp  = &operation{target: true, done: v1alpha1.OutcomeEnabled, already: v1alpha1.OutcomeAlreadyEnabled, verb: "enabled"}
)

// due is a Pending row that was read in the other state and not yet written.
func (op *operation) due(row v1alpha1.BatchUserResult) bool {
	return row.Outcome == v1alpha1.OutcomePending && row.AccountEnabledBefore != nil && *row.AccountEnabledBefore != op.target
}

// batchKind adapts one API kind to the engine.
type batchKind struct {
	name string
	op   *operation
	// newObject and newList allocate the kind's object and list.
	newObject func() client.Object
	newList   func() client.ObjectList
	// view is the engine's view of an object; object turns a view back into
	// an object for patches (of status or metadata, compared with another
	// view of the same object) and events.
	view   func(client.Object) *v1alpha1.UserDisableBatch
	object func(*v1alpha1.UserDisableBatch) client.Object
	// items are the views of a list's objects.
	items func(client.ObjectList) []*v1alpha1.UserDisableBatch
	// source is the UserDisableBatch an object undoes, or "".
	source func(client.Object) string
}

var disableKind = &batchKind{
	name:      "UserDisableBatch",
	op:        disableOp,
	newObject: func() client.Object { return &v1alpha1.UserDisableBatch{} },
	newList:   func() client.ObjectList { return &v1alpha1.UserDisableBatchList{} },
	view:      func(o client.Object) *v1alpha1.UserDisableBatch { return o.(*v1alpha1.UserDisableBatch) },
	object:    func(b *v1alpha1.UserDisableBatch) client.Object { return b },
	items: func(l client.ObjectList) []*v1alpha1.UserDisableBatch {
		list := l.(*v1alpha1.UserDisableBatchList)
		out := make([]*v1alpha1.UserDisableBatch, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out
	},
	source: func(client.Object) string { return "" },
}

var enableKind = &batchKind{
	name:      "UserEnableBatch",
	op:        enableOp,
	newObject: func() client.Object { return &v1alpha1.UserEnableBatch{} },
	newList:   func() client.ObjectList { return &v1alpha1.UserEnableBatchList{} },
	view:      func(o client.Object) *v1alpha1.UserDisableBatch { return enableView(o.(*v1alpha1.UserEnableBatch)) },
	object: func(b *v1alpha1.UserDisableBatch) client.Object {
		// The spec is left out: patches compare two objects made alike
		// from views, so only metadata and status differ.
		return &v1alpha1.UserEnableBatch{ObjectMeta: b.ObjectMeta, Status: b.Status}
	},
	items: func(l client.ObjectList) []*v1alpha1.UserDisableBatch {
		list := l.(*v1alpha1.UserEnableBatchList)
		out := make([]*v1alpha1.UserDisableBatch, len(list.Items))
		for i := range list.Items {
			out[i] = enableView(&list.Items[i])
		}
		return out
	},
	source: func(o client.Object) string { return o.(*v1alpha1.UserEnableBatch).Spec.FromBatch },
}

// enableView is the engine's view of a UserEnableBatch. A batch from
// another batch has neither users nor group: its rows are frozen at start,
// like a group's.
func enableView(e *v1alpha1.UserEnableBatch) *v1alpha1.UserDisableBatch {
	return &v1alpha1.UserDisableBatch{
		ObjectMeta: e.ObjectMeta,
		Spec: v1alpha1.UserDisableBatchSpec{DirectoryRef: e.Spec.DirectoryRef, Users: e.Spec.Users, DryRun: e.Spec.DryRun,
			ExportRetention: e.Spec.ExportRetention, Reason: e.Spec.Reason, Notify: e.Spec.Notify},
		Status: e.Status,
	}
}

// kind is the kind this Reconciler reconciles.
func (r *Reconciler) kind() *batchKind {
	if r.Enable {
		return enableKind
	}
	return disableKind
}

// frozenRows reports whether the batch's rows were fixed at start (a group,
// a source batch) rather than listed in its spec.
func frozenRows(b *v1alpha1.UserDisableBatch) bool { return len(b.Spec.Users) == 0 }

// patchStatus patches b's status (changed since before) on its object.
func (r *Reconciler) patchStatus(ctx context.Context, b, before *v1alpha1.UserDisableBatch) error {
	obj := r.kind().object(b)
	if err := ctrlkit.PatchStatus(ctx, r.Client, obj, r.kind().object(before)); err != nil {
		return err
	}
	b.ResourceVersion = obj.GetResourceVersion()
	return nil
}

// patchMeta patches b's metadata (changed since before) on its object.
func (r *Reconciler) patchMeta(ctx context.Context, b, before *v1alpha1.UserDisableBatch) error {
	obj := r.kind().object(b)
	if err := r.Patch(ctx, obj, client.MergeFrom(r.kind().object(before))); err != nil {
		return err
	}
	b.ResourceVersion = obj.GetResourceVersion()
	return nil
}
