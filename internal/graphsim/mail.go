package graphsim

import (
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// Mail is one message accepted by POST /users/{id|upn}/sendMail, as the
// outbox (Server.Outbox, GET /_sim/outbox) records it.
type Mail struct {
	// From is the sender's userPrincipalName, FromAddress its mail.
	From, FromAddress string
	Subject           string
	// ContentType is the body's (Text or HTML).
	ContentType, Body string
	To, Cc, Bcc       []string
	Attachments       []MailAttachment
	SaveToSentItems   bool
	// MIME is the decoded message of a MIME-format send (the other fields
	// are then empty).
	MIME   string
	SentAt time.Time
}

// MailAttachment is one file attachment.
type MailAttachment struct {
	Name        string
	ContentType string
	Content     []byte
}

// maxInlineAttachments is the largest total of file attachments one
// sendMail request carries; larger files need an upload session on a
// draft (GRAPH.md: ~3 MB per request).
const maxInlineAttachments = 3 << 20

// Outbox returns the mails sent so far, oldest first.
func (s *Server) Outbox() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.st.outbox...)
}

// ClearOutbox forgets the mails sent so far.
func (s *Server) ClearOutbox() {
	s.mu.Lock()
	s.st.outbox = nil
	s.mu.Unlock()
}

type wireMail struct {
	Message *struct {
		Subject string `json:"subject"`
		Body    *struct {
			ContentType string `json:"contentType"`
			Content     string `json:"content"`
		} `json:"body"`
		ToRecipients  []wireRecipient `json:"toRecipients"`
		CcRecipients  []wireRecipient `json:"ccRecipients"`
		BccRecipients []wireRecipient `json:"bccRecipients"`
		Attachments   []struct {
			ODataType    string `json:"@odata.type"`
			Name         string `json:"name"`
			ContentType  string `json:"contentType"`
			ContentBytes string `json:"contentBytes"`
		} `json:"attachments"`
	} `json:"message"`
	// SaveToSentItems is a boolean, or its text (Graph's own examples send "false").
	SaveToSentItems any `json:"saveToSentItems"`
}

type wireRecipient struct {
	EmailAddress struct {
		Address string `json:"address"`
		Name    string `json:"name"`
	} `json:"emailAddress"`
}

// hSendMail is POST /users/{id|upn}/sendMail: validates the message as
// Graph does, refuses senders without an Exchange mailbox (in the
// emulator: a user without a mail address), and answers 202 with no body.
func hSendMail(s *Server, c *call) gresp {
	var m Mail
	if strings.HasPrefix(strings.ToLower(c.hdr.Get("Content-Type")), "text/plain") {
		// MIME format: the body is the base64-encoded MIME message.
		mime := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, string(c.body))
		dec, err := base64.StdEncoding.DecodeString(mime)
		if mime == "" || err != nil || !strings.Contains(strings.ToLower(string(dec)), "to:") {
			return c.errResp(badRequest("ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."))
		}
		m.MIME = string(dec)
	} else {
		var body wireMail
		if gerr := decodeJSONBody(c, &body); gerr != nil {
			return c.errResp(gerr)
		}
		var gerr *gerror
		if m, gerr = body.mail(); gerr != nil {
			return c.errResp(gerr)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.writeUserLocked(c.segs[1])
	if r == nil {
		return c.errResp(&gerror{status: 404, code: "ErrorInvalidUser", msg: fmt.Sprintf("The requested user '%s' is invalid.", c.segs[1])})
	}
	if r.u.Mail == "" {
		return c.errResp(&gerror{status: 404, code: "MailboxNotEnabledForRESTAPI", msg: "The mailbox is either inactive, soft-deleted, or is hosted on-premise."})
	}
	m.From, m.FromAddress, m.SentAt = r.u.UserPrincipalName, r.u.Mail, s.nowLocked().UTC()
	s.st.outbox = append(s.st.outbox, m)
	s.cnt.mails++
	return gresp{status: 202}
}

// mail validates a JSON sendMail body.
func (w *wireMail) mail() (Mail, *gerror) {
	msg := w.Message
	if msg == nil {
		return Mail{}, badRequest("ErrorInvalidRecipients", "At least one recipient is required, but none were found.")
	}
	m := Mail{Subject: msg.Subject, ContentType: "Text"}
	if b := msg.Body; b != nil {
		switch strings.ToLower(b.ContentType) {
		case "", "text":
		case "html":
			m.ContentType = "HTML"
		default:
			return Mail{}, badRequest("RequestBodyRead", fmt.Sprintf("Requested value '%s' was not found.", b.ContentType))
		}
		m.Body = b.Content
	}
	var gerr *gerror
	for _, list := range []struct {
		in  []wireRecipient
		out *[]string
	}{{msg.ToRecipients, &m.To}, {msg.CcRecipients, &m.Cc}, {msg.BccRecipients, &m.Bcc}} {
		for _, r := range list.in {
			addr := strings.TrimSpace(r.EmailAddress.Address)
			if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr {
				gerr = badRequest("ErrorInvalidRecipients", fmt.Sprintf("At least one recipient is not valid., Recipient '%s' is not resolved. All recipients must be resolved before a message can be submitted.", addr))
			}
			*list.out = append(*list.out, addr)
		}
	}
	switch {
	case gerr != nil:
		return Mail{}, gerr
	case len(m.To)+len(m.Cc)+len(m.Bcc) == 0:
		return Mail{}, badRequest("ErrorInvalidRecipients", "At least one recipient is required, but none were found.")
	}
	size := 0
	for _, a := range msg.Attachments {
		if a.ODataType != "#microsoft.graph.fileAttachment" {
			return Mail{}, badRequest("RequestBodyRead", fmt.Sprintf("Cannot create an abstract class or an unsupported attachment type '%s'; use #microsoft.graph.fileAttachment.", a.ODataType))
		}
		content, err := base64.StdEncoding.DecodeString(a.ContentBytes)
		if err != nil || a.Name == "" {
			return Mail{}, badRequest("RequestBodyRead", "A file attachment needs a name and base64 contentBytes.")
		}
		size += len(content)
		m.Attachments = append(m.Attachments, MailAttachment{Name: a.Name, ContentType: a.ContentType, Content: content})
	}
	if size > maxInlineAttachments {
		return Mail{}, &gerror{status: 413, code: "RequestEntityTooLarge",
			msg: fmt.Sprintf("The attachments total %d bytes; a sendMail request carries at most %d: larger files need an upload session on a draft message.", size, maxInlineAttachments)}
	}
	switch v := w.SaveToSentItems.(type) {
	case bool:
		m.SaveToSentItems = v
	case string:
		m.SaveToSentItems = !strings.EqualFold(v, "false")
	case nil:
		m.SaveToSentItems = true
	}
	return m, nil
}
