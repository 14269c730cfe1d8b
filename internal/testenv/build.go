package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// buildDir holds the binary MailbridgeBinary builds.
var buildDir string

var buildMailbridge = sync.OnceValues(func() (string, error) {
	var err error
	if buildDir, err = os.MkdirTemp("", "mailbridge-bin-"); err != nil {
		return "", err
	}
	bin := filepath.Join(buildDir, "mailbridge")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/enneo/mailbridge/cmd/mailbridge").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build mailbridge: %v\n%s", err, out)
	}
	return bin, nil
})

// MailbridgeBinary builds mailbridge once per test binary and returns its
// path, for tests that run the daemon as a process (signals, SIGKILL, a
// real listener). It skips the test under -short. A package using it
// calls RemoveBuilds from its TestMain.
func MailbridgeBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the mailbridge binary")
	}
	bin, err := buildMailbridge()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// RemoveBuilds removes what MailbridgeBinary built.
func RemoveBuilds() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}
