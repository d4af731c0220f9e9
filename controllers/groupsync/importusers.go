package groupsync

import (
	"context"
	"fmt"
	"regexp"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// Labels and annotations on DirectoryUsers imported by spec.importUsers.
const (
	// LabelGroupSync names the GroupSync that imported the DirectoryUser.
	LabelGroupSync = "entra.directory-operator.io/groupsync"
	// LabelMemberState is active, or removed for a member who left (kept
	// until retention ends, then deleted).
	LabelMemberState = "entra.directory-operator.io/member-state"
	// AnnotationRemovedAt is when a removed member left (RFC 3339).
	AnnotationRemovedAt = "entra.directory-operator.io/removed-at"
)

// upnPattern is the DirectoryUser CRD's own validation of the UPN: a
// member whose UPN it would refuse is left out of the import.
var upnPattern = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// importUsers keeps one ObserveOnly DirectoryUser per row of the mirror:
// created for members, labelled removed for leavers, deleted once the row
// is pruned after retention. Deleting one never touches Entra: ObserveOnly
// never writes, and the deletion policy is Orphan on top.
func (r *Reconciler) importUsers(ctx context.Context, gs *v1alpha1.GroupSync, st state) error {
	var list v1alpha1.DirectoryUserList
	if err := r.List(ctx, &list, client.InNamespace(gs.Namespace), client.MatchingLabels{LabelGroupSync: gs.Name}); err != nil {
		return fmt.Errorf("listing imported DirectoryUsers: %w", err)
	}
	existing := make(map[string]*v1alpha1.DirectoryUser, len(list.Items))
	for i := range list.Items {
		existing[list.Items[i].Name] = &list.Items[i]
	}
	for id, m := range st {
		if !upnPattern.MatchString(m.UPN) || len(m.UPN) > 113 {
			continue
		}
		name := importedName(gs, id)
		du, found := existing[name]
		delete(existing, name)
		if !found {
			du = &v1alpha1.DirectoryUser{ObjectMeta: metav1.ObjectMeta{Namespace: gs.Namespace, Name: name}}
			setImported(gs, du, m)
			if err := controllerutil.SetControllerReference(gs, du, r.Scheme()); err != nil {
				return err
			}
			if err := r.Create(ctx, du); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("importing DirectoryUser %s: %w", name, err)
			}
			continue
		}
		want := du.DeepCopy()
		setImported(gs, want, m)
		if equalImported(du, want) {
			continue
		}
		if err := r.Patch(ctx, want, client.MergeFrom(du)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("updating imported DirectoryUser %s: %w", name, err)
		}
	}
	for _, du := range existing {
		if err := r.Delete(ctx, du); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting imported DirectoryUser %s: %w", du.Name, err)
		}
	}
	return nil
}

// importedName is stable per member: the GroupSync's name and the
// member's object id (lower-case GUIDs are valid in object names).
func importedName(gs *v1alpha1.GroupSync, id string) string {
	prefix := gs.Name
	if len(prefix) > 200 {
		prefix = prefix[:200]
	}
	return prefix + "-" + id
}

func setImported(gs *v1alpha1.GroupSync, du *v1alpha1.DirectoryUser, m *member) {
	if du.Labels == nil {
		du.Labels = map[string]string{}
	}
	du.Labels[LabelGroupSync] = gs.Name
	if m.Removed {
		du.Labels[LabelMemberState] = StateRemoved
		if du.Annotations == nil {
			du.Annotations = map[string]string{}
		}
		du.Annotations[AnnotationRemovedAt] = m.RemovedAt.UTC().Format(time.RFC3339)
	} else {
		du.Labels[LabelMemberState] = StateActive
		delete(du.Annotations, AnnotationRemovedAt)
	}
	du.Spec.DirectoryRef = gs.Spec.DirectoryRef
	du.Spec.UserPrincipalName = m.UPN
	du.Spec.ManagementPolicy = v1alpha1.ManagementObserveOnly
	du.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
}

func equalImported(a, b *v1alpha1.DirectoryUser) bool {
	return a.Labels[LabelMemberState] == b.Labels[LabelMemberState] &&
		a.Annotations[AnnotationRemovedAt] == b.Annotations[AnnotationRemovedAt] &&
		a.Spec.UserPrincipalName == b.Spec.UserPrincipalName &&
		a.Spec.DirectoryRef == b.Spec.DirectoryRef &&
		a.Spec.ManagementPolicy == b.Spec.ManagementPolicy &&
		a.Spec.DeletionPolicy == b.Spec.DeletionPolicy
}
