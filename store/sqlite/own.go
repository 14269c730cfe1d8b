package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ErrOwned is returned by Own when another daemon owns the database.
var ErrOwned = errors.New("sqlite: the database is owned by another mailbridge daemon")

// Own makes this process the daemon that delivers from the database: it
// takes an exclusive lock on the file path+".lock" (held until Close, or
// until the process ends, however it ends) and takes over the claims of
// the daemon that ran before, which is gone since the lock was free, after
// grace (ExpireLeases). It returns how many messages were in flight then;
// their previous attempts are uncertain, and the next claim treats them so.
// It also removes the spool files that no message names (see spool.go),
// unless another process has the database open.
//
// A SQLite store is delivered from by one daemon: a second one would take
// over the first one's claims. Commands that only read or operate on the
// queue (mailbridge queue …) open the store without owning it.
func (s *Store) Own(ctx context.Context, now time.Time, grace time.Duration) (int, error) {
	if s.owner != nil {
		return 0, nil
	}
	// Two paths to one file (a symlink) must meet at one lock.
	path, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return 0, err
	}
	lock := path + ".lock"
	f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := readPID(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return 0, fmt.Errorf("%w (pid %s, lock %s)", ErrOwned, pid, lock)
		}
		return 0, fmt.Errorf("sqlite: lock %s: %w", lock, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return 0, err
	}
	s.owner = f
	n, err := s.ExpireLeases(ctx, now, grace)
	if err != nil {
		return n, err
	}
	// The sweep is housekeeping: a failure leaves files behind, which
	// the next one removes, and keeps no mail from being delivered.
	removed, skipped, err := s.sweep(ctx)
	switch {
	case err != nil:
		s.log.Warn("spool sweep failed", "err", err, "spool", s.spool.dir, "removed", removed)
	case skipped:
		s.log.Info("spool sweep skipped: another process has the database open", "spool", s.spool.dir)
	case removed > 0:
		s.log.Info("spool sweep: removed files that no message names", "files", removed, "spool", s.spool.dir)
	}
	return n, nil
}

func readPID(f *os.File) (string, error) {
	b := make([]byte, 32)
	n, err := f.ReadAt(b, 0)
	if n == 0 {
		return "unknown", err
	}
	return string(bytes.TrimSpace(b[:n])), nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}
