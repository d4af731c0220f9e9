package ctrlkit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// TestFromGraphCoversEveryKind: every graph.Kind has exactly one outcome,
// reason and requeue, whichever controller asks.
func TestFromGraphCoversEveryKind(t *testing.T) {
	type want struct {
		outcome string // Stalled, Waiting, backoff
		reason  string
		requeue time.Duration
	}
	table := map[graph.Kind]want{
		graph.Throttled:    {"Waiting", v1alpha1.ReasonThrottled, 2 * time.Second},
		graph.Transient:    {"backoff", v1alpha1.ReasonUnreachable, 0},
		graph.NotFound:     {"backoff", v1alpha1.ReasonGraphError, 0},
		graph.Conflict:     {"Stalled", v1alpha1.ReasonConflict, 0},
		graph.Forbidden:    {"Stalled", v1alpha1.ReasonPermissionMissing, RecheckOutside},
		graph.Unauthorized: {"Stalled", v1alpha1.ReasonInvalidCredentials, RecheckOutside},
		graph.Invalid:      {"Stalled", v1alpha1.ReasonInvalidSpec, 0},
		graph.Unknown:      {"backoff", v1alpha1.ReasonGraphError, 0},
	}
	for k := graph.Kind(0); !strings.HasPrefix(k.String(), "Kind("); k++ {
		w, ok := table[k]
		if !ok {
			t.Errorf("graph.%s has no row in the error policy table", k)
			continue
		}
		ge := &graph.Error{Kind: k, Op: "PATCH /users/{id}", Code: "SomeCode", Message: "graph said no", RetryAfter: 2 * time.Second}
		err := FromGraph(ge, GraphOp{Doing: "disabling user u1", Permissions: "User.EnableDisableAccount.All"})
		res, rerr := Result(err, time.Hour)
		var stalled *StalledError
		var waiting *WaitingError
		switch {
		case errors.As(err, &stalled):
			if w.outcome != "Stalled" || stalled.Reason != w.reason || res.RequeueAfter != w.requeue || rerr != nil {
				t.Errorf("%s: Stalled %s requeue %s, want %+v", k, stalled.Reason, res.RequeueAfter, w)
			}
			if !strings.Contains(stalled.Error(), "SomeCode") || !strings.Contains(stalled.Error(), "disabling user u1") {
				t.Errorf("%s: %q lacks the Graph code or what was being done", k, stalled.Error())
			}
		case errors.As(err, &waiting):
			if w.outcome != "Waiting" || waiting.Reason != w.reason || res.RequeueAfter < w.requeue || res.RequeueAfter > w.requeue+w.requeue/10+250*time.Millisecond {
				t.Errorf("%s: Waiting %s requeue %s, want %+v", k, waiting.Reason, res.RequeueAfter, w)
			}
		default:
			if w.outcome != "backoff" || ReasonFor(err) != w.reason || rerr == nil {
				t.Errorf("%s: backoff with reason %s (err %v), want %+v", k, ReasonFor(err), rerr, w)
			}
			if !errors.Is(err, ge) {
				t.Errorf("%s: the Graph error is not wrapped", k)
			}
		}
	}
	if got := FromGraph(&graph.Error{Kind: graph.Forbidden, Code: "Authorization_RequestDenied"}, GraphOp{Doing: "x", Permissions: "User.Read.All"}).Error(); !strings.Contains(got, "grant the app User.Read.All") {
		t.Errorf("Forbidden message %q does not name the permission", got)
	}
	plain := errors.New("apiserver down")
	if got := FromGraph(plain, GraphOp{Doing: "writing status"}); !errors.Is(got, plain) {
		t.Errorf("a non-Graph error is not passed through: %v", got)
	}
}
