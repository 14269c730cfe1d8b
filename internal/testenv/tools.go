package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// LookTool returns the path of a program an end-to-end test needs. When
// it is missing the test is skipped, or failed when end-to-end tests are
// required (MAILBRIDGE_E2E=1, as in CI), so that CI cannot pass by
// skipping them.
func LookTool(t testing.TB, name string, fallbacks ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range fallbacks {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	skipMissing(t, "%s is not installed", name)
	return ""
}

// skipMissing skips the test for want of what format says, or fails it
// when end-to-end tests are required (MAILBRIDGE_E2E=1, as in CI), so that
// CI cannot pass by skipping them.
func skipMissing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("MAILBRIDGE_E2E") == "1" {
		t.Fatalf("MAILBRIDGE_E2E=1 but "+format, args...)
	}
	t.Skipf(format+" (scripts/install-test-deps installs it)", args...)
}
