package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresDSN is the role and database scripts/install-test-deps
// creates on the machine's PostgreSQL.
const DefaultPostgresDSN = "postgres://mailbridge_test:mailbridge_test@127.0.0.1:5432/mailbridge_test?sslmode=disable"

// PostgresDSNEnv names the variable that points the tests at another
// PostgreSQL.
const PostgresDSNEnv = "MAILBRIDGE_PG_DSN"

// Postgres is the PostgreSQL the tests share. Each test works in schemas
// of its own (Schema), so tests and concurrent test runs do not meet.
type Postgres struct {
	DSN string
}

var pgProbe = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresDSN())
	if err != nil {
		return err
	}
	return conn.Close(ctx)
})

func postgresDSN() string {
	if dsn := os.Getenv(PostgresDSNEnv); dsn != "" {
		return dsn
	}
	return DefaultPostgresDSN
}

// UsePostgres returns the test PostgreSQL: $MAILBRIDGE_PG_DSN, or
// DefaultPostgresDSN. When it does not answer the test is skipped, or
// failed when end-to-end tests are required (MAILBRIDGE_E2E=1, as in CI).
func UsePostgres(t testing.TB) *Postgres {
	t.Helper()
	if err := pgProbe(); err != nil {
		where := "127.0.0.1:5432 for the role mailbridge_test"
		if os.Getenv(PostgresDSNEnv) != "" {
			where = "$" + PostgresDSNEnv
		}
		skipMissing(t, "no PostgreSQL answers at %s (%v)", where, err)
	}
	return &Postgres{DSN: postgresDSN()}
}

// Schema creates a fresh schema for the test and returns a DSN whose
// search_path is that schema; it is dropped, with all in it, after the
// test. name makes it recognisable; a random suffix makes it unique.
func (p *Postgres) Schema(t testing.TB, name string) string {
	t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name = strings.ToLower(name)
	if len(name) > 40 {
		name = name[:40]
	}
	schema := pgx.Identifier{"mbt_" + name + "_" + hex.EncodeToString(rnd[:])}
	p.admin(t, "CREATE SCHEMA "+schema.Sanitize())
	t.Cleanup(func() { p.admin(t, "DROP SCHEMA "+schema.Sanitize()+" CASCADE") })
	return WithSearchPath(t, p.DSN, schema[0])
}

// admin runs one statement on a connection of its own.
func (p *Postgres) admin(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// WithSearchPath sets search_path in dsn, a URL or a keyword/value
// connection string.
func WithSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("%s: %v", PostgresDSNEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return fmt.Sprintf("%s search_path='%s'", dsn, schema)
}
