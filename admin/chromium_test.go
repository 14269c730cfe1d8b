package admin

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium finds Debian's headless-capable browser (scripts/install-test-deps
// installs it).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH; scripts/install-test-deps installs it")
	return ""
}

// headless runs Chromium on url with args and returns its standard output.
func headless(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestStatusPageInChromium renders the status page of a running instance
// the way a person's browser does, at a phone's width, and keeps a
// screenshot: MAILBRIDGE_STATUS_PNG=../docs/status.png go test -run
// Chromium ./admin renews the one in docs.
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	i := start(t)
	i.deadLetter("chromium@example.org")

	dom := string(headless(t, bin, i.admin.URL+"/", "--dump-dom"))
	for _, want := range []string{"support / INBOX", "sales / INBOX", "login refused", "listening",
		"<b>1</b><span>dead</span>", "help chromium@example.org", "store_conversation"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}

	png := os.Getenv("MAILBRIDGE_STATUS_PNG")
	if png == "" {
		png = filepath.Join(t.TempDir(), "status.png")
	}
	png, err := filepath.Abs(png)
	if err != nil {
		t.Fatal(err)
	}
	headless(t, bin, i.admin.URL+"/", "--screenshot="+png, "--window-size=412,1500", "--force-device-scale-factor=1")
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 10<<10 {
		t.Errorf("screenshot %s: %d bytes, not a PNG of a page", png, len(b))
	}
}
