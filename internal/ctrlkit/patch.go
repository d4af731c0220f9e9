package ctrlkit

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PatchStatus writes obj's status only when it differs from before, as a
// merge patch against the object as it was read. Skipping no-op writes keeps
// 10,000 idle resources from costing 10,000 apiserver writes per resync.
// beforeStatus and afterStatus are the status structs (compared
// semantically); before is the object as read, used as the patch base.
func PatchStatus(ctx context.Context, c client.Client, obj, before client.Object, beforeStatus, afterStatus any) error {
	if equality.Semantic.DeepEqual(beforeStatus, afterStatus) {
		return nil
	}
	return c.Status().Patch(ctx, obj, client.MergeFrom(before))
}
