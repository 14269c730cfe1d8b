package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// TestHeldMigration: a database from before the held state keeps its
// messages, passes an integrity check and takes held messages.
func TestHeldMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	const before = 7 // the version before the held state
	for _, m := range migrations[:before] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", before)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := openTest(t, path)
	defer s.Close()
	res, err := s.Enqueue(t.Context(), store.NewMessage{SubchannelID: 1, ExternalID: "a", Raw: []byte("x"), ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if got := pragma(t, s.c.conn, "integrity_check"); got != "ok" {
		t.Fatalf("integrity_check = %s", got)
	}
	c, err := s.Claim(t.Context(), time.Now(), time.Minute, 1)
	if err != nil || len(c) != 1 {
		t.Fatalf("Claim: %v, %d", err, len(c))
	}
	if err := s.Hold(t.Context(), res.ID, c[0].Attempt, "held"); err != nil {
		t.Fatalf("Hold after migration: %v", err)
	}
	if _, err := s.c.conn.ExecContext(t.Context(), `UPDATE message SET state = 'bogus'`); err == nil {
		t.Fatal("the widened CHECK constraint accepts any state")
	}
}
