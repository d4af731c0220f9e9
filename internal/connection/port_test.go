package connection

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// A port the Graph client cannot serve is a wiring mistake found at setup.
func TestPortPanicsForAnInterfaceTheClientLacks(t *testing.T) {
	type reader interface {
		GetUser(ctx context.Context, idOrUPN string) (graph.User, error)
	}
	_ = Port[reader](&Resolver{})
	_ = Port[*graph.Client](&Resolver{})

	type notGraph interface{ Teleport() }
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "does not implement") {
			t.Fatalf("recovered %v, want a wiring panic", r)
		}
	}()
	_ = Port[notGraph](&Resolver{})
}

func TestUsable(t *testing.T) {
	dir := func(status, reason string) *v1alpha1.Directory {
		d := &v1alpha1.Directory{}
		if status != "" {
			d.Status.Conditions = append(d.Status.Conditions, metaCondition(status, reason))
		}
		return d
	}
	for _, tc := range []struct {
		status, reason string
		want           bool
	}{
		{"", "", false},
		{"True", v1alpha1.ReasonSucceeded, true},
		{"False", v1alpha1.ReasonThrottled, true},
		{"False", v1alpha1.ReasonInvalidCredentials, false},
		{"Unknown", v1alpha1.ReasonProgressing, false},
	} {
		if got := Usable(dir(tc.status, tc.reason)); got != tc.want {
			t.Errorf("Ready=%s/%s: Usable = %v, want %v", tc.status, tc.reason, got, tc.want)
		}
	}
}

func metaCondition(status, reason string) metav1.Condition {
	return metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionStatus(status), Reason: reason}
}
