package graphsim

import (
	"encoding/base64"
	"strings"
	"testing"
)

// sendMail validates the message as Graph documents it, answers 202 with
// no body, records the mail in the outbox, and refuses senders without a
// mailbox and unknown senders.
func TestSendMail(t *testing.T) {
	s := New(Options{})
	sender := s.PutUser(User{UserPrincipalName: "notices@contoso.com", DisplayName: "Notices", MailNickname: "notices", AccountEnabled: true, Mail: "notices@contoso.com"})
	noBox := s.PutUser(User{UserPrincipalName: "nobox@contoso.com", DisplayName: "No box", MailNickname: "nobox", AccountEnabled: true})
	c := newRaw(t, s)
	to := []any{map[string]any{"emailAddress": map[string]any{"address": "secops@contoso.com"}}}
	csv := base64.StdEncoding.EncodeToString([]byte("user,outcome\r\na@contoso.com,Disabled\r\n"))
	good := map[string]any{"message": map[string]any{
		"subject": "Batch done", "body": map[string]any{"contentType": "HTML", "content": "<p>done</p>"}, "toRecipients": to,
		"attachments": []any{map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "name": "audit.csv", "contentType": "text/csv", "contentBytes": csv}},
	}, "saveToSentItems": "false"}

	if r := c.do("POST", "/users/"+sender.UserPrincipalName+"/sendMail", good); r.status != 202 || len(r.body) != 0 {
		t.Fatalf("send: %d %s; want 202 and no body", r.status, r.body)
	}
	out := s.Outbox()
	if len(out) != 1 || out[0].From != sender.UserPrincipalName || out[0].Subject != "Batch done" || out[0].ContentType != "HTML" ||
		strings.Join(out[0].To, ",") != "secops@contoso.com" || len(out[0].Attachments) != 1 ||
		!strings.Contains(string(out[0].Attachments[0].Content), "Disabled") || out[0].SaveToSentItems {
		t.Fatalf("outbox %+v", out)
	}

	for _, tc := range []struct {
		name, user string
		body       any
		status     int
		code       string
	}{
		{"no recipients", sender.ID, map[string]any{"message": map[string]any{"subject": "x"}}, 400, "ErrorInvalidRecipients"},
		{"bad address", sender.ID, map[string]any{"message": map[string]any{"toRecipients": []any{map[string]any{"emailAddress": map[string]any{"address": "not an address"}}}}}, 400, "ErrorInvalidRecipients"},
		{"bad body type", sender.ID, map[string]any{"message": map[string]any{"toRecipients": to, "body": map[string]any{"contentType": "Markdown"}}}, 400, "RequestBodyRead"},
		{"bad attachment", sender.ID, map[string]any{"message": map[string]any{"toRecipients": to,
			"attachments": []any{map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a", "contentBytes": "%%%"}}}}, 400, "RequestBodyRead"},
		{"too large", sender.ID, map[string]any{"message": map[string]any{"toRecipients": to,
			"attachments": []any{map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "name": "big.csv",
				"contentBytes": base64.StdEncoding.EncodeToString(make([]byte, maxInlineAttachments+1))}}}}, 413, "RequestEntityTooLarge"},
		{"no mailbox", noBox.ID, good, 404, "MailboxNotEnabledForRESTAPI"},
		{"unknown sender", "ghost@contoso.com", good, 404, "ErrorInvalidUser"},
	} {
		if r := c.do("POST", "/users/"+tc.user+"/sendMail", tc.body); r.status != tc.status || r.errCode(t) != tc.code {
			t.Errorf("%s: %d %s; want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}
	if n := len(s.Outbox()); n != 1 {
		t.Errorf("refused sends reached the outbox: %d mails", n)
	}
	if c := s.Counters(); c.MailsSent != 1 {
		t.Errorf("mailsSent %d, want 1", c.MailsSent)
	}
	s.ClearOutbox()
	if len(s.Outbox()) != 0 {
		t.Error("outbox not cleared")
	}
}
