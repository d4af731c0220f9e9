package userdisablebatch_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/userdisablebatch"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/graph"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

const (
	mailAppID     = "5e1ec710-0000-4000-8000-000000000002"
	mailAppSecret = "mail-secret"
)

// mailsAbout are the outbox's mails whose subject names the batch.
func mailsAbout(ns, name string) []graphsim.Mail {
	var out []graphsim.Mail
	for _, m := range env.Sim.Outbox() {
		if strings.Contains(m.Subject, ns+"/"+name+" ") {
			out = append(out, m)
		}
	}
	return out
}

// A batch with notify mails one summary when it ends: the counts in the
// subject, the rows needing attention in the body, the audit CSV attached.
// Exactly one, even when the manager is stopped right after the batch
// completed and another one takes over.
func TestNotifyExactlyOnceAcrossRestart(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("notice", 6, nil)
	sender := env.Sim.PutUser(graphsim.User{UserPrincipalName: "notices-" + ns + "@contoso.com", DisplayName: "Notices", MailNickname: "notices",
		AccountEnabled: true, Mail: "notices-" + ns + "@contoso.com"})
	env.Sim.AddApp(mailAppID, mailAppSecret, append(slices.Clone(testenv.AllPermissions), "Mail.Send")...)
	readyDirectory(t, ns, testenv.DirectoryOptions{ClientID: mailAppID, ClientSecret: mailAppSecret})
	stopA := startManager(t, "notice", &connection.Resolver{Kube: env.Client, Registry: graph.NewRegistry(), TimeScale: timeScale})

	spec := v1alpha1.UserDisableBatchSpec{Users: []string{"nobody@contoso.com"},
		Notify: &v1alpha1.BatchNotify{From: sender.UserPrincipalName, To: []string{"secops@contoso.com", "it@contoso.com"}}}
	for _, u := range users {
		spec.Users = append(spec.Users, u.UserPrincipalName)
	}
	b := newBatch(ns, "noticed", spec)
	b.Labels = map[string]string{ownerLabel: "notice"}
	create(t, b)
	waitFor(t, b, 30*time.Second, 10*time.Millisecond, "completed", func() bool { return b.Status.Phase == v1alpha1.BatchCompleted })
	stopA()
	t.Logf("manager A stopped right after completion; notice %+v", b.Status.Notice)
	startManager(t, "notice", &connection.Resolver{Kube: env.Client, Registry: graph.NewRegistry(), TimeScale: timeScale})
	waitFor(t, b, 30*time.Second, 100*time.Millisecond, "notice sent", func() bool {
		return b.Status.Notice != nil && b.Status.Notice.State == v1alpha1.NoticeSent
	})
	time.Sleep(2 * time.Second) // any second send would be in the outbox by now
	mails := mailsAbout(ns, "noticed")
	if len(mails) != 1 {
		t.Fatalf("%d mails about the batch, want exactly 1", len(mails))
	}
	m := mails[0]
	if !strings.Contains(m.Subject, "Disabled 6 of 7 users") || m.From != sender.UserPrincipalName ||
		!slices.Equal(m.To, []string{"secops@contoso.com", "it@contoso.com"}) || m.ContentType != "HTML" {
		t.Errorf("mail %q from %s to %v (%s)", m.Subject, m.From, m.To, m.ContentType)
	}
	if !strings.Contains(m.Body, "nobody@contoso.com") || !strings.Contains(m.Body, "NotFound") {
		t.Errorf("body lacks the row needing attention: %s", m.Body)
	}
	if len(m.Attachments) != 1 || !strings.HasPrefix(string(m.Attachments[0].Content), strings.Join(auditHeader(), ",")) ||
		strings.Count(string(m.Attachments[0].Content), "\n") != 8 {
		t.Errorf("attachments %+v, want the audit CSV with 7 rows", m.Attachments)
	}
	if c := condition(b, v1alpha1.ConditionNotified); c == nil || c.Reason != v1alpha1.ReasonNoticeSent {
		t.Errorf("Notified %+v", c)
	}
}

// Without Mail.Send the batch still completes; condition Notified names
// the missing permission, and nothing is sent.
func TestNotifyWithoutMailSend(t *testing.T) {
	ns := env.Namespace(t)
	users := putUsers("nomail", 2, nil)
	readyDirectory(t, ns, testenv.DirectoryOptions{})
	b := newBatch(ns, "unnoticed", v1alpha1.UserDisableBatchSpec{Users: []string{users[0].UserPrincipalName, users[1].UserPrincipalName},
		Notify: &v1alpha1.BatchNotify{From: users[0].UserPrincipalName, To: []string{"secops@contoso.com"}}})
	create(t, b)
	waitFor(t, b, 30*time.Second, 100*time.Millisecond, "notice failed", func() bool {
		return b.Status.Notice != nil && b.Status.Notice.State == v1alpha1.NoticeFailed
	})
	c := condition(b, v1alpha1.ConditionNotified)
	if b.Status.Phase != v1alpha1.BatchCompleted || c == nil || c.Reason != v1alpha1.ReasonPermissionMissing || !strings.Contains(c.Message, "Mail.Send") {
		t.Errorf("phase %s, Notified %+v; want Completed and PermissionMissing naming Mail.Send", b.Status.Phase, c)
	}
	if r := condition(b, v1alpha1.ConditionReady); r == nil || r.Reason != v1alpha1.ReasonCompleted {
		t.Errorf("Ready %+v, want Completed", r)
	}
	if n := len(mailsAbout(ns, "unnoticed")); n != 0 {
		t.Errorf("%d mails sent without Mail.Send", n)
	}
}

func auditHeader() []string { return userdisablebatch.AuditHeader }
