package connection

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// Safety answers the questions every controller asks before a Graph write.
type Safety struct {
	allowedDomains map[string]bool
	protected      map[string]bool
}

// NewSafety indexes a Directory's safety rails (case-insensitive, as UPNs are).
func NewSafety(s v1alpha1.SafetySpec) Safety {
	out := Safety{allowedDomains: map[string]bool{}, protected: map[string]bool{}}
	for _, d := range s.AllowedDomains {
		out.allowedDomains[strings.ToLower(strings.TrimSpace(d))] = true
	}
	for _, p := range s.ProtectedUsers {
		out.protected[strings.ToLower(strings.TrimSpace(p))] = true
	}
	return out
}

// DomainAllowed reports whether the UPN's domain may be written. No list
// means every domain the tenant verified is allowed (Graph checks that).
func (s Safety) DomainAllowed(upn string) bool {
	if len(s.allowedDomains) == 0 {
		return true
	}
	at := strings.LastIndexByte(upn, '@')
	return at >= 0 && s.allowedDomains[strings.ToLower(upn[at+1:])]
}

// Protected reports whether any of the identities (object ID, UPN) is
// listed as protected: such users are never disabled or deleted.
func (s Safety) Protected(identities ...string) bool {
	for _, id := range identities {
		if id != "" && s.protected[strings.ToLower(id)] {
			return true
		}
	}
	return false
}

// DeletionLimiter enforces maxDeletionsPerHour per Directory over a sliding
// hour counted in minute buckets (Hour/60). The buckets are written to the
// Directory's status.deletionWindow before a deletion is allowed, and a
// process seeds its count from there, so a restart or a new leader does not
// reset the window. A deletion is counted for at least an hour (up to a
// bucket longer): the rail errs on the safe side.
//
// One process counts one Directory's deletions in memory, serialized by the
// mutex; shards that delete through the same Directory each keep their own
// count.
type DeletionLimiter struct {
	mu      sync.Mutex
	windows map[string][]v1alpha1.DeletionBucket
	// Client writes the window to Directory status; nil keeps it in
	// memory only.
	Client client.Client
	// Clock tells the time; tests inject a fake.
	Clock clock.PassiveClock
}

// deletionWindow is the sliding window maxDeletionsPerHour counts in, kept
// in minute buckets.
const deletionWindow = time.Hour

// NewDeletionLimiter returns a limiter persisting through c (nil: memory only).
func NewDeletionLimiter(c client.Client) *DeletionLimiter {
	return &DeletionLimiter{windows: map[string][]v1alpha1.DeletionBucket{}, Client: c, Clock: clock.RealClock{}}
}

// DefaultMaxDeletionsPerHour applies when the Directory does not set one.
const DefaultMaxDeletionsPerHour = 100

// MaxDeletionsPerHour is dir's deletion limit, the default when unset.
func MaxDeletionsPerHour(dir *v1alpha1.Directory) int {
	if m := dir.Spec.Safety.MaxDeletionsPerHour; m != nil {
		return int(*m)
	}
	return DefaultMaxDeletionsPerHour
}

// Allow records one deletion through dir if its window has room, or says how
// long until it has. An error means the deletion could not be recorded, and
// must not happen yet.
func (l *DeletionLimiter) Allow(ctx context.Context, dir *v1alpha1.Directory) (bool, time.Duration, error) {
	limit := MaxDeletionsPerHour(dir)
	key := Key(dir)
	l.mu.Lock()
	defer l.mu.Unlock()
	window, known := l.windows[key]
	if !known {
		window = dir.Status.DeletionWindow
	}
	now := l.Clock.Now()
	width := deletionWindow / 60
	var kept []v1alpha1.DeletionBucket
	total := 0
	for _, b := range window {
		if now.Before(b.Start.Add(deletionWindow + width)) {
			kept = append(kept, b)
			total += int(b.Count)
		}
	}
	if total >= limit {
		l.windows[key] = kept
		// Room comes back as the oldest buckets expire.
		freed := 0
		for _, b := range kept {
			freed += int(b.Count)
			if total-freed < limit {
				return false, b.Start.Add(deletionWindow + width).Sub(now), nil
			}
		}
		return false, deletionWindow + width, nil
	}
	start := metav1.NewMicroTime(now.Truncate(width))
	if n := len(kept); n > 0 && kept[n-1].Start.Equal(&start) {
		kept[n-1].Count++
	} else {
		kept = append(kept, v1alpha1.DeletionBucket{Start: start, Count: 1})
	}
	if l.Client != nil {
		if err := l.persist(ctx, dir, kept); err != nil {
			return false, 0, fmt.Errorf("recording the deletion in Directory %s status: %w", dir.Name, err)
		}
	}
	l.windows[key] = kept
	return true, 0, nil
}
