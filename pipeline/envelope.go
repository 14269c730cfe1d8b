package pipeline

import (
	"bytes"
	"encoding/json"
)

// The queue keeps a message's origin as the JSON of its mailbox.Origin
// (originJSON). Delivery reads two facts from it for every message, so each
// is decoded alone, and only when the JSON names its source at all.

// smtpMailFrom is the SMTP envelope's MAIL FROM that origin records; ok is
// false when the message did not come over SMTP. An empty MAIL FROM with ok
// is the null sender of a bounce.
func smtpMailFrom(origin json.RawMessage) (from string, ok bool) {
	var v struct {
		SMTP *struct {
			MailFrom string `json:"mailFrom"`
		} `json:"smtp"`
	}
	if bytes.Contains(origin, []byte(`"smtp"`)) && json.Unmarshal(origin, &v) == nil && v.SMTP != nil {
		return v.SMTP.MailFrom, true
	}
	return "", false
}

// envelopeFrom is the SMTP envelope's MAIL FROM, or "": the mapper's
// sender of last resort.
func envelopeFrom(origin json.RawMessage) string {
	from, _ := smtpMailFrom(origin)
	return from
}

// imapOrigin is what the mapping reads of an IMAP message's origin.
type imapOrigin struct {
	Mailbox   string `json:"mailbox"`
	Archive   bool   `json:"archive"`
	Direction string `json:"direction"`
}

// imapSource is what an IMAP message's origin says of its mailbox, and
// whether it is archive mail (mailbridge import); zero for other sources.
func imapSource(origin json.RawMessage) imapOrigin {
	var v struct {
		IMAP *imapOrigin `json:"imap"`
	}
	if bytes.Contains(origin, []byte(`"imap"`)) && json.Unmarshal(origin, &v) == nil && v.IMAP != nil {
		return *v.IMAP
	}
	return imapOrigin{}
}
