package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"strings"
	"time"
)

// exportRow reads the GroupSync's CSV with the command its status prints,
// as a user would, and compares it with the group in the emulator.
func (r *runner) exportRow(ctx context.Context, f *facts) row {
	name := "GroupSync CSV export equals Graph membership"
	gs := f.obs.groupSync
	if gs.Status.Export == nil || gs.Status.Export.Command == "" {
		return row{name: name, got: "no export in status", want: "equal"}
	}
	out, err := r.cl.shell(gs.Status.Export.Command)
	if err != nil {
		return row{name: name, got: err.Error(), want: "equal"}
	}
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil || len(recs) == 0 {
		return row{name: name, got: fmt.Sprintf("unreadable CSV: %v", err), want: "equal"}
	}
	want := map[string]string{}
	for _, g := range f.groups {
		if g.ID != r.sim.groupID {
			continue
		}
		for _, id := range g.Members {
			if u, ok := f.users[id]; ok {
				want[strings.ToLower(id)] = expectedCSV(u, f)
			}
		}
	}
	differ, extra, examples := 0, 0, []string{}
	seen := map[string]bool{}
	for _, rec := range recs[1:] {
		if len(rec) < 10 {
			differ++
			continue
		}
		id := strings.ToLower(rec[0])
		seen[id] = true
		got := strings.Join(append(rec[:9:9], rec[9]), ",")
		w, ok := want[id]
		switch {
		case !ok:
			extra++
		case got != w:
			differ++
			if len(examples) < 2 {
				examples = append(examples, fmt.Sprintf("%s: %s ≠ %s", id, got, w))
			}
		}
	}
	missing := 0
	for id := range want {
		if !seen[id] {
			missing++
		}
	}
	res := fmt.Sprintf("%d rows, %d members in Graph; %d differ, %d missing, %d extra", len(recs)-1, len(want), differ, missing, extra)
	if len(examples) > 0 {
		res += " (" + strings.Join(examples, "; ") + ")"
	}
	return row{name: name, got: res, want: "equal", ok: differ == 0 && missing == 0 && extra == 0}
}

// expectedCSV is a member's users.csv row (without removedAt) as Graph holds it.
func expectedCSV(u simUser, f *facts) string {
	mgrUPN := ""
	if m, ok := f.users[u.ManagerID]; ok {
		mgrUPN = m.UserPrincipalName
	}
	return strings.Join([]string{strings.ToLower(u.ID), u.UserPrincipalName, u.DisplayName, u.Mail, u.JobTitle, u.Department,
		fmt.Sprint(u.AccountEnabled), strings.ToLower(u.ManagerID), mgrUPN, "active"}, ",")
}

// infoRows are measurements shown for context; they never fail a run.
func (r *runner) infoRows(f *facts) []row {
	c := f.counters
	starts, _ := r.sup.history()
	api := "ok"
	if r.apiserverErr != nil {
		api = r.apiserverErr.Error()
	}
	return []row{
		{name: "Chaos done", got: fmt.Sprintf("%d manager kill -9, %d kube-apiserver kill -9 + restart (%s); manager started %d times",
			r.cfg.managerKills, r.cfg.apiserverKills, api, starts), info: true, ok: r.apiserverErr == nil},
		{name: "Graph traffic", got: fmt.Sprintf("%d HTTP requests + %d $batch items; %d writes applied; %d answered 503, %d answered 504, %d throttled (429)",
			c.Requests, c.BatchItems, c.Writes, c.ByStatus["503"], c.ByStatus["504"], c.Throttled), info: true, ok: true},
		{name: "Phases", got: fmt.Sprintf("setup %s, %.0f %% faults %s, %.0f %% faults %s, then none",
			r.faultsStart.Sub(r.start).Round(time.Second), 100*r.cfg.faultRate, r.lowStart.Sub(r.faultsStart).Round(time.Second),
			100*r.cfg.lowFaultRate, r.faultsStop.Sub(r.lowStart).Round(time.Second)), info: true, ok: true},
	}
}

// report prints the table, writes it to the result file and returns the
// exit code: 1 when an invariant failed.
func (r *runner) report(rows []row) int {
	var b strings.Builder
	mode := "full"
	if r.cfg.quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "# Chaos run (%s, seed %d), %s\n\n", mode, r.cfg.seed, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "%d DirectoryUsers, a %d-user UserDisableBatch (%d protected, %d also DirectoryUsers), a GroupSync of %d; "+
		"faults %.0f %% then %.0f %% then 0, replication lag %s, throttling %v; %d manager kill -9, %d kube-apiserver kill -9 + restart. "+
		"Total run time %s.\n\n",
		len(r.plan.users), r.cfg.batchUsers, r.cfg.protected, r.cfg.overlap, r.cfg.groupMembers,
		100*r.cfg.faultRate, 100*r.cfg.lowFaultRate, r.cfg.lag, r.cfg.throttling, r.cfg.managerKills, r.cfg.apiserverKills,
		time.Since(r.start).Round(time.Second))
	b.WriteString("| invariant | measured | required | |\n|---|---|---|---|\n")
	var failures []string
	for _, rw := range rows {
		mark := "ok"
		switch {
		case rw.info:
			mark = "info"
		case !rw.ok:
			mark = "**FAIL**"
			failures = append(failures, fmt.Sprintf("FAIL: %s: %s (required %s)", rw.name, rw.got, rw.want))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", rw.name, strings.ReplaceAll(rw.got, "|", "/"), rw.want, mark)
	}
	b.WriteString("\n## Timeline\n\n")
	for _, l := range r.timeline {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	_, exits := r.sup.history()
	b.WriteString("\n## Manager exits\n\n")
	for _, l := range exits {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	fmt.Fprintf(&b, "\nLogs: %s (manager-N.log per incarnation, graphsim.log).\n", r.outDir)
	fmt.Println()
	fmt.Print(b.String())
	if err := os.WriteFile(r.cfg.out, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: writing", r.cfg.out+":", err)
	}
	for _, f := range failures {
		fmt.Fprintln(os.Stderr, f)
	}
	if len(failures) > 0 {
		return 1
	}
	return 0
}
