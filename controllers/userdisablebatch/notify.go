package userdisablebatch

import (
	"context"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/export"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// spec.notify mails one summary when a batch ends. Exactly once, also
// across restarts: status.notice records Sending before the send and Sent
// (or Failed) after it. A manager that finds Sending does not send again:
// the mail may already be out, and a second notice of an incident is worse
// than a notice whose delivery the condition calls uncertain. A refused
// send (missing Mail.Send, a sender without a mailbox) never fails the
// batch: condition Notified says why.

// mailer is what a notice needs of the Graph client.
type mailer interface {
	SendMail(ctx context.Context, from string, msg graph.MailMessage) error
}

var _ mailer = (*graph.Client)(nil)

// maxNoticeRows bounds the attention table of the mail body.
const maxNoticeRows = 200

// notify sends the notice of a finished batch, once.
func (r *Reconciler) notify(ctx context.Context, b *v1alpha1.UserDisableBatch) error {
	n := b.Spec.Notify
	if n == nil || !finished(b.Status.Phase) {
		return nil
	}
	if nt := b.Status.Notice; nt != nil {
		if nt.State == v1alpha1.NoticeSending {
			return r.recordNotice(ctx, b, v1alpha1.NoticeFailed, v1alpha1.ReasonSendInterrupted,
				"the manager stopped while sending the notice; it may have been sent, and is not sent again")
		}
		return nil
	}
	conn, err := r.Connector.Connect(ctx, b.Namespace, b.Spec.DirectoryRef)
	if err != nil {
		return err
	}
	m, ok := conn.Graph.(mailer)
	if !ok {
		return fmt.Errorf("the Graph client cannot send mail")
	}
	msg := r.noticeMessage(b)
	// From the Sending record on, a manager shutting down still finishes
	// the send and records it: cut short, it would leave the notice
	// uncertain.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.recordNotice(ctx, b, v1alpha1.NoticeSending, "", ""); err != nil {
		return err
	}
	err = m.SendMail(ctx, n.From, msg)
	if notSent(err) {
		// Throttled, or refused by the client-side budget before sending:
		// nothing went out, so it is tried again.
		before := b.DeepCopy()
		b.Status.Notice = nil
		if perr := r.patchStatus(ctx, b, before); perr != nil {
			return perr
		}
		return ctrlkit.FromGraph(err, ctrlkit.GraphOp{Doing: "sending the notice", Permissions: "Mail.Send"})
	}
	if err == nil {
		log.FromContext(ctx).Info("Sent the batch's notice", "from", n.From, "to", n.To)
		return r.recordNotice(ctx, b, v1alpha1.NoticeSent, v1alpha1.ReasonNoticeSent,
			fmt.Sprintf("notice sent from %s to %s: %s", n.From, strings.Join(n.To, ", "), msg.Subject))
	}
	reason, text := noticeFailure(err, n.From)
	r.event(b, corev1.EventTypeWarning, reason, text)
	return r.recordNotice(ctx, b, v1alpha1.NoticeFailed, reason, text)
}

// notSent reports an error that proves the mail did not go out.
func notSent(err error) bool {
	var ge *graph.Error
	if !errors.As(err, &ge) {
		return false
	}
	return ge.Kind == graph.Throttled || (ge.StatusCode == 0 && (ge.Code == "BudgetExhausted" || ge.Code == "Canceled"))
}

// noticeFailure names why a send failed. Graph refusing it (4xx) means it
// was not sent; anything else may have been, and is not retried.
func noticeFailure(err error, from string) (reason, text string) {
	var ge *graph.Error
	if errors.As(err, &ge) && (ge.Code == "MailboxNotEnabledForRESTAPI" || ge.Code == "ErrorInvalidUser") {
		return v1alpha1.ReasonMailboxNotFound, fmt.Sprintf("the sender %s has no Exchange Online mailbox (%s); the notice was not sent", from, errMessage(err))
	}
	mapped := ctrlkit.FromGraph(err, ctrlkit.GraphOp{Doing: "sending the notice from " + from, Permissions: "Mail.Send"})
	var stalled *ctrlkit.StalledError
	if errors.As(mapped, &stalled) {
		return stalled.Reason, stalled.Message + "; the notice was not sent"
	}
	return v1alpha1.ReasonNoticeFailed, "sending the notice from " + from + " failed: " + errMessage(err) + "; not sent again (it may have been sent)"
}

