package ctrlkit

import (
	"context"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PatchStatus writes obj's status only when it differs from before's, as a
// merge patch against before (the object as read or last written). Skipping
// no-op writes keeps 10,000 idle resources from costing 10,000 apiserver
// writes per resync. T is one of the operator's kinds: a pointer to a
// struct with a Status field.
func PatchStatus[T client.Object](ctx context.Context, c client.Client, obj, before T) error {
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(obj)) {
		return nil
	}
	// The patch carries obj's resourceVersion. Without it a reconcile that
	// read a stale cached copy (its own last status write not seen yet)
	// would send only the fields that differ from that copy, and the
	// server would keep the newer ones: a Ready computed against a stale
	// Ready never replaced the failure condition just written (found by
	// `make chaos`). A conflict requeues, and the retry reads what the
	// server holds.
	return c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// statusOf returns o's Status field.
func statusOf(o client.Object) any {
	v := reflect.ValueOf(o)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("Status"); f.IsValid() {
			return f.Interface()
		}
	}
	panic(fmt.Sprintf("ctrlkit.PatchStatus: %T has no Status field", o))
}
