package main

import (
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// These cover the suite's own logic only; the scenario itself runs with
// `make chaos` / `make chaos-quick`, never in `go test ./...`.

func TestQuickKeepsExplicitFlags(t *testing.T) {
	c, err := parseFlags([]string{"-quick", "-users", "40", "-seed", "9"})
	if err != nil {
		t.Fatal(err)
	}
	if c.users != 40 || c.batchUsers != 200 || c.chaos != 45*time.Second || c.seed != 9 {
		t.Fatalf("quick config: %+v", c)
	}
}

func TestScheduleIsSeededWithAPIServerInTheMiddle(t *testing.T) {
	sched := func(seed int64) []event {
		r := &runner{cfg: config{managerKills: 2, apiserverKills: 1, chaos: 120 * time.Second},
			rng: rand.New(rand.NewPCG(uint64(seed), 0xc4a05))}
		return r.schedule()
	}
	a, b, c := sched(1), sched(1), sched(2)
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Fatalf("schedule not a function of the seed: %v %v %v", a, b, c)
	}
	kinds := []string{a[0].kind, a[1].kind, a[2].kind}
	if !slices.Equal(kinds, []string{"manager", "apiserver", "manager"}) {
		t.Fatalf("kinds %v", kinds)
	}
	for i := 1; i < len(a); i++ {
		if a[i].at <= a[i-1].at || a[i].at >= 120*time.Second {
			t.Fatalf("times %v", a)
		}
	}
}

func TestRowMatches(t *testing.T) {
	r := &runner{sim: &sim{initialByUPN: map[string]simUser{
		"on@x":  {ID: "1", UserPrincipalName: "on@x", AccountEnabled: true},
		"off@x": {ID: "2", UserPrincipalName: "off@x"},
	}}}
	f := &facts{users: map[string]simUser{}, byUPN: map[string]simUser{}}
	set := func(id, upn string, enabled bool) {
		u := simUser{ID: id, UserPrincipalName: upn, AccountEnabled: enabled}
		f.users[id], f.byUPN[upn] = u, u
	}
	set("1", "on@x", false)
	set("2", "off@x", false)
	cases := []struct {
		row       v1alpha1.BatchUserResult
		ok, final bool
	}{
		{v1alpha1.BatchUserResult{User: "on@x", ID: "1", Outcome: v1alpha1.OutcomeDisabled}, true, true},
		{v1alpha1.BatchUserResult{User: "off@x", ID: "2", Outcome: v1alpha1.OutcomeAlreadyDisabled}, true, true},
		{v1alpha1.BatchUserResult{User: "off@x", ID: "2", Outcome: v1alpha1.OutcomeDisabled}, false, true},
		{v1alpha1.BatchUserResult{User: "gone@x", Outcome: v1alpha1.OutcomeNotFound}, true, true},
		{v1alpha1.BatchUserResult{User: "on@x", Outcome: v1alpha1.OutcomeNotFound}, false, true},
		{v1alpha1.BatchUserResult{User: "on@x", ID: "1", Outcome: v1alpha1.OutcomePending}, false, false},
	}
	for _, c := range cases {
		if ok, final, why := rowMatches(c.row, f, r); ok != c.ok || final != c.final {
			t.Errorf("%+v: ok=%v final=%v (%s)", c.row, ok, final, why)
		}
	}
	set("1", "on@x", true) // re-enabled after the batch disabled it
	if ok, _, _ := rowMatches(v1alpha1.BatchUserResult{User: "on@x", ID: "1", Outcome: v1alpha1.OutcomeDisabled}, f, r); ok {
		t.Error("a Disabled row of an enabled user matched")
	}
}

// A password inside a protobuf body that client-go logged as a hex dump
// (split over dump lines, then JSON-escaped into a log line) is found.
func TestHexDumpsFindSplitValues(t *testing.T) {
	pw := canary(1, "password", 3)
	body := append([]byte("k8s\x00\n\x0c\n\x02v1\x12\x06Secret password\x12"), pw...)
	logLine := strings.ReplaceAll(hex.Dump(body), "\n", `\n`)
	if strings.Contains(logLine, pw) {
		t.Fatal("test needs the value split by the dump")
	}
	if !strings.Contains(string(hexDumps(`{"body":"`+logLine+`"}`)), pw) {
		t.Fatalf("not found in %s", logLine)
	}
}
