package sqlite

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// A spool file holds the raw bytes exactly, whichever way it was written
// and is read: direct I/O in whole blocks with the last partial block
// through the page cache, or all through the page cache.
func TestSpoolDirectRoundTrip(t *testing.T) {
	sp := testSpool(t)
	sizes := []int{1, directAlign - 1, directAlign, directAlign + 1, 300<<10 + 7,
		directChunk, directChunk + directAlign, 3*directChunk + 5}
	for _, size := range sizes {
		// An unaligned start, as a message behind a Received header has.
		full := make([]byte, size+3)
		for i := range full {
			full[i] = byte(i*7 + i>>12)
		}
		raw := full[3:]
		for _, writeBuffered := range []bool{false, true} {
			sp.buffered.Store(writeBuffered)
			name, err := sp.put(raw)
			if err != nil {
				t.Fatalf("put %d bytes: %v", size, err)
			}
			if fi, err := os.Stat(sp.path(name)); err != nil || fi.Size() != int64(size) {
				t.Fatalf("put %d bytes: file %v, %v", size, fi, err)
			}
			for _, readBuffered := range []bool{false, true} {
				sp.buffered.Store(readBuffered)
				got, err := sp.get(name, int64(size))
				what := fmt.Sprintf("%d bytes, written buffered %v, read buffered %v", size, writeBuffered, readBuffered)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if len(got) != size || cap(got) != size || !bytes.Equal(got, raw) {
					t.Fatalf("%s: read back %d bytes (cap %d), not the ones written", what, len(got), cap(got))
				}
			}
		}
	}
	sp.buffered.Store(false)
	if directFlag != 0 && !sp.direct(directAlign) {
		t.Error("direct I/O not used for a file of a whole block")
	}
}

// A file shorter than its row says is lost when read directly too.
func TestSpoolDirectShortFile(t *testing.T) {
	sp := testSpool(t)
	name, err := sp.put(bytes.Repeat([]byte("x"), 2*directAlign+10))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sp.path(name), directAlign+5); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.get(name, 2*directAlign+10); err == nil {
		t.Fatal("get of a cut file succeeded")
	}
}

// testSpool opens a spool beside a database file of its own.
func testSpool(t *testing.T) *spool {
	t.Helper()
	db := t.TempDir() + "/queue.db"
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := openSpool(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.close() })
	return sp
}