// recordNotice patches status.notice (and, once decided, condition Notified).
func (r *Reconciler) recordNotice(ctx context.Context, b *v1alpha1.UserDisableBatch, state v1alpha1.NoticeState, reason, text string) error {
	before := b.DeepCopy()
	b.Status.Notice = &v1alpha1.BatchNotice{State: state, At: metav1.NewTime(r.now()), Message: text}
	if reason != "" {
		ctrlkit.SetCondition(&b.Status.CommonStatus, b.Generation, v1alpha1.ConditionNotified, state == v1alpha1.NoticeSent, reason, text)
	}
	return r.patchStatus(ctx, b, before)
}

// noticeMessage is the mail: counts in the subject, the rows needing
// attention in an HTML table, the audit CSV attached when it fits.
func (r *Reconciler) noticeMessage(b *v1alpha1.UserDisableBatch) graph.MailMessage {
	k := r.kind()
	summary := completionMessage(k.op, b)
	msg := graph.MailMessage{To: b.Spec.Notify.To,
		Subject: fmt.Sprintf("%s %s/%s %s: %s", k.name, b.Namespace, b.Name, b.Status.Phase, firstClause(summary))}
	var sb strings.Builder
	fmt.Fprintf(&sb, "<p>%s %s in namespace %s ended <b>%s</b>: %s.</p>", k.name, html.EscapeString(b.Name), html.EscapeString(b.Namespace),
		b.Status.Phase, html.EscapeString(summary))
	if b.Spec.Reason != "" {
		fmt.Fprintf(&sb, "<p>Reason: %s</p>", html.EscapeString(b.Spec.Reason))
	}
	writeAttention(&sb, b.Status.Users)
	file := export.CSV(AuditHeader, auditRows(b.Status.Users, r.now(), false))
	switch {
	case len(file) <= graph.MaxMailAttachments:
		msg.Attachments = []graph.MailAttachment{{Name: b.Name + "-" + AuditFile, ContentType: "text/csv", Content: file}}
		fmt.Fprintf(&sb, "<p>Every row is in the attached %s.</p>", html.EscapeString(b.Name+"-"+AuditFile))
	case b.Status.Export != nil:
		fmt.Fprintf(&sb, "<p>The audit CSV is too large to attach; read it with:</p><pre>%s</pre>", html.EscapeString(b.Status.Export.Command))
	}
	msg.HTMLBody = sb.String()
	return msg
}

// writeAttention writes the table of rows needing attention (failed, not
// found, managed, protected).
func writeAttention(sb *strings.Builder, rows []v1alpha1.BatchUserResult) {
	var attention []v1alpha1.BatchUserResult
	for _, row := range rows {
		switch row.Outcome {
		case v1alpha1.OutcomeFailed, v1alpha1.OutcomeNotFound, v1alpha1.OutcomeManaged, v1alpha1.OutcomeProtected:
			attention = append(attention, row)
		}
	}
	if len(attention) == 0 {
		sb.WriteString("<p>No row needs attention.</p>")
		return
	}
	fmt.Fprintf(sb, "<p>%d rows need attention:</p><table border=\"1\" cellpadding=\"4\"><tr><th>user</th><th>outcome</th><th>message</th></tr>", len(attention))
	for i, row := range attention {
		if i == maxNoticeRows {
			fmt.Fprintf(sb, "<tr><td colspan=\"3\">… and %d more (see the CSV)</td></tr>", len(attention)-maxNoticeRows)
			break
		}
		fmt.Fprintf(sb, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>", html.EscapeString(row.User), row.Outcome, html.EscapeString(row.Message))
	}
	sb.WriteString("</table>")
}

// firstClause is a summary's part before its first colon ("Disabled 20 of
// 31 users"), for a subject line.
func firstClause(s string) string {
	before, _, _ := strings.Cut(s, ":")
	return before
}
