package sqlite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The spool: large raw messages in files.
//
// Kept in the database, a raw message of a megabyte is 256 overflow pages,
// each written to the WAL as a frame of its own, written again at the
// checkpoint and read back page by page at claim. So a raw message larger
// than spoolAbove goes to a file of its own in the spool directory beside
// the database (path+".spool"), and its message_raw row names the file
// instead of holding the bytes. Smaller ones stay in the table, where
// they cost less than a file would.
//
// Durability is the database's: the file is created with O_EXCL, written,
// fsynced, and the directory fsynced before the transaction whose
// row names it commits, so a committed row never names a file that a
// crash can take away. The writer fsyncs its own file, in its own
// goroutine; the committer fsyncs the directory once for every write of a
// transaction that brought a file (group commit, see commit.go).
//
// A crash between writing the file and the commit leaves a file no row
// names, as does a failed commit; so would deleting a row (nothing deletes
// messages). The daemon that owns the database removes such files when
// it starts (Own, sweep), with every other process shut out: each Store
// holds a shared lock on the spool's lock file while it is open, and the
// sweep needs it exclusively. Within a process, an enqueue holds mu for
// reading from its file's creation to its commit, and the sweep holds it
// for writing.

// spoolAbove is the size above which a raw message goes to a file: about
// where a file, whose cost is mostly creating its inode and so much the
// same at any size, becomes cheaper than the table's overflow pages,
// whose cost grows with the size (BenchmarkEnqueueClaimCompleteLarge).
// On a virtual machine's ext4 an inode can cost as much CPU as writing a
// few hundred KiB through the table.
const spoolAbove = 256 << 10

// spoolSuffix is the extension of a spool file: the files are RFC 5322
// messages, which a mail client opens as they are.
const spoolSuffix = ".eml"

// spoolLock is the name of the lock file in the spool directory.
const spoolLock = ".lock"

type spool struct {
	dir  string
	lock *os.File // held shared while the Store is open
	mu   sync.RWMutex
	// syncDir fsyncs the directory; tests replace it.
	syncDir func() error
	// uid and gid own what the spool creates, -1 for the process's.
	uid, gid int
	// buffered is set once the file system refused direct I/O.
	buffered atomic.Bool
}

// chown gives path to the database's owner where a root process creates
// it for another user's database.
func (sp *spool) chown(path string) error {
	if sp.uid < 0 {
		return nil
	}
	if err := os.Chown(path, sp.uid, sp.gid); err != nil {
		return fmt.Errorf("sqlite: spool: %w", err)
	}
	return nil
}

// openSpool opens the spool directory of the database at dbPath, creating
// it if needed, and takes its lock shared. It waits while a sweep holds it.
func openSpool(ctx context.Context, dbPath string) (*spool, error) {
	// Two paths to one database (a symlink) must meet at one spool.
	path, err := filepath.EvalSymlinks(dbPath)
	if err != nil {
		return nil, err
	}
	sp := &spool{dir: path + ".spool", uid: -1, gid: -1}
	sp.syncDir = sp.fsyncDir
	if os.Geteuid() == 0 {
		// A command run as root on the daemon's database (sudo
		// mailbridge queue …) must leave the spool to the database's
		// owner, as SQLite does with its -wal and -shm files.
		if fi, err := os.Stat(path); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
				sp.uid, sp.gid = int(st.Uid), int(st.Gid)
			}
		}
	}
	err = os.Mkdir(sp.dir, 0o700)
	switch {
	case err == nil:
		// The directory's own entry must be durable before a committed
		// row names a file in it.
		if err := sp.chown(sp.dir); err != nil {
			return nil, err
		}
		if err := syncDir(filepath.Dir(sp.dir)); err != nil {
			return nil, fmt.Errorf("sqlite: spool directory: %w", err)
		}
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("sqlite: spool directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(sp.dir, spoolLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: spool lock: %w", err)
	}
	if err := sp.chown(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	if err := flockWait(ctx, f, syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: spool lock %s: %w", f.Name(), err)
	}
	sp.lock = f
	return sp, nil
}

