package api

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestDryRunStoreConversation(t *testing.T) {
	d := DryRun{Dir: filepath.Join(t.TempDir(), "data", "outbox")}
	conv := testConversation()
	var want bytes.Buffer
	if err := conv.WriteJSON(&want); err != nil {
		t.Fatal(err)
	}

	res, err := d.StoreConversation(testContext(t), 42, conv)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := d.StoreConversation(testContext(t), 42, conv)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || res.TicketID != 42 || res.ConversationID <= 0 || res2.ConversationID <= res.ConversationID {
		t.Errorf("results %+v, %+v", res, res2)
	}

	files := dirFiles(t, d.Dir, 2)
	name := regexp.MustCompile(`^\d{8}-\d{6}\.\d{9}-ticket42-CAFoo_bar_mail\.example\.com\.json$`)
	for _, f := range files {
		if !name.MatchString(f.Name()) {
			t.Errorf("file name %q", f.Name())
		}
		b, err := os.ReadFile(filepath.Join(d.Dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want.Bytes()) {
			t.Errorf("%s holds\n%s\nwant\n%s", f.Name(), b, want.Bytes())
		}
	}
	if fi, err := os.Stat(d.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}

func TestDryRunCreateTicket(t *testing.T) {
	d := DryRun{Dir: t.TempDir(), Ticket: TicketOptions{
		Fields: []string{"subject", "externalTicketId", "cc"},
		Static: map[string]any{"channel": "email"},
	}}
	nt := &NewTicket{Subject: "Meter reading", ExternalTicketID: "<CAFoo@mail.example.com>"}

	id, err := d.CreateTicket(testContext(t), nt)
	if err != nil {
		t.Fatal(err)
	}
	again, err := d.CreateTicket(testContext(t), nt)
	if err != nil {
		t.Fatal(err)
	}
	other, err := d.CreateTicket(testContext(t), &NewTicket{ExternalTicketID: "<other@mail.example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	if id <= 0 || id >= 1<<53 || again != id || other == id {
		t.Errorf("ids %d, %d (same mail), %d (other mail)", id, again, other)
	}

	files := dirFiles(t, d.Dir, 3)
	name := regexp.MustCompile(`^\d{8}-\d{6}\.\d{9}-(CAFoo_mail|other_mail)\.example\.com-new-ticket\.json$`)
	for _, f := range files {
		if !name.MatchString(f.Name()) {
			t.Errorf("file name %q", f.Name())
		}
	}
	b, err := os.ReadFile(filepath.Join(d.Dir, files[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"channel":"email","subject":"Meter reading","externalTicketId":"<CAFoo@mail.example.com>"}`; !jsonEqual(t, b, []byte(want)) {
		t.Errorf("ticket body %s, want %s", b, want)
	}

	d.Ticket.Fields = []string{"priority"}
	if _, err := d.CreateTicket(testContext(t), nt); Classify(err) != Permanent {
		t.Errorf("unknown field: %v (%v), want a permanent error", err, Classify(err))
	}
}

func TestDryRunSubchannels(t *testing.T) {
	if _, err := (DryRun{Dir: t.TempDir()}).Subchannels(testContext(t)); !errors.Is(err, ErrDryRun) {
		t.Errorf("err = %v, want ErrDryRun", err)
	}
}

func TestDryRunUnwritableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (DryRun{Dir: file}).StoreConversation(testContext(t), 42, testConversation()); err == nil {
		t.Error("storing into a file as directory worked")
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"<CAFoo+bar@mail.example.com>": "CAFoo_bar_mail.example.com",
		"../../etc/passwd":             "etc_passwd",
		"":                             "none",
		"<>":                           "none",
		"Grüße@例え.jp":                  "Gr__e___.jp",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := sanitize(string(bytes.Repeat([]byte("a"), 300))); len(got) != 100 {
		t.Errorf("sanitize kept %d bytes of 300", len(got))
	}
}

// dirFiles returns the n files of dir, checking that each is private and
// that no temporary file was left behind.
func dirFiles(t *testing.T, dir string, n int) []os.DirEntry {
	t.Helper()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != n {
		t.Fatalf("%d files in %s, want %d: %v", len(files), dir, n, files)
	}
	for _, f := range files {
		fi, err := f.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f.Name(), fi.Mode().Perm())
		}
	}
	return files
}
