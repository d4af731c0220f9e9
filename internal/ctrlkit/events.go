package ctrlkit

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// Event records an event on obj (related: a second object, or nil) through
// rec; a nil rec records nothing, so reconcilers built without a recorder
// (unit tests) need no checks. note is a format for args.
func Event(rec events.EventRecorder, obj, related runtime.Object, kind, reason, action, note string, args ...any) {
	if rec == nil {
		return
	}
	rec.Eventf(obj, related, kind, reason, action, note, args...)
}
