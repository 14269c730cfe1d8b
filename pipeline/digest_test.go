package pipeline

import (
	"bytes"
	"strings"
	"testing"
)

// digestBase is a mail as its author's server sent it.
const digestBase = "From: Alice <alice@example.org>\n" +
	"To: support@example.com\n" +
	"Subject: My order\n" +
	"Date: Mon, 6 May 2024 10:00:00 +0200\n" +
	"Message-ID: <order-1@example.org>\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: text/plain; charset=utf-8\n" +
	"\n" +
	"Hello,\n" +
	"From what I can see the order did not arrive.\n" +
	"\n" +
	"Alice\n"

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// TestContentDigestSameMail: what routes, MTAs and mailboxes change about
// a mail leaves its digest alone.
func TestContentDigestSameMail(t *testing.T) {
	want := contentDigest([]byte(digestBase))
	for _, tt := range []struct{ name, raw string }{
		{"crlf", crlf(digestBase)},
		{"trace headers", "Received: from mx1.example.org by mx.example.com; Mon, 6 May 2024 10:00:01 +0200\n" +
			"Received: from [10.0.0.1] by mx1.example.org; Mon, 6 May 2024 10:00:00 +0200\n" +
			"Return-Path: <alice@example.org>\n" +
			"Delivered-To: support@example.com\n" +
			"X-Original-To: support@example.com\n" +
			"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1;\n\tb=AAAA\n" +
			"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.com; s=arc; b=BBBB\n" +
			"ARC-Authentication-Results: i=1; mx.example.com; dkim=pass\n" +
			"Authentication-Results: mx.example.com; dkim=pass header.d=example.org\n" +
			"X-Spam-Status: No, score=-0.1\n" +
			"X-Spam-Score: -0.1\n" +
			digestBase},
		{"mailbox headers", strings.Replace(digestBase, "\n\n", "\nStatus: RO\nX-Status: A\nX-Keywords: $Label1\nX-UID: 42\n\n", 1)},
		{"mbox From line and escaping", "From alice@example.org Mon May  6 10:00:02 2024\n" +
			strings.Replace(digestBase, "\nFrom what", "\n>From what", 1)},
		{"trailing newlines", digestBase + "\n\n"},
		{"no trailing newline", strings.TrimSuffix(digestBase, "\n")},
		{"crlf and trailing crlf", crlf(digestBase) + "\r\n"},
		{"folded and spaced", strings.Replace(digestBase, "Subject: My order\n", "Subject:   My\n\t  order  \n", 1)},
		{"field order", strings.Replace(strings.Replace(digestBase, "To: support@example.com\n", "", 1),
			"Date:", "To: support@example.com\nDate:", 1)},
		{"field name case", strings.Replace(digestBase, "Message-ID:", "Message-Id:", 1)},
	} {
		if got := contentDigest([]byte(tt.raw)); !bytes.Equal(got, want) {
			t.Errorf("%s: digest differs from the mail's as sent", tt.name)
		}
	}
}

// TestContentDigestDifferentMail: what the conversation is made of
// changes the digest.
func TestContentDigestDifferentMail(t *testing.T) {
	base := contentDigest([]byte(digestBase))
	seen := map[string]string{}
	for _, tt := range []struct{ name, raw string }{
		{"body", strings.Replace(digestBase, "did not arrive", "arrived broken", 1)},
		{"body line break", strings.Replace(digestBase, "Hello,\n", "Hello, ", 1)},
		{"body leading space", strings.Replace(digestBase, "Alice\n", " Alice\n", 1)},
		{"body blank line inside", strings.Replace(digestBase, "\n\nAlice", "\n\n\nAlice", 1)},
		{"subject", strings.Replace(digestBase, "My order", "My order!", 1)},
		{"from", strings.Replace(digestBase, "Alice <alice@", "Mallory <alice@", 1)},
		{"to", strings.Replace(digestBase, "To: support@", "To: sales@", 1)},
		{"cc added", strings.Replace(digestBase, "\n\n", "\nCc: bob@example.org\n\n", 1)},
		{"reply-to added", strings.Replace(digestBase, "\n\n", "\nReply-To: mallory@example.net\n\n", 1)},
		{"in-reply-to added", strings.Replace(digestBase, "\n\n", "\nIn-Reply-To: <x@example.com>\n\n", 1)},
		{"date", strings.Replace(digestBase, "10:00:00", "10:00:01", 1)},
		{"content-type", strings.Replace(digestBase, "text/plain", "text/html", 1)},
		{"auto-submitted added", strings.Replace(digestBase, "\n\n", "\nAuto-Submitted: auto-replied\n\n", 1)},
		{"header moved into the body", strings.Replace(digestBase, "Subject: My order\n", "", 1) + "Subject: My order\n"},
		{"no body", digestBase[:strings.Index(digestBase, "\n\n")+2]},
		// The value of a field must not run into the next one's.
		{"value boundary", strings.Replace(digestBase, "To: support@example.com\nSubject: My order",
			"To: support@example.com Subject: My order", 1)},
	} {
		got := string(contentDigest([]byte(tt.raw)))
		if got == string(base) {
			t.Errorf("%s: digest is the mail's as sent", tt.name)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("%s and %s digest the same", tt.name, other)
		}
		seen[got] = tt.name
	}
}

func BenchmarkContentDigest(b *testing.B) {
	raw := []byte(crlf(digestBase + strings.Repeat("Some text of a customer's mail, long enough to matter.\n", 360)))
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		contentDigest(raw)
	}
}
