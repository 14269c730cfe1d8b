package postgres

import (
	"testing"

	"github.com/enneo/mailbridge/internal/testenv"
)

// Raw mail is compressed with lz4 where the server has it (PostgreSQL 14
// and later, built with lz4, as Debian's is).
func TestRawCompression(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "lz4"))
	defer s.Close()
	if queryString(t, s, "SELECT (current_setting('server_version_num')::int >= 140000)::text") != "true" {
		t.Skip("PostgreSQL before 14 compresses with pglz only")
	}
	if got := queryString(t, s, `SELECT attcompression::text FROM pg_attribute
		WHERE attrelid = 'message'::regclass AND attname = 'raw'`); got != "l" {
		t.Fatalf("raw column compression %q, want l (lz4)", got)
	}
}
