package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/mailbox"
)

// sharedID is the Message-ID two different mails claim.
const sharedID = "shared@example.org"

func sharedMail(body string) string {
	return "From: Jane Doe <jane@example.org>\r\nTo: support@example.com\r\n" +
		"Subject: my order\r\nDate: Sun, 01 Mar 2026 11:00:00 +0000\r\nMessage-ID: <" + sharedID + ">\r\n" +
		"\r\n" + body + "\r\n"
}

func (h *harness) ingestFrom(raw string, o mailbox.Origin) mailbox.Receipt {
	h.t.Helper()
	o.ReceivedAt = h.clock.Now()
	r, err := h.p.Ingest(context.Background(), mailbox.Message{Raw: []byte(raw), SubchannelID: 4, Origin: o})
	if err != nil {
		h.t.Fatalf("Ingest: %v", err)
	}
	return r
}

// Two different mails under one Message-ID become two conversations, the
// second under a derived id; each one's re-sends, by SMTP with other
// Received headers or read over IMAP with LF line endings and a
// mailbox's headers, stay one.
func TestSameMessageIDDifferentContent(t *testing.T) {
	h := newHarness(t)
	smtp := mailbox.Origin{Source: "smtp", SMTP: &mailbox.SMTPOrigin{MailFrom: "jane@example.org", RcptTo: []string{"support@example.com"}}}
	imap := mailbox.Origin{Source: "imap", IMAP: &mailbox.IMAPOrigin{Mailbox: "support", Folder: "INBOX", UID: 7}}
	real := sharedMail("My order 1234 did not arrive.")
	forged := sharedMail("Please send the refund to account 666.")

	first := h.ingestFrom("Received: from mx1.example.org by mx.example.com; Sun, 01 Mar 2026 11:00:01 +0000\r\n"+real, smtp)
	if first.Duplicate || first.ExternalID != sharedID {
		t.Fatalf("first = %+v, want queued under %s", first, sharedID)
	}
	resent := "Received: from mx2.example.org by mx.example.com; Sun, 01 Mar 2026 11:05:00 +0000\r\n" +
		"Received: from relay.example.net by mx2.example.org; Sun, 01 Mar 2026 11:04:00 +0000\r\n" + real
	if r := h.ingestFrom(resent, smtp); !r.Duplicate || r.QueueID != first.QueueID || r.ExternalID != sharedID {
		t.Fatalf("re-send by another route = %+v, want a duplicate of %d", r, first.QueueID)
	}

	second := h.ingestFrom(forged, smtp)
	if second.Duplicate || second.QueueID == first.QueueID || second.ExternalID != sharedID+"#2" {
		t.Fatalf("different content = %+v, want queued under %s#2", second, sharedID)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "level=WARN msg=\"different content under a Message-ID already queued") ||
		!strings.Contains(logs, "external_id="+sharedID+"#2") {
		t.Errorf("no warning naming both ids:\n%s", logs)
	}
	// The same forged mail read over IMAP: LF line endings, the
	// delivering server's trace and the mailbox's flags.
	overIMAP := "Return-Path: <jane@example.org>\nDelivered-To: support@example.com\nX-Original-To: support@example.com\n" +
		strings.ReplaceAll(strings.Replace(forged, "\r\n\r\n", "\r\nStatus: RO\r\nX-UID: 7\r\n\r\n", 1), "\r\n", "\n")
	if r := h.ingestFrom(overIMAP, imap); !r.Duplicate || r.QueueID != second.QueueID || r.ExternalID != sharedID+"#2" {
		t.Fatalf("re-send of the second over IMAP = %+v, want a duplicate of %d", r, second.QueueID)
	}

	if n := h.drain(); n != 2 {
		t.Fatalf("attempted %d messages, want 2", n)
	}
	convs := h.api.Conversations()
	if len(convs) != 2 {
		t.Fatalf("API has %d conversations, want 2", len(convs))
	}
	bodies := map[string]string{}
	for _, c := range convs {
		bodies[c.Payload.ExternalConversationID] = c.Payload.BodyPlain
	}
	if !strings.Contains(bodies[sharedID], "1234") || !strings.Contains(bodies[sharedID+"#2"], "666") {
		t.Errorf("conversations by externalConversationId = %q", bodies)
	}
	// The derived id is the conversation's, not the thread's: both mails
	// start the thread of their Message-ID, where an agent sees them side
	// by side and replies to the Message-ID go.
	if tickets := h.api.Tickets(); len(tickets) != 1 || tickets[0].ExternalTicketID != TicketKey(4, sharedID) ||
		convs[0].TicketID != tickets[0].ID || convs[1].TicketID != tickets[0].ID {
		t.Errorf("tickets = %+v, conversations on %d and %d; want both on one keyed %s",
			tickets, convs[0].TicketID, convs[1].TicketID, sharedID)
	}
	if m := h.get(second.QueueID); m.ExternalID != sharedID+"#2" || m.MessageID != sharedID {
		t.Errorf("queued as %q with Message-ID %q", m.ExternalID, m.MessageID)
	}

	// After delivery and a restart, re-sends are still duplicates.
	h.crash()
	if r := h.ingestFrom(forged, smtp); !r.Duplicate || r.QueueID != second.QueueID {
		t.Fatalf("re-send of the second after restart = %+v, want a duplicate of %d", r, second.QueueID)
	}
	if r := h.ingestFrom(sharedMail("A third text."), smtp); r.Duplicate || r.ExternalID != sharedID+"#3" {
		t.Fatalf("third content = %+v, want queued under %s#3", r, sharedID)
	}
}

// A different mail under a taken Message-ID that answers a thread is
// stored on that thread's ticket; a reply to the shared Message-ID goes
// to the ticket of the mail queued under it first.
func TestDerivedIDThreads(t *testing.T) {
	h := newHarnessConfig(t, threadConfig())
	root := h.ingestTo(chainMail{id: "root@example.org", subject: "order"})
	h.ingestTo(chainMail{id: "reply@example.org", subject: "Re: order", inReplyTo: "root@example.org"})
	h.drain()
	other := chainMail{id: "reply@example.org", subject: "Re: order (again)", inReplyTo: "root@example.org"}
	if r := h.ingestTo(other); r.ExternalID != "reply@example.org#2" {
		t.Fatalf("different reply = %+v, want queued under reply@example.org#2", r)
	}
	h.ingestTo(chainMail{id: "answer@example.org", subject: "Re: order", inReplyTo: "reply@example.org"})
	h.drain()

	rootTicket := h.get(root.QueueID).TicketID
	for _, c := range h.api.Conversations() {
		if int64(c.TicketID) != rootTicket {
			t.Errorf("%s on ticket %d, want the thread's %d", c.Payload.ExternalConversationID, c.TicketID, rootTicket)
		}
	}
	if n := len(h.api.Conversations()); n != 4 {
		t.Errorf("API has %d conversations, want 4", n)
	}
}
