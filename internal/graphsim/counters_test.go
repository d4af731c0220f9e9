package graphsim

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// TestUserDisablesCounter: only PATCHes that set accountEnabled false count,
// top-level or in $batch, and so does a write applied behind an injected
// 504 (the write happened even though the client saw a failure).
func TestUserDisablesCounter(t *testing.T) {
	s := New(Options{Seed: 3})
	us := seedUsers(s, 3)
	c := newRaw(t, s)
	c.do("PATCH", "/users/"+us[0].ID, map[string]any{"accountEnabled": false})
	c.do("PATCH", "/users/"+us[0].ID, map[string]any{"jobTitle": "x"})
	c.do("PATCH", "/users/"+us[1].ID, map[string]any{"accountEnabled": true})
	c.do("POST", "/$batch", map[string]any{"requests": []map[string]any{{"id": "1", "method": "PATCH", "url": "/users/" + us[1].ID,
		"headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"accountEnabled": false}}}})
	got := s.Counters()
	if got.UserDisables[us[0].ID] != 1 || got.UserDisables[us[1].ID] != 1 || got.UserWrites[us[0].ID] != 2 || got.UserWrites[us[1].ID] != 2 {
		t.Fatalf("disables %v writes %v", got.UserDisables, got.UserWrites)
	}

	s.ResetCounters()
	s.SetFailureRate(1)
	for i := 0; i < 40; i++ {
		if r := c.do("PATCH", "/users/"+us[2].ID, map[string]any{"accountEnabled": false}); r.status < 500 {
			t.Fatalf("failure rate 1 answered %d", r.status)
		}
	}
	s.SetFailureRate(0)
	got = s.Counters()
	if n := got.UserDisables[us[2].ID]; n == 0 || n != got.UserWrites[us[2].ID] {
		t.Fatalf("applied 504s: disables %d, writes %d", n, got.UserWrites[us[2].ID])
	}

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "https://graphsim.test/_sim/counters", nil))
	var body struct {
		UserDisables map[string]int64 `json:"userDisables"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.UserDisables[us[2].ID] != got.UserDisables[us[2].ID] {
		t.Fatalf("/_sim/counters userDisables: %v %s", err, rec.Body.String())
	}
}
