package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// crashChildEnv, when set, makes TestCrash the child process: it names the
// database the child writes to until it is killed.
const crashChildEnv = "MB_CRASH_CHILD"

// TestCrash kills a process that is enqueuing and delivering with SIGKILL,
// then checks that everything the store had reported done is there.
//
// The child prints "enqueued ID EXTERNAL-ID" after each Enqueue and
// "delivered ID" after each Complete returns.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}

	path := filepath.Join(t.TempDir(), "queue.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	const killAfter = 100 // enqueued messages
	enqueued := make(map[int64]string)
	var delivered []int64
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var id int64
		var ext string
		switch {
		case scanLine(sc.Text(), "enqueued %d %s", &id, &ext):
			enqueued[id] = ext
			if len(enqueued) == killAfter {
				cmd.Process.Kill() // SIGKILL: no deferred calls, no Close
			}
		case scanLine(sc.Text(), "delivered %d", &id):
			delivered = append(delivered, id)
		default:
			t.Errorf("child said %q", sc.Text())
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v\n%s", err, stderr.Bytes())
	}
	if len(enqueued) < killAfter || len(delivered) == 0 {
		t.Fatalf("child reported %d enqueued, %d delivered before dying", len(enqueued), len(delivered))
	}

	s := openTest(t, path)
	defer s.Close()
	if got := pragma(t, s.r, "integrity_check"); got != "ok" {
		t.Fatalf("integrity_check: %s", got)
	}
	// Owning the database sweeps the spool files of the enqueues the
	// crash cut short: what stays is what the rows name.
	if _, err := s.Own(t.Context(), time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	named, err := s.spooled(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	files := spoolFiles(t, s)
	if len(files) != len(named) {
		t.Errorf("%d spool files after the sweep for %d spooled rows", len(files), len(named))
	}
	for _, f := range files {
		if _, ok := named[f]; !ok {
			t.Errorf("spool file %s is named by no row after the sweep", f)
		}
	}
	for id, ext := range enqueued {
		m, raw, err := s.Get(t.Context(), id)
		if err != nil {
			t.Fatalf("message %d enqueued before the crash: %v", id, err)
		}
		if m.ExternalID != ext || !bytes.Equal(raw, crashRaw(ext)) {
			t.Fatalf("message %d is %q with %d bytes, want %q with %d", id, m.ExternalID, len(raw), ext, len(crashRaw(ext)))
		}
	}
	for _, id := range delivered {
		if m, _, err := s.Get(t.Context(), id); err != nil || m.State != store.Delivered {
			t.Fatalf("message %d delivered before the crash is %s (%v)", id, m.State, err)
		}
	}
	t.Logf("%d enqueued (%d in spool files) and %d delivered messages survived the crash", len(enqueued), len(named), len(delivered))
}

func scanLine(line, format string, args ...any) bool {
	n, err := fmt.Sscanf(line, format, args...)
	return err == nil && n == len(args)
}

// crashRaw is the raw message under externalID; every third is large
// enough for a spool file.
func crashRaw(externalID string) []byte {
	n := 1000
	var i int
	if _, err := fmt.Sscanf(externalID, "crash-%d@", &i); err == nil && i%3 == 0 {
		n = spoolAbove/5 + 1000
	}
	return []byte("Message-ID: <" + externalID + ">\r\n\r\n" + strings.Repeat("body ", n))
}

// crashChild enqueues messages in one goroutine and delivers them in
// another until it is killed. A parent that went away takes the child with
// it (SIGPIPE on stdout); the deadline is the backstop.
func crashChild(path string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s, err := Open(ctx, path)
	if err != nil {
		fail(err)
	}
	go func() {
		for {
			claims, err := s.Claim(ctx, time.Now(), time.Minute, 10)
			if err != nil {
				fail(err)
			}
			if len(claims) == 0 {
				time.Sleep(time.Millisecond)
			}
			for _, c := range claims {
				if err := s.Complete(ctx, c.ID, c.Attempt, store.Outcome{EventID: c.ID}); err != nil {
					fail(err)
				}
				fmt.Printf("delivered %d\n", c.ID)
			}
		}
	}()
	for i := 0; ; i++ {
		ext := fmt.Sprintf("crash-%d@example.com", i)
		res, err := s.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: ext, Raw: crashRaw(ext)})
		if err != nil {
			fail(err)
		}
		fmt.Printf("enqueued %d %s\n", res.ID, ext)
	}
}