// flockWait takes lock how on f, waiting for it as long as ctx lets it.
func flockWait(ctx context.Context, f *os.File, how int) error {
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// close releases the lock; closing again does nothing, as for the Store.
func (sp *spool) close() error {
	if err := sp.lock.Close(); !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// path is the path of the spool file name.
func (sp *spool) path(name string) string { return filepath.Join(sp.dir, name) }

// Spool files are written and read with direct I/O where the file system
// takes it (O_DIRECT): the bytes go between the process's memory and the
// disk without a copy in the page cache. A file is read once, soon after
// it is written, and never again but after a restart; its pages in the
// cache would only push other pages out, and on a virtual machine new
// page-cache pages cost the host's page faults too, which made writing a
// megabyte through the cache cost several times the direct write.
//
// Direct I/O wants memory, file offsets and lengths aligned: the bytes go
// through an aligned buffer, the last partial block through the cache.

// directAlign is the alignment direct I/O is done with: the logical block
// size of disks is at most this.
const directAlign = 4096

// directChunk is the size of the aligned buffers direct writes go through.
const directChunk = 1 << 20

var directBufs = sync.Pool{New: func() any { b := alignedBytes(directChunk); return &b }}

// alignedBytes returns n bytes starting at a multiple of directAlign.
func alignedBytes(n int) []byte {
	b := make([]byte, n)
	if aligned(b) {
		return b // large allocations start at a page
	}
	b = make([]byte, n+directAlign)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (directAlign - 1))
	return b[off : off+n : off+n]
}

// aligned reports whether b starts at a multiple of directAlign.
func aligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))&(directAlign-1) == 0
}

// direct reports whether a file of size bytes is written and read with
// direct I/O.
func (sp *spool) direct(size int) bool {
	return directFlag != 0 && size >= directAlign && !sp.buffered.Load()
}

// put writes raw to a new file, fsynced, and returns its name. The
// directory entry is not synced yet: the committer does that.
func (sp *spool) put(raw []byte) (string, error) {
	for {
		var b [16]byte
		rand.Read(b[:])
		name := hex.EncodeToString(b[:]) + spoolSuffix
		direct := sp.direct(len(raw))
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if direct {
			flags |= directFlag
		}
		f, err := os.OpenFile(sp.path(name), flags, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // 128 random bits: not in this universe
		}
		if direct && errors.Is(err, syscall.EINVAL) {
			// The file system has no direct I/O; open created the file
			// before it found out.
			os.Remove(sp.path(name))
			sp.buffered.Store(true)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("sqlite: spool file: %w", err)
		}
		err = sp.write(f, raw, direct)
		if err == nil && sp.uid >= 0 {
			err = f.Chown(sp.uid, sp.gid)
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
			return "", fmt.Errorf("sqlite: spool file %s: %w", f.Name(), err)
		}
		return name, nil
	}
}

// write writes raw to the new file f, opened for direct I/O if direct.
func (sp *spool) write(f *os.File, raw []byte, direct bool) error {
	if direct {
		n, err := writeDirect(f, raw)
		if err == nil {
			_, err = f.Write(raw[n:])
			return err
		}
		if !errors.Is(err, syscall.EINVAL) {
			return err
		}
		// Refused for its alignment: through the page cache from the
		// start, and so from now on.
		sp.buffered.Store(true)
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := setDirect(f, false); err != nil {
			return err
		}
	}
	_, err := f.Write(raw)
	return err
}

// writeDirect writes the whole blocks of raw to f, open for direct I/O, and
// turns direct I/O off for the rest: n bytes written.
func writeDirect(f *os.File, raw []byte) (n int, err error) {
	bp := directBufs.Get().(*[]byte)
	defer directBufs.Put(bp)
	buf := *bp
	whole := len(raw) &^ (directAlign - 1)
	for n < whole {
		c := copy(buf, raw[n:whole])
		if _, err := f.Write(buf[:c]); err != nil {
			return n, err
		}
		n += c
	}
	return n, setDirect(f, false)
}

// fsyncDir makes the spool directory's entries durable.
func (sp *spool) fsyncDir() error {
	if err := syncDir(sp.dir); err != nil {
		return fmt.Errorf("sqlite: sync spool directory: %w", err)
	}
	return nil
}

// syncDir fsyncs the directory dir.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// errRawLost marks a spool file that is gone or not the size its row
// says: the message's raw bytes are lost, and no retry brings them back.
var errRawLost = errors.New("raw message lost")

