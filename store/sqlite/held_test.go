package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// TestHeldMigration: a database from before the held state keeps its
// messages, passes an integrity check and takes held messages.
func TestHeldMigration(t *testing.T) {
	path, db := beforeHeld(t)
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

// beforeHeld is a database at the schema version before the held state,
// open for the caller to change and close.
func beforeHeld(t *testing.T) (string, *sql.DB) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:heldVersion-1] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", heldVersion-1)); err != nil {
		t.Fatal(err)
	}
	return path, db
}

// A message table whose state CHECK is written otherwise than the held
// migration expects (other spacing) is not left without the held state:
// the migration fails, and the database stays as it was.
func TestHeldMigrationChecksItsRewrite(t *testing.T) {
	path, db := beforeHeld(t)
	if _, err := db.Exec(`PRAGMA writable_schema = ON;
		UPDATE sqlite_schema SET sql = replace(sql, '''dead'', ''dropped'')', '''dead'',''dropped'')')
			WHERE type = 'table' AND name = 'message';
		PRAGMA writable_schema = RESET;`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(t.Context(), path)
	if err == nil {
		s.Close()
		t.Fatal("opened a database whose CHECK the held migration could not widen")
	}
	if !strings.Contains(err.Error(), "'held' could not be added") {
		t.Errorf("error: %v", err)
	}
}
