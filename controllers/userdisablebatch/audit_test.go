package userdisablebatch_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/userdisablebatch"
	"github.com/directory-operator/directory-operator/internal/export"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// readAudit returns the audit CSV of batch name as records by user.
func readAudit(t *testing.T, ns, name string) map[string][]string {
	t.Helper()
	dir := &v1alpha1.Directory{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "tenant"}, dir); err != nil {
		t.Fatal(err)
	}
	raw, err := export.Read(context.Background(), env.Client, dir, userdisablebatch.AuditName(name), userdisablebatch.AuditFile)
	if err != nil || raw == nil {
		t.Fatalf("reading the audit export of %s: %v (nil: %v)", name, err, raw == nil)
	}
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != strings.Join(userdisablebatch.AuditHeader, ",") {
		t.Fatalf("header %v", recs[0])
	}
	out := map[string][]string{}
	for _, r := range recs[1:] {
		out[r[0]] = r
	}
	return out
}

// Deleting a running 2,000-user batch stops its writes, and its audit
// export (which outlives it) lists exactly the users it disabled; the
// Directory gets an Event naming the batch and its counts.
func TestDeleteRunningBatchLeavesAudit(t *testing.T) {
	const n = 2000
	ns := env.Namespace(t)
	users := putUsers("audit", n, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	startManager(t, "audit", slowResolver(t, ns))
	spec := v1alpha1.UserDisableBatchSpec{}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	env.Sim.ResetCounters()
	b := newBatch(ns, "audit", spec)
	b.Labels = map[string]string{ownerLabel: "audit"}
	create(t, b)
	waitFor(t, b, 60*time.Second, 100*time.Millisecond, "writes started", func() bool { return counts(b).Disabled >= 60 })
	if err := env.Client.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "batch gone", func() bool {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(b), &v1alpha1.UserDisableBatch{})
		return apierrors.IsNotFound(err)
	})
	writesAtDeletion := env.Sim.Counters().Writes
	time.Sleep(2 * time.Second)
	sim := env.Sim.Counters()
	if sim.Writes != writesAtDeletion {
		t.Errorf("%d writes after the batch was gone", sim.Writes-writesAtDeletion)
	}

	audit := readAudit(t, ns, "audit")
	if len(audit) != n {
		t.Fatalf("audit has %d rows, want %d", len(audit), n)
	}
	disabled := 0
	for i, u := range users {
		live, _ := env.Sim.GetUser(u.ID)
		rec := audit[u.UserPrincipalName]
		wrote := sim.UserWrites[u.ID] == 1
		if wrote != (rec[2] == string(v1alpha1.OutcomeDisabled)) || wrote == live.AccountEnabled || sim.UserWrites[u.ID] > 1 {
			t.Errorf("user %d: audit %v, PATCHes %d, live enabled %v", i, rec, sim.UserWrites[u.ID], live.AccountEnabled)
		}
		if wrote {
			disabled++
			if rec[4] != "true" || rec[5] != "false" || rec[1] != u.ID || rec[3] != u.JobTitle {
				t.Errorf("user %d: audit %v, want id, job title, before true, after false", i, rec)
			}
		} else if rec[2] == string(v1alpha1.OutcomePending) && !strings.Contains(rec[7], "deleted") {
			t.Errorf("user %d: audit %v, want a message saying the batch was deleted", i, rec)
		}
	}
	if disabled == 0 || disabled == n {
		t.Fatalf("%d of %d disabled: the batch was not deleted mid-run", disabled, n)
	}
	t.Logf("deleted with %d of %d disabled; the audit lists exactly those", disabled, n)
	testenv.Eventually(t, 10*time.Second, "Directory event", func() bool {
		return len(eventsContaining(t, ns, "BatchAudited: UserDisableBatch audit: deleted while running")) == 1
	})
}

// A finished batch records its audit export's command in status and keeps
// the export past its own deletion.
func TestFinishedBatchExport(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("export", 30, func(i int, u *graphsim.User) { u.AccountEnabled = i%3 != 0 })
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	spec := v1alpha1.UserDisableBatchSpec{Users: []string{"nobody@contoso.com"}}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	b := newBatch(ns, "export", spec)
	create(t, b)
	waitFor(t, b, 30*time.Second, 100*time.Millisecond, "export recorded and finalizer removed", func() bool {
		return b.Status.Export != nil && len(b.Finalizers) == 0
	})
	if !strings.Contains(b.Status.Export.Command, "kubectl get configmap export-audit -n "+ns) {
		t.Errorf("export command %q", b.Status.Export.Command)
	}
	if err := env.Client.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	audit := readAudit(t, ns, "export")
	if rec := audit["nobody@contoso.com"]; rec[2] != string(v1alpha1.OutcomeNotFound) {
		t.Errorf("missing user's audit line %v", rec)
	}
	for i, u := range users {
		want := [3]string{"Disabled", "true", "false"}
		if i%3 == 0 {
			want = [3]string{"AlreadyDisabled", "false", "false"}
		}
		if rec := audit[u.UserPrincipalName]; rec[2] != want[0] || rec[4] != want[1] || rec[5] != want[2] {
			t.Errorf("user %d audit %v, want %v", i, rec, want)
		}
	}
	testenv.Eventually(t, 10*time.Second, "Directory event", func() bool {
		return len(eventsContaining(t, ns, "BatchAudited: UserDisableBatch export: Disabled 20 of 31 users")) == 1
	})
}
