package imap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailbox"
)

var (
	oldDate    = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	recentDate = time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
)

// archive is the folder every startAt mode is tried on: 500 seen
// messages and 20 unseen ones among them, old (2025-06-01) and recent
// (2026-02-01) by INTERNALDATE.
type archive struct {
	seenOld, seenRecent, unseenOld, unseenRecent []string
}

func (a archive) unseen() []string { return slices.Concat(a.unseenOld, a.unseenRecent) }
func (a archive) recent() []string { return slices.Concat(a.seenRecent, a.unseenRecent) }
func (a archive) all() []string {
	return slices.Concat(a.seenOld, a.seenRecent, a.unseenOld, a.unseenRecent)
}

// fillArchive creates folder and fills it: one unseen message after every
// 25 seen ones, alternating old and recent dates.
func fillArchive(t *testing.T, c *client, folder string) archive {
	t.Helper()
	if err := c.c.Create(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var a archive
	for i := range 500 {
		id := fmt.Sprintf("%s-seen-%d@example.org", strings.ToLower(folder), i)
		date := oldDate
		if i%5 == 0 {
			date = recentDate
			a.seenRecent = append(a.seenRecent, id)
		} else {
			a.seenOld = append(a.seenOld, id)
		}
		c.appendWith(folder, testMessage(id, "archive"), []imap.Flag{imap.FlagSeen}, date)
		if i%25 == 24 {
			id := fmt.Sprintf("%s-unseen-%d@example.org", strings.ToLower(folder), i)
			date := oldDate
			if i%50 == 49 {
				date = recentDate
				a.unseenRecent = append(a.unseenRecent, id)
			} else {
				a.unseenOld = append(a.unseenOld, id)
			}
			c.appendWith(folder, testMessage(id, "archive"), nil, date)
		}
	}
	return a
}

// queuedSet is what q holds, sorted.
func (q *fakeQueue) queuedSet() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := make([]string, len(q.order))
	for i, id := range q.order {
		ids[i] = strings.Trim(id, "<>")
	}
	slices.Sort(ids)
	return ids
}

func assertSame(t *testing.T, what string, got, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if slices.Equal(got, want) {
		return
	}
	var missing, extra []string
	for _, id := range want {
		if !slices.Contains(got, id) {
			missing = append(missing, id)
		}
	}
	for _, id := range got {
		if !slices.Contains(want, id) {
			extra = append(extra, id)
		}
	}
	t.Errorf("%s: queued %d, want %d; missing %d %q, extra %d %q",
		what, len(got), len(want), len(missing), missing[:min(3, len(missing))], len(extra), extra[:min(3, len(extra))])
}

