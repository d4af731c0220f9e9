package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// MailMessage is a mail sent with SendMail: an HTML body, recipients and
// file attachments.
type MailMessage struct {
	Subject     string
	HTMLBody    string
	To          []string
	Attachments []MailAttachment
}

// MailAttachment is one file attachment.
type MailAttachment struct {
	Name        string
	ContentType string
	Content     []byte
}

// MaxMailAttachments is the largest total of file attachments one
// sendMail request may carry (Graph: ~3 MB inline; larger files need an
// upload session on a draft).
const MaxMailAttachments = 3 << 20

// SendMail sends msg from the mailbox of from (object id or UPN) with POST
// /users/{from}/sendMail (application permission Mail.Send), not saved to
// Sent Items. Graph answers 202 once it accepted the message.
func (c *Client) SendMail(ctx context.Context, from string, msg MailMessage) error {
	type addr struct {
		EmailAddress struct {
			Address string `json:"address"`
		} `json:"emailAddress"`
	}
	type att struct {
		ODataType    string `json:"@odata.type"`
		Name         string `json:"name"`
		ContentType  string `json:"contentType"`
		ContentBytes string `json:"contentBytes"`
	}
	var body struct {
		Message struct {
			Subject string `json:"subject"`
			Body    struct {
				ContentType string `json:"contentType"`
				Content     string `json:"content"`
			} `json:"body"`
			ToRecipients []addr `json:"toRecipients"`
			Attachments  []att  `json:"attachments,omitempty"`
		} `json:"message"`
		SaveToSentItems bool `json:"saveToSentItems"`
	}
	m := &body.Message
	m.Subject, m.Body.ContentType, m.Body.Content = msg.Subject, "HTML", msg.HTMLBody
	for _, to := range msg.To {
		var a addr
		a.EmailAddress.Address = to
		m.ToRecipients = append(m.ToRecipients, a)
	}
	for _, a := range msg.Attachments {
		m.Attachments = append(m.Attachments, att{ODataType: "#microsoft.graph.fileAttachment", Name: a.Name, ContentType: a.ContentType,
			ContentBytes: base64.StdEncoding.EncodeToString(a.Content)})
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, call{op: "POST /users/{id}/sendMail", method: abs.POST, url: c.base + userPath(from) + "/sendMail", body: raw, ru: 1, w: 1})
	return err
}
