package sqlite

import (
	"bytes"
	"os"
	"slices"
	"syscall"
	"testing"
)

// On a file system that refuses direct I/O (ramfs refuses O_DIRECT at
// open), the spool goes through the page cache instead, with the same
// results. Mounting one takes root; elsewhere the test is skipped.
func TestSpoolWithoutDirectIO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("mailbridge-test", dir, "ramfs", 0, ""); err != nil {
		t.Skipf("mount a ramfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	probe, err := os.OpenFile(dir+"/probe", os.O_CREATE|os.O_WRONLY|syscall.O_DIRECT, 0o600)
	if err == nil {
		probe.Close()
		t.Skip("this kernel's ramfs takes direct I/O")
	}
	os.Remove(dir + "/probe")
	sp, put := spoolRoundTrips(t, dir)
	names := slices.Clone(put)
	if !sp.buffered.Load() {
		t.Error("the spool did not fall back to the page cache")
	}
	// No file is left of the open that direct I/O was refused at.
	entries, err := os.ReadDir(dir + "/queue.db.spool")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Name() != spoolLock {
			files = append(files, e.Name())
		}
	}
	slices.Sort(files)
	slices.Sort(names)
	if !slices.Equal(files, names) {
		t.Errorf("spool files %v, want those put: %v", files, names)
	}

	// A spool that has not written yet finds out when it reads (the
	// file of one block, which the round trips leave whole).
	fresh, err := openSpool(t.Context(), dir+"/queue.db")
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.close()
	i := slices.Index(spoolTestSizes, directAlign)
	size := spoolTestSizes[i]
	got, err := fresh.get(put[i], int64(size))
	if err != nil || !bytes.Equal(got, spoolTestMail(size)) {
		t.Errorf("get of %d bytes through the page cache: %d bytes, %v", size, len(got), err)
	}
	if !fresh.buffered.Load() {
		t.Error("the reading spool did not fall back to the page cache")
	}
}
