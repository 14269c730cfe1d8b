package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A mailbridge queue command run as root on the database of a daemon that
// runs as another user (an operator's sudo after the upgrade) creates the
// spool directory and its lock file as root, mode 0700/0600: the daemon
// then cannot open its own store. SQLite itself hands its -wal and -shm
// files to the database file's owner when it runs as root.
func TestReview18SpoolOwnedByRootLocksOutDaemon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const nobody = 65534
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The database as the daemon's user left it before the spool existed.
	if err := os.RemoveAll(path + ".spool"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, path} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	s, err = Open(t.Context(), path) // the root CLI
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	owner := func(p string) int {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return int(fi.Sys().(*syscall.Stat_t).Uid)
	}
	if got := owner(path + "-wal"); got != nobody {
		t.Logf("-wal owned by %d (SQLite did not hand it over either)", got)
	}
	// A mailbridge deliver run as root queues a large mail: its file is
	// root's, 0600, and the daemon's claims of it fail with EACCES, which
	// puts it back in the queue every minute without counting an attempt,
	// for ever.
	id := enqueueOK(t, s, spoolMessage("big", spoolAbove+1))
	for _, p := range []string{path + ".spool", filepath.Join(path+".spool", spoolLock), s.spool.path(rowFile(t, s, id))} {
		if got := owner(p); got != nobody {
			t.Errorf("%s owned by uid %d, want the database's owner %d: the daemon cannot open its store", p, got, nobody)
		}
	}
}
