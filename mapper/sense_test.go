package mapper

import (
	"context"
	"os"
	"testing"

	"github.com/enneo/mailbridge/mapper/autoreply"
)

func TestReadSignals(t *testing.T) {
	const human = "From: Jane <jane@example.org>\r\nSubject: =?UTF-8?Q?Automatische_Antwort:_Urlaub?=\r\n" +
		"Importance: high\r\n\r\nHi\r\n"
	tests := []struct {
		name     string
		raw      string
		file     string
		env      Envelope
		class    autoreply.Class
		priority string
		header   string
	}{
		{name: "fixture auto-reply", file: "testdata/48-auto-reply.eml", class: autoreply.AutoReply},
		{name: "fixture bounce", file: "testdata/47-delivery-status-notification.eml", class: autoreply.Bounce},
		// The subject is matched decoded, as Map decodes it.
		{name: "encoded subject", raw: human, class: autoreply.AutoReply, priority: PriorityHigh, header: "Importance: high"},
		{name: "null envelope", raw: "From: jane@example.org\r\n\r\nHi\r\n", env: Envelope{HasReturnPath: true}, class: autoreply.Bounce},
		{name: "envelope beats header", raw: "From: jane@example.org\r\nReturn-Path: <>\r\n\r\nHi\r\n",
			env: Envelope{ReturnPath: "jane@example.org", HasReturnPath: true}, class: autoreply.Human},
		{name: "header without envelope", raw: "From: jane@example.org\r\nReturn-Path: <>\r\n\r\nHi\r\n", class: autoreply.Bounce},
		{name: "urgent", raw: "From: jane@example.org\r\nPriority: Urgent\r\nX-Priority: 5\r\n\r\nHi\r\n",
			class: autoreply.Human, priority: PriorityUrgent, header: "Priority: Urgent"},
		{name: "no header block", raw: "\r\n", class: autoreply.Human},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			if tt.file != "" {
				var err error
				if raw, err = os.ReadFile(tt.file); err != nil {
					t.Fatal(err)
				}
			}
			var res *Result
			if r, err := Map(context.Background(), raw, Options{}); err == nil {
				res = r
			}
			s := ReadSignals(raw, res, tt.env)
			if s.Verdict.Class != tt.class || s.Priority != tt.priority || s.PriorityHeader != tt.header {
				t.Errorf("got %+v, want class %s, priority %q by %q", s, tt.class, tt.priority, tt.header)
			}
		})
	}
}
