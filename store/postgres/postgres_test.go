package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/storetest"
)

// schemas opens stores by name for the shared suite: each name is a schema
// of its own, made on first use and dropped after the test that made it.
func schemas(pg *testenv.Postgres) storetest.Open {
	var mu sync.Mutex
	dsns := map[string]string{}
	return func(t *testing.T, name string) store.Store {
		mu.Lock()
		dsn, ok := dsns[name]
		if !ok {
			dsn = pg.Schema(t, name)
			dsns[name] = dsn
		}
		mu.Unlock()
		return openTest(t, dsn)
	}
}

func TestStore(t *testing.T) {
	open := schemas(testenv.UsePostgres(t))
	storetest.Run(t, open)
	storetest.RunCheckpoints(t, open)
	storetest.RunInstances(t, open)
	storetest.RunOAuthTokens(t, open)
}

// openTest opens the store at dsn; the caller closes it.
func openTest(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func queryString(t *testing.T, s *Store, sql string) string {
	t.Helper()
	var v string
	if err := s.pool.QueryRow(t.Context(), sql).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// The durability promise rests on this: a commit has been flushed to
// disk when it returns.
func TestSynchronousCommit(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "sync"))
	defer s.Close()
	if got := queryString(t, s, "SHOW synchronous_commit"); got != "on" {
		t.Fatalf("synchronous_commit = %s, want on", got)
	}
	if got := queryString(t, s, "SHOW application_name"); got != "mailbridge" {
		t.Errorf("application_name = %s, want mailbridge", got)
	}
}

func TestSchemaVersion(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "version")
	s := openTest(t, dsn)
	if got, want := queryString(t, s, "SELECT version::text FROM schema_version"), strconv.Itoa(len(migrations)); got != want {
		t.Fatalf("schema version %s, want %s", got, want)
	}
	if _, err := s.Enqueue(t.Context(), store.NewMessage{ExternalID: "a", Raw: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, dsn)
	if _, _, err := s.Get(t.Context(), 1); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
	// As if a later mailbridge had migrated it.
	if _, err := s.pool.Exec(t.Context(), "UPDATE schema_version SET version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(t.Context(), dsn)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v, want an error", err)
	}
}

// Instances starting together on an empty schema migrate it once; none
// fails on tables another is creating.
func TestConcurrentMigrations(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "migrate")
	const instances = 8
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
}

func TestOpenWithoutSchema(t *testing.T) {
	pg := testenv.UsePostgres(t)
	_, err := Open(t.Context(), testenv.WithSearchPath(t, pg.DSN, "mbt_no_such_schema"))
	if err == nil || !strings.Contains(err.Error(), "search_path") {
		t.Fatalf("Open with a missing schema: %v, want an error naming search_path", err)
	}
}

// Header fields arrive as the mail had them; PostgreSQL's text refuses NUL
// and invalid UTF-8, which must not make Enqueue refuse the mail.
func TestEnqueueDamagedText(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "damaged"))
	defer s.Close()
	ctx := t.Context()
	m := store.NewMessage{
		SubchannelID: 1,
		ExternalID:   "bad\xff\x00id@example.com",
		MessageID:    "<bad\xff\x00id@example.com>",
		Subject:      "Gr\xfc\xdfe\x00",
		From:         "J\xf6rg <j@example.com>",
		Raw:          []byte("raw\x00\xff bytes stay"),
	}
	res, err := s.Enqueue(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	got, raw, err := s.Get(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != string(m.Raw) {
		t.Errorf("raw = %q, want %q", raw, m.Raw)
	}
	if got.Subject != "Gr\uFFFD\uFFFDe\uFFFD" || got.ExternalID != "bad\uFFFD\uFFFDid@example.com" {
		t.Errorf("subject %q, external id %q", got.Subject, got.ExternalID)
	}
	// The same damaged id is the same message.
	again, err := s.Enqueue(ctx, m)
	if err != nil || !again.Duplicate || again.ID != res.ID {
		t.Fatalf("Enqueue again = %+v, %v; want a duplicate of %d", again, err, res.ID)
	}
	c, err := s.Claim(ctx, got.NextAttemptAt, time.Minute, 1)
	if err != nil || len(c) != 1 {
		t.Fatalf("Claim = %v, %v", c, err)
	}
	if err := s.Complete(ctx, res.ID, c[0].Attempt, store.Outcome{TicketID: 5}); err != nil {
		t.Fatal(err)
	}
	if h, ok, err := s.Thread(ctx, 1, []string{m.ExternalID}); err != nil || !ok || h.TicketID != 5 {
		t.Errorf("Thread(damaged id) = %+v, %v, %v; want ticket 5", h, ok, err)
	}
	if err := s.LinkThread(ctx, 1, "link\xff", 6); err != nil {
		t.Fatal(err)
	}
	if h, ok, err := s.Thread(ctx, 1, []string{"link\xff"}); err != nil || !ok || h.TicketID != 6 {
		t.Errorf("Thread(damaged link) = %+v, %v, %v; want ticket 6", h, ok, err)
	}
}

func TestDescribe(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://mb:SECRET@db.example.com:6543/queue?sslmode=require": "mb@db.example.com:6543/queue",
		"host=db user=mb password=SECRET dbname=queue":                   "mb@db:5432/queue",
		"postgres://mb:SECRET@db:port/x":                                 "(connection string does not parse)",
	} {
		if got := Describe(dsn); got != want {
			t.Errorf("Describe(%q) = %q, want %q", dsn, got, want)
		}
	}
}

