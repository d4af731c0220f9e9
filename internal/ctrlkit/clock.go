package ctrlkit

import (
	"time"

	"k8s.io/utils/clock"
)

// Now reads c, or the real clock when c is nil: every reconciler has an
// optional Clock field (k8s.io/utils/clock) that unit tests set to a
// clock/testing.FakePassiveClock.
func Now(c clock.PassiveClock) time.Time {
	if c == nil {
		return time.Now()
	}
	return c.Now()
}