// get reads the spool file name, which must hold size bytes.
func (sp *spool) get(name string, size int64) ([]byte, error) {
	path := sp.path(name)
	direct := size <= maxInt && sp.direct(int(size))
	flags := os.O_RDONLY
	if direct {
		flags |= directFlag
	}
	f, err := os.OpenFile(path, flags, 0)
	if direct && errors.Is(err, syscall.EINVAL) {
		sp.buffered.Store(true)
		direct = false
		f, err = os.Open(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: spool file %s is missing", errRawLost, path)
	}
	if err != nil {
		return nil, fmt.Errorf("spool file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("spool file: %w", err)
	}
	if fi.Size() != size {
		return nil, fmt.Errorf("%w: spool file %s holds %d bytes, want %d", errRawLost, path, fi.Size(), size)
	}
	var raw []byte
	if direct {
		raw, err = sp.readDirect(f, int(size))
	} else {
		raw = make([]byte, size)
		_, err = io.ReadFull(f, raw)
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: spool file %s ended before %d bytes", errRawLost, path, size)
		}
		return nil, fmt.Errorf("spool file %s: %w", path, err)
	}
	return raw, nil
}

const maxInt = int64(^uint(0) >> 1)

// readDirect reads size bytes from f, open for direct I/O: into an aligned
// buffer of whole blocks, of which the file fills the first size bytes.
// Where direct I/O is refused, it reads through the page cache.
func (sp *spool) readDirect(f *os.File, size int) ([]byte, error) {
	whole := (size + directAlign - 1) &^ (directAlign - 1)
	buf := alignedBytes(whole)
	n, err := f.Read(buf)
	if errors.Is(err, syscall.EINVAL) {
		sp.buffered.Store(true)
		if err := setDirect(f, false); err != nil {
			return nil, err
		}
		n, err = 0, nil
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	raw := buf[:size:size]
	if n < size {
		// A short read ends at the file's end, or where direct I/O
		// stopped; the rest through the page cache.
		if err := setDirect(f, false); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(io.NewSectionReader(f, int64(n), int64(size-n)), raw[n:]); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

// remove removes the spool file name, which no row names. A file left
// behind is removed by the next sweep.
func (sp *spool) remove(name string) error {
	if err := os.Remove(sp.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// isSpoolFile reports whether name has the form put gives its files: the
// sweep leaves anything else alone.
func isSpoolFile(name string) bool {
	hexName, ok := strings.CutSuffix(name, spoolSuffix)
	if !ok || len(hexName) != 32 {
		return false
	}
	_, err := hex.DecodeString(hexName)
	return err == nil && strings.ToLower(hexName) == hexName
}

// sweep removes the spool files that no row names and returns how many. It
// needs the spool to itself: where another process has the database open,
// it does nothing and returns skipped.
func (s *Store) sweep(ctx context.Context) (removed int, skipped bool, err error) {
	sp := s.spool
	sp.mu.Lock()
	defer sp.mu.Unlock()
	// Changing a flock from shared to exclusive drops the shared lock
	// first, even when the exclusive one is refused; so it is taken
	// again in any case. No one else waits for it exclusively: only the
	// owner of the database sweeps.
	fd := int(sp.lock.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if serr := flockWait(ctx, sp.lock, syscall.LOCK_SH); serr != nil {
			return 0, false, fmt.Errorf("sqlite: spool lock %s: %w", sp.lock.Name(), serr)
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return 0, true, nil
		}
		return 0, false, fmt.Errorf("sqlite: spool lock %s: %w", sp.lock.Name(), err)
	}
	defer func() {
		if serr := syscall.Flock(fd, syscall.LOCK_SH); serr != nil && err == nil {
			err = fmt.Errorf("sqlite: spool lock %s: %w", sp.lock.Name(), serr)
		}
	}()

	entries, err := os.ReadDir(sp.dir)
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: spool directory: %w", err)
	}
	named, err := s.spooled(ctx)
	if err != nil {
		return 0, false, err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isSpoolFile(e.Name()) {
			continue
		}
		if _, ok := named[e.Name()]; ok {
			continue
		}
		if err := os.Remove(sp.path(e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, false, fmt.Errorf("sqlite: spool sweep: %w", err)
		}
		removed++
	}
	return removed, false, nil
}

// spooled returns the names of the spool files that rows name.
func (s *Store) spooled(ctx context.Context) (map[string]struct{}, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT file FROM message_raw WHERE file IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	named := make(map[string]struct{})
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		named[name] = struct{}{}
	}
	return named, rows.Err()
}
