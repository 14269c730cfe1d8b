package sqlite

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSpoolDirEntryHelper is run by TestSpoolDirEntrySyncedBeforeCommit in
// a child process under strace: it opens a fresh store and enqueues one
// spooled message.
func TestSpoolDirEntryHelper(t *testing.T) {
	dir := os.Getenv("MAILBRIDGE_SPOOL_HELPER_DIR")
	if dir == "" {
		t.Skip("helper")
	}
	s, err := Open(t.Context(), filepath.Join(dir, "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	enqueueOK(t, s, spoolMessage("big", spoolAbove+1))
}

// The spool directory's own entry, made by os.Mkdir when the store opens,
// is fsynced in the database's directory before the first spooled row
// commits: otherwise a crash could take away the whole directory, and
// every file in it, on a file system that does not order a mkdir before
// later fsyncs. Traced with strace in a child process.
func TestSpoolDirEntrySyncedBeforeCommit(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("needs strace")
	}
	dir := t.TempDir()
	out := filepath.Join(os.Getenv("REVIEW18_TRACE_DIR")+t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-o", out, "-e", "trace=mkdir,mkdirat,open,openat,fsync,fdatasync",
		os.Args[0], "-test.run=^TestSpoolDirEntryHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAILBRIDGE_SPOOL_HELPER_DIR="+dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v\n%s", err, b)
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(trace), "\n")
	spool := filepath.Join(dir, "q.db.spool")
	mk := -1
	for i, l := range lines {
		if strings.Contains(l, "mkdir") && strings.Contains(l, `"`+spool+`"`) && strings.Contains(l, "= 0") {
			mk = i
			break
		}
	}
	if mk < 0 {
		t.Fatalf("no mkdir of %s in the trace:\n%s", spool, trace)
	}
	// The commit of the spooled row is the first fsync after the fsync
	// of the spool directory (the WAL's).
	spoolOpen := regexp.MustCompile(`open(?:at)?\((?:AT_FDCWD, )?"` + regexp.QuoteMeta(spool) + `/?", [^)]*\) = (\d+)`)
	end, spoolFD := -1, ""
	for i := mk + 1; i < len(lines) && end < 0; i++ {
		l := lines[i]
		switch {
		case spoolFD == "":
			if m := spoolOpen.FindStringSubmatch(l); m != nil {
				spoolFD = m[1]
			}
		case strings.Contains(l, "fsync("+spoolFD+")"):
			spoolFD = "synced"
		case spoolFD == "synced" && strings.Contains(l, "fsync("):
			end = i
		}
	}
	if end < 0 {
		t.Fatalf("no commit after the spool directory's fsync in the trace:\n%s", trace)
	}
	// An open of the parent directory after the mkdir, and an fsync of
	// that descriptor, before that commit.
	open := regexp.MustCompile(`open(?:at)?\((?:AT_FDCWD, )?"` + regexp.QuoteMeta(dir) + `/?", [^)]*\) = (\d+)`)
	fds := map[string]bool{}
	for _, l := range lines[mk+1 : end] {
		if m := open.FindStringSubmatch(l); m != nil {
			fds[m[1]] = true
			continue
		}
		for fd := range fds {
			if strings.Contains(l, "fsync("+fd+")") || strings.Contains(l, "fdatasync("+fd+")") {
				return
			}
		}
	}
	t.Errorf("the spool directory %s is created, and a spooled row committed (trace line %d), with no fsync of the directory holding it in between:\n%s",
		spool, end+1, strings.Join(lines[mk:end+1], "\n"))
}
