package chaos

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/sqlite"
)

// scenario is one fault-injection run.
type scenario struct {
	instances   int
	smtpMails   int
	imapMails   int // per folder; two folders
	killEvery   time.Duration
	minKills    int
	storeConfig func(t *testing.T) string // the store: block of the configuration
	openStore   func(t *testing.T) store.Store
	// midRun, if set, runs once while the load is under way (the
	// PostgreSQL restart).
	midRun func(t *testing.T) string
}

// folders are the two Dovecot mailboxes the scenario fills.
var folders = []string{"INBOX", "Second"}

func chaosEnabled(t *testing.T) {
	if os.Getenv("MAILBRIDGE_CHAOS") != "1" {
		t.Skip("fault-injection run of several minutes: set MAILBRIDGE_CHAOS=1 (scripts/test does)")
	}
}

// TestChaosSQLite: one process on SQLite, killed over and over while mail
// arrives over SMTP and from two Dovecot folders and the API misbehaves.
func TestChaosSQLite(t *testing.T) {
	chaosEnabled(t)
	dbPath := filepath.Join(t.TempDir(), "queue.db")
	run(t, scenario{
		instances: 1,
		smtpMails: 500,
		imapMails: 250,
		killEvery: 2 * time.Second,
		minKills:  8,
		storeConfig: func(*testing.T) string {
			return fmt.Sprintf("{driver: sqlite, path: %s}", dbPath)
		},
		openStore: func(t *testing.T) store.Store {
			st, err := sqlite.Open(context.Background(), dbPath)
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	})
}

func run(t *testing.T, sc scenario) {
	dc := testenv.StartDovecot(t)
	api := testapi.New(t, testapi.Options{Token: "chaos", Seed: 7})
	t.Cleanup(func() { api.AssertValid(t) })
	// Faults in the order they are tried: lost answers after a store,
	// stores answered 500 after the write, failures, then slowness.
	api.Inject(testapi.Fault{Method: "POST", Path: "conversation/store", Kind: testapi.DropAfterStore, Rate: 0.03})
	api.Inject(testapi.Fault{Method: "POST", Path: "conversation/store", Kind: testapi.StoreThenFail, Status: http.StatusInternalServerError, Rate: 0.03})
	api.Inject(testapi.Fault{Status: http.StatusInternalServerError, Rate: 0.2})
	api.Inject(testapi.Fault{Delay: 300 * time.Millisecond, Rate: 0.1})

	// Half the IMAP mail waits in the folders at start, half arrives
	// during the run.
	fill := func(from, to int) {
		for _, f := range folders {
			var msgs [][]byte
			for i := from; i < to; i++ {
				_, raw := message(strings.ToLower(f), i)
				msgs = append(msgs, raw)
			}
			if err := dc.Put(f, msgs); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(0, sc.imapMails/2)

	storeYAML := sc.storeConfig(t)
	cl := newCluster(t, sc.instances, func(i int, smtp string) string {
		return daemonConfig(storeYAML, api.URL(), dc, smtp)
	})

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	killCtx, stopKilling := context.WithCancel(ctx)
	type killResult struct {
		kills int
		err   error
	}
	killed := make(chan killResult, 1)
	go func() {
		k, err := cl.killLoop(killCtx, sc.killEvery)
		killed <- killResult{k, err}
	}()

	var st smtpStats
	sent := make(chan error, 1)
	span := time.Duration(sc.minKills) * sc.killEvery
	go func() { sent <- sendSMTP(ctx, cl.smtpAddrs(), sc.smtpMails, 4, span, &st) }()
	time.Sleep(sc.killEvery * 3 / 2)
	fill(sc.imapMails/2, sc.imapMails)
	// The API crashes and comes back with its data: the requests under
	// way lose their answers, some after their write.
	const apiDown = 3 * time.Second
	api.Down()
	time.Sleep(apiDown)
	if err := api.Up(); err != nil {
		t.Fatal(err)
	}
	var midRun string
	if sc.midRun != nil {
		midRun = sc.midRun(t)
	}
	if err := <-sent; err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	loadDone := time.Since(start)
	// Keep killing until the minimum is reached: the queue is then full
	// of mail that must survive the remaining kills.
	for deadline := time.Now().Add(time.Duration(sc.minKills+2) * sc.killEvery); time.Now().Before(deadline); {
		if strings.Count(cl.logs(), "mailbridge started") > sc.minKills {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopKilling()
	kr := <-killed
	if kr.err != nil {
		t.Fatal(kr.err)
	}

	want := expectedIDs(sc)
	missing := waitDelivered(ctx, t, api, want)
	// A mail can be at the API and still queued: its answer was lost and
	// the retry that finds it there is still to come.
	s := sc.openStore(t)
	waitQueueSettled(ctx, t, s)
	drainTime := time.Since(start)
	unacked := waitAcknowledged(ctx, dc)
	cl.stopAll()

	// Everything is now at the API; the queue must say so too.
	stats, err := s.Stats(context.Background())
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	state := api.State()
	counts := map[string]int{}
	for _, c := range state.Conversations {
		counts[c.Payload.ExternalConversationID]++
	}
	dups := 0
	for _, id := range want {
		if n := counts[id]; n > 1 {
			dups += n - 1
		}
	}
	lost := state.LostAnswers()
	storedThen500 := 0
	for _, r := range state.Requests {
		if r.Injected && r.Fault == testapi.StoreThenFail {
			storedThen500++
		}
	}

	t.Logf("fault injection (%d instance(s), store %s):\n"+
		"  messages in        %d (SMTP %d accepted after %d retries, %d DATA unanswered; IMAP %d in %d folders)\n"+
		"  delivered          %d distinct of %d, %d conversations stored\n"+
		"  duplicates         %d (answers lost after the write: %d, of which stored-then-500: %d; API restarted once, down %s)\n"+
		"  lost               %d\n"+
		"  kills survived     %d (SIGKILL every %s)%s\n"+
		"  API requests       %d\n"+
		"  load sent in       %s; everything at the API and the queue drained after %s\n"+
		"  queue afterwards   %v; IMAP unacknowledged %d",
		sc.instances, strings.Trim(strings.Fields(storeYAML)[1], ","),
		len(want), st.accepted.Load(), st.retries.Load(), st.unanswerd.Load(), 2*sc.imapMails, len(folders),
		len(want)-len(missing), len(want), len(state.Conversations),
		dups, lost, storedThen500, apiDown,
		len(missing),
		kr.kills, sc.killEvery, midRun,
		len(state.Requests),
		loadDone.Round(time.Millisecond), drainTime.Round(time.Millisecond),
		stats.Counts, unacked)

	if len(missing) > 0 {
		t.Errorf("%d mails never reached the API, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	if dups > 0 {
		t.Errorf("%d duplicates (answers lost after the write: %d)", dups, lost)
	}
	// Nothing beyond the test's mails and their duplicates was stored
	// (a mangled Message-ID would show up here, not as a duplicate).
	if n := len(state.Conversations); n != len(want)+dups {
		t.Errorf("%d conversations stored, want %d mails + %d duplicates", n, len(want), dups)
	}
	if int(st.accepted.Load()) != sc.smtpMails {
		t.Errorf("SMTP accepted %d of %d", st.accepted.Load(), sc.smtpMails)
	}
	for _, s := range []store.State{store.Queued, store.Inflight, store.Dead} {
		if n := stats.Counts[s]; n != 0 {
			t.Errorf("%d messages %s after the run", n, s)
		}
	}
	if unacked != 0 {
		t.Errorf("%d IMAP messages not acknowledged", unacked)
	}
	if kr.kills < sc.minKills {
		t.Errorf("%d kills, want at least %d", kr.kills, sc.minKills)
	}
}

func expectedIDs(sc scenario) []string {
	var ids []string
	for i := range sc.smtpMails {
		id, _ := message("smtp", i)
		ids = append(ids, id)
	}
	for _, f := range folders {
		for i := range sc.imapMails {
			id, _ := message(strings.ToLower(f), i)
			ids = append(ids, id)
		}
	}
	return ids
}

// waitDelivered waits until every id is stored at the API, or ctx ends;
// it returns those still missing.
func waitDelivered(ctx context.Context, t *testing.T, api *testapi.Server, ids []string) []string {
	t.Helper()
	for {
		have := map[string]bool{}
		for _, c := range api.Conversations() {
			have[c.Payload.ExternalConversationID] = true
		}
		var missing []string
		for _, id := range ids {
			if !have[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || ctx.Err() != nil {
			return missing
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitQueueSettled waits until s holds no queued or inflight message, or
// ctx ends.
func waitQueueSettled(ctx context.Context, t *testing.T, s store.Store) {
	t.Helper()
	for {
		stats, err := s.Stats(ctx)
		if err == nil && stats.Counts[store.Queued]+stats.Counts[store.Inflight] == 0 || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitAcknowledged waits until every mail in the folders carries \Seen
// (Maildir: in cur/ with S among its flags), or ctx ends; it returns how
// many do not.
func waitAcknowledged(ctx context.Context, dc *testenv.Dovecot) int {
	for {
		unseen := 0
		for _, f := range folders {
			md := dc.Maildir(f)
			news, _ := os.ReadDir(filepath.Join(md, "new"))
			unseen += len(news)
			curs, _ := os.ReadDir(filepath.Join(md, "cur"))
			for _, e := range curs {
				_, flags, _ := strings.Cut(e.Name(), ":2,")
				if !strings.Contains(flags, "S") {
					unseen++
				}
			}
		}
		if unseen == 0 || ctx.Err() != nil {
			return unseen
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// daemonConfig is one instance's configuration: the shared store and API,
// its own SMTP listener, both Dovecot folders as mailboxes of subchannel 2.
// Short leases and backoffs make a killed instance's mail due again within
// seconds.
func daemonConfig(storeYAML, apiURL string, dc *testenv.Dovecot, smtp string) string {
	host, port, _ := net.SplitHostPort(dc.Addr)
	var mb strings.Builder
	for _, f := range folders {
		fmt.Fprintf(&mb, `  - name: %[1]s
    subchannelId: 2
    host: %[2]s
    port: %[3]s
    security: none
    allowInsecure: true
    username: %[4]s
    password: %[5]s
    folders: [%[6]s]
    idle: false
    pollInterval: 300ms
    afterProcess: seen
`, strings.ToLower(f), host, port, dc.User, dc.Password, f)
	}
	return fmt.Sprintf(`log: {level: info}
admin: {listen: "127.0.0.1:0"}
store: %s
api:
  baseURL: %s
  token: chaos
  timeout: 3s
delivery:
  workers: 8
  lease: 5s
  pollInterval: 200ms
  backoff: {initial: 200ms, max: 2s}
# All SMTP test mail comes from one sender: a load, not a mail loop.
mailSense: {loopBreaker: {max: 0}}
subchannels:
  - {id: 1, name: Support}
  - {id: 2, name: Sales}
smtp:
  hostname: chaos
  listeners:
    - {name: chaos, address: "%s"}
  routes:
    - {address: support@example.com, subchannelId: 1}
  limits: {shutdownTimeout: 5s}
mailboxes:
%s`, storeYAML, apiURL, smtp, mb.String())
}
