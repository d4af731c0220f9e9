package connection

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

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
	ctx := context.Background()
	now := time.Unix(0, 0)
	l := NewDeletionLimiter(nil)
	clk := clocktesting.NewFakePassiveClock(now)
	l.Clock = clk
	max := int32(2)
	dir := func(name string) *v1alpha1.Directory {
		return &v1alpha1.Directory{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: v1alpha1.DirectorySpec{Safety: v1alpha1.SafetySpec{MaxDeletionsPerHour: &max}}}
	}
	for i := 0; i < 2; i++ {
		if ok, _, _ := l.Allow(ctx, dir("d")); !ok {
			t.Fatalf("deletion %d refused", i)
		}
		clk.SetTime(clk.Now().Add(10 * time.Minute))
	}
	// The first deletion (minute 0) counts until the end of minute 60.
	ok, wait, _ := l.Allow(ctx, dir("d"))
	if ok || wait != 41*time.Minute {
		t.Fatalf("third deletion: ok=%v wait=%v, want refused for 41m", ok, wait)
	}
	if ok, _, _ := l.Allow(ctx, dir("other")); !ok {
		t.Fatal("limits are per Directory")
	}
	clk.SetTime(clk.Now().Add(41 * time.Minute))
	if ok, _, _ := l.Allow(ctx, dir("d")); !ok {
		t.Fatal("window should have room again")
	}

	// A new process seeds its count from the Directory's status.
	fresh := NewDeletionLimiter(nil)
	fresh.Clock = clk
	seeded := dir("d")
	seeded.Status.DeletionWindow = l.windows["ns/d"]
	if ok, _, _ := fresh.Allow(ctx, seeded); ok {
		t.Fatal("a restarted limiter forgot the deletions recorded in status")
	}
}
