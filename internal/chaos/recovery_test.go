package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/postgres"
	"github.com/enneo/mailbridge/store/sqlite"
)

// The recovery tests run real daemons with delivery's default timings
// (backoff up to minutes, a lease of five minutes): what they show is that
// delivery does not wait for those timings once the cause of the failures
// is gone.

// recoveryConfig is a daemon on storeYAML with SMTP only and delivery's
// defaults.
func recoveryConfig(storeYAML, apiURL, token, smtp string) string {
	return fmt.Sprintf(`log: {level: info}
admin: {listen: "127.0.0.1:0"}
store: %s
api:
  baseURL: %s
  token: %s
  timeout: 3s
mailSense: {loopBreaker: {max: 0}}
subchannels:
  - {id: 1, name: Support}
smtp:
  hostname: recovery
  listeners:
    - {name: recovery, address: "%s"}
  routes:
    - {address: support@example.com, subchannelId: 1}
  limits: {shutdownTimeout: 5s}
`, storeYAML, apiURL, token, smtp)
}

// sqliteStore is a store configuration on a new SQLite file, and the
// file.
func sqliteStore(t *testing.T) (yaml, path string) {
	path = filepath.Join(t.TempDir(), "queue.db")
	return fmt.Sprintf("{driver: sqlite, path: %s}", path), path
}

// send queues mails 0..n-1 of stream over SMTP and returns their ids.
func send(t *testing.T, cl *cluster, stream string, n int) []string {
	t.Helper()
	var st smtpStats
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if err := sendStream(ctx, cl.smtpAddrs(), stream, n, 4, 0, &st); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range n {
		ids[i], _ = message(stream, i)
	}
	return ids
}

// waitAll waits up to limit for every id to be stored at the API, and
// returns how long that took; it fails the test if some never were.
func waitAll(t *testing.T, api *testapi.Server, ids []string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	if missing := waitDelivered(ctx, t, api, ids); len(missing) > 0 {
		t.Fatalf("%d of %d mails not at the API %s after the cause was gone, e.g. %v",
			len(missing), len(ids), limit, missing[:min(3, len(missing))])
	}
	return time.Since(start)
}

// wantOnce fails the test for every id stored more than once.
func wantOnce(t *testing.T, api *testapi.Server, ids []string) {
	t.Helper()
	for _, id := range ids {
		if n := api.CountByExternalID(id); n != 1 {
			t.Errorf("%s stored %d times, want 1", id, n)
		}
	}
}

// warnLines counts the log lines at WARN or above in log[from:].
func warnLines(log string, from int) int {
	n := 0
	for line := range strings.Lines(log[from:]) {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			n++
		}
	}
	return n
}

// An API down for two minutes while a thousand mails queue up: once it is
// back, the whole backlog is delivered within seconds rather than when each
// mail's backoff runs out, at a concurrency no higher than the workers',
// and the outage costs the log a few lines, not one per mail and attempt.
func TestOutageDrainsWhenTheAPIReturns(t *testing.T) {
	chaosEnabled(t)
	const mails, outage = 1000, 2 * time.Minute
	api := testapi.New(t, testapi.Options{Token: "t"})
	cl := newCluster(t, 1, func(_ int, smtp string) string {
		storeYAML, _ := sqliteStore(t)
		return recoveryConfig(storeYAML, api.URL(), "t", smtp)
	})
	logStart := len(cl.logs())
	api.Down()
	down := time.Now()
	ids := send(t, cl, "outage", mails)
	time.Sleep(time.Until(down.Add(outage)))
	outageLog := cl.logs()
	warns := warnLines(outageLog, logStart)
	api.ResetPeak()
	if err := api.Up(); err != nil {
		t.Fatal(err)
	}
	drain := waitAll(t, api, ids, 60*time.Second)
	wantOnce(t, api, ids)
	t.Logf("API down %s with %d mails queued: all delivered %s after it came back; API peak concurrency %d (16 workers); %d log lines at WARN or above during the outage",
		outage, mails, drain.Round(time.Millisecond), api.PeakConcurrency(), warns)
	if drain > 30*time.Second {
		t.Errorf("backlog drained %s after the API came back, want within 30s", drain)
	}
	if p := api.PeakConcurrency(); p > 16 {
		t.Errorf("API peak concurrency %d, more than the 16 workers", p)
	}
	// The outage's beginning, one summary a minute, the probe: a dozen
	// lines at most, whatever the number of mails.
	if warns > 12 {
		t.Errorf("%d lines at WARN or above for a %s outage, want O(1):\n%s", warns, outage, outageLog[logStart:])
	}
	cl.stopAll()
}

