package pipeline

import (
	"bytes"
	"encoding/json"

	"github.com/enneo/mailbridge/mailbox"
)

// envelopeFrom is the SMTP envelope's MAIL FROM that source names, or "":
// the mapper's sender of last resort. The queue keeps the source as JSON
// (originJSON); the CLI passes the Origin.
func envelopeFrom(source any) string {
	switch o := source.(type) {
	case mailbox.Origin:
		if o.SMTP != nil {
			return o.SMTP.MailFrom
		}
	case json.RawMessage:
		var v struct {
			SMTP *struct {
				MailFrom string `json:"mailFrom"`
			} `json:"smtp"`
		}
		if bytes.Contains(o, []byte(`"smtp"`)) && json.Unmarshal(o, &v) == nil && v.SMTP != nil {
			return v.SMTP.MailFrom
		}
	}
	return ""
}