// Each startAt mode, on a folder of 500 seen and 20 unseen messages,
// queues exactly what it promises at the first start, then all mail
// that arrives afterwards, seen or not.
func TestDovecotStartAt(t *testing.T) {
	dc := testenv.StartDovecot(t)
	c := dialClient(t, dc.Addr, dc.User, dc.Password)
	for _, tt := range []struct {
		folder  string
		startAt StartAt
		first   func(a archive) []string
	}{
		{"Unseen", StartAt{}, archive.unseen},
		{"New", StartAt{Kind: StartNew}, func(archive) []string { return nil }},
		{"All", StartAt{Kind: StartAll}, archive.all},
		{"Since", StartAt{Kind: StartSince, Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, archive.recent},
	} {
		t.Run(tt.startAt.String(), func(t *testing.T) {
			a := fillArchive(t, c, tt.folder)
			q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
			cfg := Config{
				Account: Account{Name: "support", Addr: dc.Addr, Security: Insecure,
					Username: dc.User, Password: dc.Password, Timeout: 5 * time.Second},
				Folder: tt.folder, SubchannelID: 4, StartAt: tt.startAt, IDLE: true,
				IdleRestart: time.Minute, PollInterval: time.Minute, BatchSize: 50,
				Ingester: q, Checkpoints: cp, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
				Log: log.logger(),
			}
			startPoller(t, cfg)
			// The folder's highest UID is 520: the checkpoint gets there
			// once the first start is read.
			testenv.WaitFor(t, 30*time.Second, "the first start read", func() bool {
				return cp.get("support", tt.folder)[1] == 520
			})
			want := tt.first(a)
			if got := q.unique(); got != len(want) {
				t.Errorf("the first start queued %d, want %d", got, len(want))
			}
			// Mail that arrives afterwards is read whatever its flags or date.
			later := []string{strings.ToLower(tt.folder) + "-later-1@example.org", strings.ToLower(tt.folder) + "-later-2@example.org"}
			c.appendWith(tt.folder, testMessage(later[0], "later"), []imap.Flag{imap.FlagSeen}, oldDate)
			c.appendWith(tt.folder, testMessage(later[1], "later"), nil, time.Time{})
			want = append(want, later...)
			q.waitUnique(t, len(want), 30*time.Second)
			assertSame(t, "startAt "+tt.startAt.String(), q.queuedSet(), want)
			// Seen mail the first start passed over stays untouched; the
			// mail read is marked \Seen as usual.
			flags := c.flags(tt.folder)
			for _, id := range a.seenOld {
				if !hasFlag(flags[id], imap.FlagSeen) || len(flags[id]) != 1 {
					t.Fatalf("%s: flags %v, want only \\Seen", id, flags[id])
				}
			}
			for _, id := range want {
				if !hasFlag(flags[id], imap.FlagSeen) {
					t.Errorf("%s queued but not marked \\Seen: %v", id, flags[id])
				}
			}
		})
	}
}

// failAfter is an Ingester that fails every message after the first n.
type failAfter struct {
	mailbox.Ingester
	n     int64
	count atomic.Int64
}

var errStopped = errors.New("the queue stopped")

func (f *failAfter) Ingest(ctx context.Context, m mailbox.Message) (mailbox.Receipt, error) {
	if f.count.Add(1) > f.n {
		return mailbox.Receipt{}, errStopped
	}
	return f.Ingester.Ingest(ctx, m)
}

// A restart in the middle of a first start with startAt unseen does not
// decide again: the unseen mail already read and marked \Seen is not
// taken for old mail, and seen mail is never read.
func TestDovecotStartAtRestart(t *testing.T) {
	dc := testenv.StartDovecot(t)
	c := dialClient(t, dc.Addr, dc.User, dc.Password)
	a := fillArchive(t, c, "Partial")
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := Config{
		Account: Account{Name: "support", Addr: dc.Addr, Security: Insecure,
			Username: dc.User, Password: dc.Password, Timeout: 5 * time.Second},
		Folder: "Partial", SubchannelID: 4, IDLE: true,
		IdleRestart: time.Minute, PollInterval: time.Minute, BatchSize: 3,
		Ingester: &failAfter{Ingester: q, n: 7}, Checkpoints: cp,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Log: log.logger(),
	}
	stop := startPoller(t, cfg)
	testenv.WaitFor(t, 30*time.Second, "the queue failing", func() bool {
		return strings.Contains(log.String(), errStopped.Error())
	})
	stop()
	checkpoint := cp.get("support", "Partial")
	_, boundary, _ := cp.Checkpoint(context.Background(), firstKey("support"), "Partial")
	if q.unique() != 7 || checkpoint[1] == 0 || checkpoint[1] >= boundary {
		t.Fatalf("after the first run: %d queued, checkpoint %v, boundary %d; want 7 queued and a checkpoint inside the first start",
			q.unique(), checkpoint, boundary)
	}
	t.Logf("stopped with %d queued, checkpoint at UID %d of %d", q.unique(), checkpoint[1], boundary)

	cfg.Ingester = q
	startPoller(t, cfg)
	q.waitUnique(t, len(a.unseen()), 30*time.Second)
	testenv.WaitFor(t, 10*time.Second, "the checkpoint at the boundary", func() bool {
		return cp.get("support", "Partial")[1] == boundary
	})
	assertSame(t, "after the restart", q.queuedSet(), a.unseen())
}

// Probe (`mailbridge check`, `mailbox test`) says what a first start of
// each startAt reads, and, once a first start is under way, what is left.
func TestDovecotProbeFirstStart(t *testing.T) {
	dc := testenv.StartDovecot(t)
	c := dialClient(t, dc.Addr, dc.User, dc.Password)
	a := fillArchive(t, c, "Probe")
	account := Account{Name: "support", Addr: dc.Addr, Security: Insecure,
		Username: dc.User, Password: dc.Password, Timeout: 5 * time.Second}
	cp := newMemCheckpoints()
	probe := func(startAt StartAt) FolderCount {
		t.Helper()
		r, err := Probe(context.Background(), account, []string{"Probe"}, ProbeOptions{StartAt: startAt, Checkpoints: cp})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Watched) != 1 || !slices.Contains(r.Folders, "Probe") {
			t.Fatalf("probe: %+v", r)
		}
		return r.Watched[0]
	}
	for _, tt := range []struct {
		startAt StartAt
		want    int
	}{
		{StartAt{}, len(a.unseen())},
		{StartAt{Kind: StartNew}, 0},
		{StartAt{Kind: StartAll}, len(a.all())},
		{StartAt{Kind: StartSince, Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, len(a.recent())},
	} {
		f := probe(tt.startAt)
		if f.Messages != 520 || f.Unseen != 20 || !f.FirstStart || f.Pending != tt.want {
			t.Errorf("startAt %s: %+v, want 520 messages, 20 unseen, a first start reading %d", tt.startAt, f, tt.want)
		}
	}

	// A first start broken off after 7 messages.
	q, log := newFakeQueue(), &logBuffer{}
	stop := startPoller(t, Config{
		Account: account, Folder: "Probe", SubchannelID: 4, IDLE: true,
		IdleRestart: time.Minute, PollInterval: time.Minute, BatchSize: 3,
		Ingester: &failAfter{Ingester: q, n: 7}, Checkpoints: cp,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Log: log.logger(),
	})
	testenv.WaitFor(t, 30*time.Second, "the queue failing", func() bool {
		return strings.Contains(log.String(), errStopped.Error())
	})
	stop()
	c.appendWith("Probe", testMessage("probe-later@example.org", "later"), []imap.Flag{imap.FlagSeen}, oldDate)
	f := probe(StartAt{})
	if want := len(a.unseen()) - 7 + 1; f.FirstStart || f.Pending != want || f.LastUID == 0 {
		t.Errorf("under way: %+v, want no first start and %d pending", f, want)
	}
	if f.Unseen != 13 {
		t.Errorf("%d unseen, want 13 (7 read and marked \\Seen)", f.Unseen)
	}
}
