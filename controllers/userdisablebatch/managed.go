package userdisablebatch

import (
	"context"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// Kinds never fight: a user a Full-policy DirectoryUser of the batch's
// Directory manages would be re-enabled by that DirectoryUser's drift
// correction minutes after the batch disabled it. Such rows get the outcome
// Managed and are not written, unless spec.disableManaged asks for it: then
// the DirectoryUser is annotated with the hold (v1alpha1.HoldAnnotation)
// before the PATCH, and keeps the account disabled until someone removes
// the annotation.

// managedUsers maps the lower-cased object IDs and UPNs of the users
// Full-policy DirectoryUsers of the batch's Directory manage to their names.
func (ru *run) loadManaged(ctx context.Context) error {
	var list v1alpha1.DirectoryUserList
	if err := ru.r.List(ctx, &list, client.InNamespace(ru.b.Namespace)); err != nil {
		return fmt.Errorf("listing DirectoryUsers: %w", err)
	}
	ru.managed = map[string]string{}
	ru.dus = map[string]*v1alpha1.DirectoryUser{}
	for i := range list.Items {
		du := &list.Items[i]
		if du.Spec.DirectoryRef.Name != ru.b.Spec.DirectoryRef.Name || du.Spec.ManagementPolicy == v1alpha1.ManagementObserveOnly {
			continue
		}
		ru.dus[du.Name] = du
		for _, k := range []string{du.Status.ID, du.Spec.UserPrincipalName, du.Status.UserPrincipalName} {
			if k != "" {
				ru.managed[strings.ToLower(k)] = du.Name
			}
		}
	}
	return nil
}

// managedBy names the DirectoryUser managing a row's user, or "".
func (ru *run) managedBy(keys ...string) string {
	for _, k := range keys {
		if name, ok := ru.managed[strings.ToLower(k)]; ok && k != "" {
			return name
		}
	}
	return ""
}

// managedNote is the message of a row not written because a DirectoryUser
// manages the user, or "" when the row may be written.
func (ru *run) managedNote(u graph.User, given string) string {
	if ru.op.target {
		return ru.enableManagedNote(u, given)
	}
	du := ru.managedBy(u.ID, u.UserPrincipalName, given)
	switch {
	case du == "" || (!ru.b.Spec.DryRun && ru.b.Spec.DisableManaged):
		return ""
	case ru.b.Spec.DisableManaged:
		return "managed by DirectoryUser " + du + "; a real run holds it disabled through it"
	}
	return managedMessage(du)
}

// writtenNote is the message of a row just written.
func (ru *run) writtenNote(keys ...string) string {
	du := ru.managedBy(keys...)
	switch {
	case du == "":
		return ""
	case ru.op.target:
		return releasedMessage(du, ru.from)
	}
	return heldMessage(du)
}

// prepareWrites does what must precede the PATCHes of rows: place the holds
// of a disable, release those of an undo.
func (ru *run) prepareWrites(ctx context.Context, rows []int) []int {
	if ru.op.target {
		return ru.releaseHolds(ctx, rows)
	}
	return ru.placeHolds(ctx, rows)
}

func managedMessage(du string) string {
	return fmt.Sprintf("managed by DirectoryUser %s, which would re-enable it; not written (spec.disableManaged holds it disabled instead)", du)
}

func heldMessage(du string) string {
	return fmt.Sprintf("held disabled through DirectoryUser %s (annotation %s)", du, v1alpha1.HoldAnnotation)
}

// placeHolds annotates the DirectoryUsers of the managed rows about to be
// written, before their PATCH, and returns the rows that may be written:
// a row whose hold could not be recorded waits for the next wave.
func (ru *run) placeHolds(ctx context.Context, rows []int) []int {
	if !ru.b.Spec.DisableManaged {
		return rows
	}
	return ru.forManagers(ctx, rows, ru.hold)
}

// forManagers runs act once per DirectoryUser managing one of rows (hold
// or release) and returns the rows that may be written now: those with no
// DirectoryUser, or whose DirectoryUser act has handled. A row whose act
// failed waits for a later wave.
func (ru *run) forManagers(ctx context.Context, rows []int, act func(context.Context, string) error) []int {
	out := rows[:0:0]
	for _, i := range rows {
		row := ru.b.Status.Users[i]
		name := ru.managedBy(row.ID, row.User)
		if name == "" || ru.held[name] {
			out = append(out, i)
			continue
		}
		if err := act(ctx, name); err != nil {
			log.FromContext(ctx).Info("Updating a DirectoryUser's hold failed; retrying", "directoryUser", name, "error", err.Error())
			ru.retryLater(i)
			continue
		}
		ru.held[name] = true
		out = append(out, i)
	}
	return out
}

func (ru *run) hold(ctx context.Context, name string) error {
	du := &v1alpha1.DirectoryUser{}
	if err := ru.r.Get(ctx, client.ObjectKey{Namespace: ru.b.Namespace, Name: name}, du); err != nil {
		return err
	}
	if du.Annotations[v1alpha1.HoldAnnotation] == ru.b.Name {
		return nil
	}
	patch := client.MergeFrom(du.DeepCopy())
	if du.Annotations == nil {
		du.Annotations = map[string]string{}
	}
	du.Annotations[v1alpha1.HoldAnnotation] = ru.b.Name
	return ru.r.Patch(ctx, du, patch)
}
