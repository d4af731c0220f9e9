package connection

import (
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

func TestSafety(t *testing.T) {
	s := NewSafety(v1alpha1.SafetySpec{AllowedDomains: []string{"Contoso.com"}, ProtectedUsers: []string{"Admin@contoso.com", "0000-id"}})
	if !s.DomainAllowed("a@contoso.COM") || s.DomainAllowed("a@fabrikam.com") || s.DomainAllowed("no-domain") {
		t.Error("domain checks are wrong")
	}
	if !s.Protected("", "admin@CONTOSO.com") || !s.Protected("0000-id") || s.Protected("x@contoso.com") {
		t.Error("protected checks are wrong")
	}
	if !NewSafety(v1alpha1.SafetySpec{}).DomainAllowed("a@any.org") {
		t.Error("no allow list must allow every domain")
	}
}

func TestDeletionLimiterSlidingHour(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewDeletionLimiter()
	l.Now = func() time.Time { return now }
	max := int32(2)
	for i := 0; i < 2; i++ {
		if ok, _ := l.Allow("ns/d", &max); !ok {
			t.Fatalf("deletion %d refused", i)
		}
		now = now.Add(10 * time.Minute)
	}
	ok, wait := l.Allow("ns/d", &max)
	if ok || wait != 40*time.Minute {
		t.Fatalf("third deletion: ok=%v wait=%v, want refused for 40m", ok, wait)
	}
	if ok, _ := l.Allow("ns/other", &max); !ok {
		t.Fatal("limits are per Directory")
	}
	now = now.Add(41 * time.Minute)
	if ok, _ := l.Allow("ns/d", &max); !ok {
		t.Fatal("window should have room again")
	}
}