// A token the API refuses (revoked while the daemon runs) holds mail back;
// a reload with the new token delivers it at once, not after
// delivery.authRetry.
func TestTokenFixedByReloadDeliversHeldMail(t *testing.T) {
	api := testapi.New(t, testapi.Options{Token: "old"})
	storeYAML, _ := sqliteStore(t)
	cl := newCluster(t, 1, func(_ int, smtp string) string {
		return recoveryConfig(storeYAML, api.URL(), "old", smtp)
	})
	in := cl.instances[0]
	api.SetToken("new")
	ids := send(t, cl, "token", 20)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Each mail's first call (its ticket) is a POST; the probe's are GETs.
	// Once the token counts as refused, the other mail waits untried.
	if _, err := api.Wait(ctx, func(s testapi.State) bool { return refusedPosts(s) >= 1 }); err != nil {
		t.Fatalf("no mail was refused: %v\n%s", err, tail(in.log, 3000))
	}
	testenv.WaitFor(t, 30*time.Second, "the line about the refused token", func() bool {
		return strings.Contains(cl.logs(), "API REJECTS THE TOKEN")
	})
	if n := len(api.Conversations()); n != 0 {
		t.Fatalf("%d conversations stored with a refused token", n)
	}
	config, err := os.ReadFile(in.config)
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.Replace(string(config), "token: old", "token: new", 1)
	if err := os.WriteFile(in.config, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	in.signal(syscall.SIGHUP)
	took := waitAll(t, api, ids, 5*time.Second)
	wantOnce(t, api, ids)
	t.Logf("token fixed by a reload: %d held mails delivered %s after SIGHUP", len(ids), took.Round(time.Millisecond))
	cl.stopAll()
}

// waitAllDelivered waits up to limit for the queue to settle with n
// messages delivered, and returns how long it waited; it fails the test,
// with the end of log, if they are not.
func waitAllDelivered(t *testing.T, s store.Store, n int, limit time.Duration, log string) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	waitQueueSettled(ctx, t, s)
	took := time.Since(start)
	stats, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := stats.Counts[store.Delivered]; got != n {
		t.Fatalf("%d of %d in-flight mails delivered within %s (queue %v)\n%s", got, n, limit, stats.Counts, tail(log, 3000))
	}
	return took
}

func refusedPosts(s testapi.State) int {
	n := 0
	for _, r := range s.Requests {
		if r.Method == http.MethodPost && r.Status == http.StatusForbidden {
			n++
		}
	}
	return n
}

// A daemon SIGKILLed while its stores are under way at the API: restarted,
// it delivers that mail at once (not after the five-minute lease), and what
// the API had stored before the kill is found there, not posted again.
func TestKilledDaemonDeliversItsInflightMailAtRestart(t *testing.T) {
	api := testapi.New(t, testapi.Options{Token: "t"})
	// Every store is written, then never answered.
	api.Inject(testapi.Fault{Method: "POST", Path: "conversation/store", Kind: testapi.DelayAfterStore, Delay: time.Hour})
	storeYAML, dbPath := sqliteStore(t)
	cl := newCluster(t, 1, func(_ int, smtp string) string {
		return recoveryConfig(storeYAML, api.URL(), "t", smtp)
	})
	in := cl.instances[0]
	ids := send(t, cl, "killed", 10)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := api.Wait(ctx, func(s testapi.State) bool { return len(s.Conversations) == len(ids) }); err != nil {
		t.Fatalf("the stores did not all arrive: %v\n%s", err, tail(in.log, 3000))
	}
	in.kill()
	api.ClearFaults()
	if err := cl.start(in); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	s, err := sqlite.Open(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitAllDelivered(t, s, len(ids), 10*time.Second, in.log)
	took := time.Since(restarted)
	wantOnce(t, api, ids)
	t.Logf("SIGKILL with %d stores under way: all recorded delivered %s after the restart, none posted twice", len(ids), took.Round(time.Millisecond))
	cl.stopAll()
}

// Two instances on PostgreSQL; one is SIGKILLed while its stores are under
// way at the API and stays dead. The other takes its claims over within
// seconds (its liveness lapsed), not after the five-minute lease, and finds
// the stores at the API instead of posting them again.
func TestDeadInstanceClaimsTakenOverOnPostgres(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "takeover")
	storeYAML := fmt.Sprintf("{driver: postgres, dsn: '%s'}", dsn)
	api := testapi.New(t, testapi.Options{Token: "t"})
	api.Inject(testapi.Fault{Method: "POST", Path: "conversation/store", Kind: testapi.DelayAfterStore, Delay: time.Hour})
	cl := newCluster(t, 2, func(_ int, smtp string) string {
		return recoveryConfig(storeYAML, api.URL(), "t", smtp)
	})
	victim := cl.instances[0]
	var st smtpStats
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// All the mail goes to the victim, whose workers claim it.
	if err := sendStream(ctx, []string{victim.smtp}, "takeover", 10, 2, 0, &st); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 10)
	for i := range ids {
		ids[i], _ = message("takeover", i)
	}
	if _, err := api.Wait(ctx, func(s testapi.State) bool { return len(s.Conversations) == len(ids) }); err != nil {
		t.Fatalf("the stores did not all arrive: %v\n%s", err, tail(victim.log, 3000))
	}
	victim.kill()
	api.ClearFaults()
	killed := time.Now()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitAllDelivered(t, s, len(ids), 30*time.Second, cl.instances[1].log)
	took := time.Since(killed)
	wantOnce(t, api, ids)
	if !strings.Contains(cl.logs(), "taking over the claims of an instance") {
		t.Error("the survivor did not say it took over a dead instance's claims")
	}
	t.Logf("instance SIGKILLed with %d stores under way: the other recorded all delivered %s later, none posted twice", len(ids), took.Round(time.Millisecond))
	cl.instances[1].stop()
}
