package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileSubject sets the terminal's title, clears the screen, returns
// the cursor to overwrite the line, forges a second table row and turns
// the rest of the line around with a bidi override.
const hostileSubject = "\x1b]0;pwned\x07\x1b[2J\rInvoice\n99  queued  4  0  2026-01-01 00:00:00  boss@example.com  pay \u202efdp.exe"

// writeHostileMail writes a message whose Subject and From display name,
// once their encoded-words are decoded, carry control characters, as do
// its Message-ID and its charset.
func writeHostileMail(t *testing.T) string {
	t.Helper()
	enc := func(s string) string { return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=" }
	msg := fmt.Sprintf("From: %s <mallory@example.org>\r\nTo: support@example.com\r\nSubject: %s\r\n"+
		"Message-ID: <hostile\x1b[2J\u202e@example.org>\r\nDate: Mon, 10 Mar 2025 08:05:33 +0000\r\n"+
		"Content-Type: text/plain; charset=\"\x1b]0;pwned\x07\"\r\n\r\nHello.\r\n",
		enc("Mallory\x1b[2J"), enc(hostileSubject))
	path := filepath.Join(t.TempDir(), "hostile.eml")
	if err := os.WriteFile(path, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawControl reports the first control character or bidi override in s
// other than a newline or a tab.
func rawControl(s string) (rune, bool) {
	for _, r := range s {
		if r == '\n' || r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			return r, true
		}
	}
	return 0, false
}

// queue list and queue show print a hostile Subject and From with their
// control characters escaped: one row per message, nothing for the
// terminal to act on. JSON output stays JSON.
func TestQueueOutputEscapesControlCharacters(t *testing.T) {
	cfg := writeConfig(t, "")
	eml := writeHostileMail(t)
	if code, out, errb := run(t, "deliver", "-c", cfg, "--enqueue-only", eml); code != exitOK {
		t.Fatalf("deliver: exit %d\n%s\n%s", code, out, errb)
	}

	code, list, errb := run(t, "queue", "-c", cfg, "list")
	if code != exitOK {
		t.Fatalf("queue list: exit %d: %s", code, errb)
	}
	if r, ok := rawControl(list); ok {
		t.Errorf("queue list prints %U raw:\n%q", r, list)
	}
	if n := strings.Count(list, "\n"); n != 2 {
		t.Errorf("queue list has %d lines, want the header and one row:\n%s", n, list)
	}
	for _, want := range []string{`\x1b]0;pwned\x07\x1b[2J\rInvoice\n99`, `Mallory\x1b[2J`} {
		if !strings.Contains(list, want) {
			t.Errorf("queue list lacks %q:\n%s", want, list)
		}
	}

	code, show, errb := run(t, "queue", "-c", cfg, "show", "1")
	if code != exitOK {
		t.Fatalf("queue show: exit %d: %s", code, errb)
	}
	if r, ok := rawControl(show); ok {
		t.Errorf("queue show prints %U raw:\n%q", r, show)
	}
	for _, want := range []string{`\x1b]0;pwned\x07\x1b[2J\rInvoice\n99  queued`, `pay \u202efdp.exe`, `Mallory\x1b[2J`,
		`hostile\x1b[2J\u202e@example.org`} {
		if !strings.Contains(show, want) {
			t.Errorf("queue show lacks %q:\n%s", want, show)
		}
	}
	if n := strings.Count(show, "\n"); n != 17 {
		t.Errorf("queue show has %d lines, want one per field (17):\n%s", n, show)
	}

	// --raw is the message as stored, for piping, not for reading.
	if _, raw, _ := run(t, "queue", "-c", cfg, "show", "--raw", "1"); !strings.Contains(raw, "Subject: =?UTF-8?B?") {
		t.Errorf("queue show --raw changed the message:\n%s", raw)
	}

	// parse --explain: stdout is the JSON payload, escaped by encoding/json;
	// the explanation on stderr is escaped like the rest.
	code, payload, explain := run(t, "parse", "-c", cfg, "--explain", eml)
	if code != exitOK {
		t.Fatalf("parse: exit %d: %s", code, explain)
	}
	if !json.Valid([]byte(payload)) || strings.ContainsAny(payload, "\x1b\x07\r") {
		t.Errorf("parse's JSON is not encoding/json's:\n%q", payload)
	}
	if r, ok := rawControl(explain); ok {
		t.Errorf("parse --explain prints %U raw:\n%q", r, explain)
	}
	for _, want := range []string{`externalConversationId: hostile\x1b[2J\u202e@example.org`} {
		if !strings.Contains(explain, want) {
			t.Errorf("parse --explain lacks %q:\n%s", want, explain)
		}
	}
}

// An error may quote what it was given; the line that reports it shows
// control characters escaped, and keeps the lines of a multi-line error.
func TestErrorLineEscapesControlCharacters(t *testing.T) {
	code, stdout, stderr := run(t, "check", "-c", "/nonexistent/\x1b]0;pwned\x07\u202e.yaml")
	if code != exitUsage || stdout != "" {
		t.Fatalf("check: exit %d, stdout %q", code, stdout)
	}
	if r, ok := rawControl(stderr); ok || !strings.Contains(stderr, `/nonexistent/\x1b]0;pwned\x07\u202e.yaml`) {
		t.Errorf("stderr holds %U raw, or lacks the escaped name:\n%q", r, stderr)
	}

	path := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(path, []byte("subchannels:\n  - id: 4\n    procces: batch\ndelivery:\n  lease: 5 minutes\n"), 0o600)
	if _, _, stderr := run(t, "check", "-c", path); strings.Count(stderr, "\n") != 2 {
		t.Errorf("a two-line error is not two lines:\n%s", stderr)
	}
}