func TestLeases(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "lease"))
	defer s.Close()
	ctx := t.Context()
	take := func(name, holder string, ttl time.Duration, want bool) {
		t.Helper()
		got, err := s.TakeLease(ctx, name, holder, ttl)
		if err != nil || got != want {
			t.Fatalf("TakeLease(%s, %s) = %v, %v; want %v", name, holder, got, err, want)
		}
	}
	take("inbox", "a", time.Minute, true)
	take("inbox", "b", time.Minute, false)
	take("sales", "b", time.Minute, true) // per name
	take("inbox", "a", time.Minute, true) // renewal

	// Dropped, it is free at once; only its holder can drop it.
	if err := s.DropLease(ctx, "inbox", "b"); err != nil {
		t.Fatal(err)
	}
	take("inbox", "b", time.Minute, false)
	if err := s.DropLease(ctx, "inbox", "a"); err != nil {
		t.Fatal(err)
	}
	take("inbox", "b", 200*time.Millisecond, true)

	// Expired, anyone takes it.
	take("inbox", "a", time.Minute, false)
	time.Sleep(250 * time.Millisecond)
	take("inbox", "a", time.Minute, true)
	take("inbox", "b", time.Minute, false)
}

// A queue from before content digests: its messages, which have none,
// stay duplicates' records by key alone once the schema is migrated.
func TestMigrateRowsWithoutDigest(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "digestless")
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	const before = 2 // the version without digests
	for _, q := range append(migrations[:before:before],
		`CREATE TABLE schema_version (version integer NOT NULL)`,
		`INSERT INTO schema_version VALUES (2)`,
		`INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr, state, size,
			received_at, created_at, updated_at, next_attempt_at, raw)
		VALUES (1, 'old@example.com', '<old@example.com>', 's', 'f', 'delivered', 1,
			now(), now(), now(), now(), 'x')`,
	) {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var id int64
	if err := conn.QueryRow(t.Context(), `SELECT id FROM message`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())

	s := openTest(t, dsn)
	defer s.Close()
	for _, d := range []string{"one", "two"} {
		res, err := s.Enqueue(t.Context(), store.NewMessage{SubchannelID: 1, ExternalID: "old@example.com",
			Raw: []byte(d), Digest: []byte(d)})
		want := store.EnqueueResult{ID: id, ExternalID: "old@example.com", Duplicate: true, State: store.Delivered}
		if err != nil || res != want {
			t.Fatalf("Enqueue with digest %s = %+v, %v; want %+v", d, res, err, want)
		}
	}
}

// A queued message of a version that kept a deleted ticket only in its
// last error gets it back as GoneTicketID.
func TestMigrateGoneTicketFromLastError(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "goneticket")
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	const before = 4 // the version without gone_ticket_id
	insert := `INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr, state, size,
			received_at, created_at, updated_at, next_attempt_at, raw, last_error)
		VALUES (1, '%s', '', 's', 'f', '%s', 1, now(), now(), now(), now(), 'x', '%s')`
	for _, q := range append(migrations[:before:before],
		`CREATE TABLE schema_version (version integer NOT NULL)`,
		`INSERT INTO schema_version VALUES (4)`,
		fmt.Sprintf(insert, "gone@x", "queued", "ticket 4711 not found"),
		fmt.Sprintf(insert, "other@x", "queued", "ticket resolution: 503"),
		fmt.Sprintf(insert, "done@x", "delivered", "ticket 5 not found"),
	) {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(t.Context())

	s := openTest(t, dsn)
	defer s.Close()
	msgs, err := s.List(t.Context(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"gone@x": 4711, "other@x": 0, "done@x": 0}
	for _, m := range msgs {
		if m.GoneTicketID != want[m.ExternalID] {
			t.Errorf("%s (%q): GoneTicketID %d, want %d", m.ExternalID, m.LastError, m.GoneTicketID, want[m.ExternalID])
		}
	}
	if len(msgs) != len(want) {
		t.Errorf("%d messages after the migration, want %d", len(msgs), len(want))
	}
}

// A queue of the version with message_state keeps its messages findable
// by state once its lookups moved to the partial indexes.
func TestMigrateStateIndexes(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "stateindexes")
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	const before = 12 // the version with message_state
	insert := `INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr, state, size,
			received_at, created_at, updated_at, next_attempt_at, lease_until, claimed_by, raw)
		VALUES (1, '%s', '', 's', 'f', '%s', 1, now(), now(), now(), now(), %s, %s, 'x')`
	for _, q := range append(migrations[:before:before],
		`CREATE TABLE schema_version (version integer NOT NULL)`,
		`INSERT INTO schema_version VALUES (12)`,
		fmt.Sprintf(insert, "dead@x", "dead", "NULL", "NULL"),
		fmt.Sprintf(insert, "claimed@x", "inflight", "now() + interval '1 hour'", "'gone'"),
		fmt.Sprintf(insert, "done@x", "delivered", "NULL", "NULL"),
	) {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(t.Context())

	s := openTest(t, dsn)
	defer s.Close()
	if got := queryString(t, s, `SELECT count(*)::text FROM pg_indexes
		WHERE indexname = 'message_state' AND schemaname = current_schema()`); got != "0" {
		t.Errorf("message_state still there after the migration")
	}
	dead, err := s.List(t.Context(), store.Filter{States: []store.State{store.Dead}})
	if err != nil || len(dead) != 1 || dead[0].ExternalID != "dead@x" {
		t.Errorf("List(dead) = %v, %v; want dead@x", dead, err)
	}
	if n, err := s.TakeOverDead(t.Context(), 0); err != nil || n != 1 {
		t.Errorf("TakeOverDead = %d, %v; want the claim of the instance without a liveness row", n, err)
	}
}
