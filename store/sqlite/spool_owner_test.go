package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A mailbridge command run as root on the database of a daemon that runs
// as another user (an operator's sudo) leaves the spool directory, its
// lock and the files it writes to the database's owner, as SQLite does
// with its -wal and -shm files: root's would lock the daemon out of its
// own store, or leave it mail it cannot read.
func TestSpoolBelongsToTheDatabaseOwner(t *testing.T) {
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
	// A mailbridge deliver run as root queues a large mail.
	id := enqueueOK(t, s, spoolMessage("big", spoolAbove+1))
	for _, p := range []string{path + ".spool", filepath.Join(path+".spool", spoolLock), s.spool.path(rowFile(t, s, id))} {
		if got := owner(p); got != nobody {
			t.Errorf("%s owned by uid %d, want the database's owner %d: the daemon cannot open its store", p, got, nobody)
		}
	}
}
