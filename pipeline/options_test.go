package pipeline

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/enneo/mailbridge/mailbox"
)

// A mailbox's process and direction override its subchannel's, field by
// field.
func TestMapperOptionsMailboxOverride(t *testing.T) {
	c := Config{
		Subchannels: map[int]Subchannel{3: {Process: "batch", Direction: "in"}},
		Mailboxes:   map[string]Subchannel{"sent": {Direction: "out"}, "vip": {Process: "realtime"}},
	}
	queued := func(mb string) json.RawMessage {
		b, err := json.Marshal(mailbox.Origin{Source: "imap", IMAP: &mailbox.IMAPOrigin{Mailbox: mb, Folder: "INBOX", UID: 7}})
		if err != nil {
			t.Fatal(err)
		}
		return originJSON(b)
	}
	for _, tt := range []struct {
		name               string
		source             json.RawMessage
		process, direction string
	}{
		{"sent folder", queued("sent"), "batch", "out"},
		{"vip mailbox", queued("vip"), "realtime", "in"},
		{"mailbox without overrides", queued("support"), "batch", "in"},
		{"smtp", originJSON([]byte(`{"source":"smtp","smtp":{"mailFrom":"a@example.org","rcptTo":["vip@example.com"]}}`)), "batch", "in"},
		{"no source", nil, "batch", "in"},
		// mailbridge import: archive mail is never processed, and a Sent
		// folder's mail goes out, over the mailbox's settings.
		{"archive", originJSON([]byte(`{"source":"imap","imap":{"mailbox":"vip","archive":true}}`)), "false", "in"},
		{"archive from Sent", originJSON([]byte(`{"source":"imap","imap":{"mailbox":"support","archive":true,"direction":"out"}}`)), "false", "out"},
	} {
		o := c.MapperOptions(3, time.Time{}, tt.source)
		if o.Process != tt.process || o.Direction != tt.direction {
			t.Errorf("%s: process %q direction %q, want %q %q", tt.name, o.Process, o.Direction, tt.process, tt.direction)
		}
	}
}

// The SMTP envelope's MAIL FROM reaches the mapper as its sender of last
// resort.
func TestMapperOptionsEnvelopeFrom(t *testing.T) {
	var c Config
	for _, tt := range []struct {
		name   string
		source json.RawMessage
		want   string
	}{
		{"queued smtp", originJSON([]byte(`{"source":"smtp","smtp":{"mailFrom":"a@example.org","rcptTo":["b@example.com"]}}`)), "a@example.org"},
		{"queued bounce", originJSON([]byte(`{"source":"smtp","smtp":{"mailFrom":"","rcptTo":["b@example.com"]}}`)), ""},
		{"queued imap", originJSON([]byte(`{"source":"imap","imap":{"mailbox":"support"}}`)), ""},
		{"queued smtp with a name in the file", originJSON([]byte(`{"source":"smtp","file":"x","smtp":{"mailFrom":"c@example.org"}}`)), "c@example.org"},
		{"no source", nil, ""},
	} {
		if got := c.MapperOptions(1, time.Time{}, tt.source).EnvelopeFrom; got != tt.want {
			t.Errorf("%s: EnvelopeFrom %q, want %q", tt.name, got, tt.want)
		}
	}
}

// The origin reaches rawData.source as recorded, and no origin leaves it
// out rather than writing null.
func TestMapperOptionsSource(t *testing.T) {
	var c Config
	if o := c.MapperOptions(1, time.Time{}, nil); o.Source != nil {
		t.Errorf("no origin: Source %#v, want nil", o.Source)
	}
	rec := originJSON([]byte(`{"source":"cli","file":"a.eml"}`))
	if o := c.MapperOptions(1, time.Time{}, rec); string(o.Source.(json.RawMessage)) != string(rec) {
		t.Errorf("Source %#v, want %s", o.Source, rec)
	}
}

// Archive mail's tickets are opened without AI too; other mail's with the
// configured process.
func TestArchiveProcess(t *testing.T) {
	for origin, want := range map[string]string{
		`{"source":"imap","imap":{"mailbox":"support","archive":true}}`: "false",
		`{"source":"imap","imap":{"mailbox":"support"}}`:                "",
		`{"source":"smtp","smtp":{"mailFrom":"a@example.org"}}`:         "",
		``: "",
	} {
		if got := archiveProcess(decodeOrigin([]byte(origin))); got != want {
			t.Errorf("archiveProcess(%s) = %q, want %q", origin, got, want)
		}
	}
}
