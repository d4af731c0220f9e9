package connection

import (
	"strings"
	"sync"
	"time"

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

// DeletionLimiter enforces maxDeletionsPerHour per Directory with a sliding
// one-hour window. It lives in the manager's memory: a restart forgets the
// window, which can at most double the hourly figure once; the leader-elected
// single writer makes that the only way to exceed it.
type DeletionLimiter struct {
	mu   sync.Mutex
	log  map[string][]time.Time
	Now  func() time.Time
	Hour time.Duration // window length; tests shorten it
}

// NewDeletionLimiter returns an empty limiter.
func NewDeletionLimiter() *DeletionLimiter {
	return &DeletionLimiter{log: map[string][]time.Time{}, Now: time.Now, Hour: time.Hour}
}

// DefaultMaxDeletionsPerHour applies when the Directory does not set one.
const DefaultMaxDeletionsPerHour = 100

// Allow records one deletion for key if the window has room, or says how
// long until it has.
func (l *DeletionLimiter) Allow(key string, maxPerHour *int32) (bool, time.Duration) {
	limit := DefaultMaxDeletionsPerHour
	if maxPerHour != nil {
		limit = int(*maxPerHour)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	kept := l.log[key][:0]
	for _, t := range l.log[key] {
		if now.Sub(t) < l.Hour {
			kept = append(kept, t)
		}
	}
	l.log[key] = kept
	if len(kept) >= limit {
		if len(kept) == 0 {
			return false, l.Hour
		}
		return false, l.Hour - now.Sub(kept[0])
	}
	l.log[key] = append(kept, now)
	return true, 0
}
