package sqlite

import (
	"bytes"
	"os"
	"testing"
)

// The spool works the same on a tmpfs (/dev/shm), whose direct I/O support
// depends on the kernel, for sizes at every edge of a block and of the
// direct buffer.
func TestSpoolOnTmpfs(t *testing.T) {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		t.Skip("no /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "spooltest")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sp, _ := spoolRoundTrips(t, dir)
	t.Logf("direct I/O refused on tmpfs: %v", sp.buffered.Load())
}

// spoolTestSizes are the sizes spoolRoundTrips puts, in that order.
var spoolTestSizes = []int{0, 1, directAlign - 1, directAlign, directAlign + 1, 2 * directAlign,
	directChunk - 1, directChunk, directChunk + 1, 2*directChunk - 1, 2 * directChunk}

// spoolTestMail is the content of a spool file of size bytes.
func spoolTestMail(size int) []byte {
	return bytes.Repeat([]byte{byte(size), 'x', '\n'}, size/3+1)[:size]
}

// spoolRoundTrips puts and gets spool files in dir of sizes at every edge
// of a block and of the direct buffer, and checks that a file cut short
// is refused; it returns the spool, closed, and the names of its files.
func spoolRoundTrips(t *testing.T, dir string) (*spool, []string) {
	t.Helper()
	db := dir + "/queue.db"
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := openSpool(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	var names []string
	for _, size := range spoolTestSizes {
		raw := spoolTestMail(size)
		name, err := sp.put(raw)
		if err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		names = append(names, name)
		got, err := sp.get(name, int64(size))
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("get %d bytes: %d bytes, %v", size, len(got), err)
		}
		if size > directAlign {
			if err := os.Truncate(sp.path(name), int64(size-1)); err != nil {
				t.Fatal(err)
			}
			if _, err := sp.get(name, int64(size)); err == nil {
				t.Fatalf("get of a file cut to %d of %d bytes succeeded", size-1, size)
			}
		}
	}
	return sp, names
}
