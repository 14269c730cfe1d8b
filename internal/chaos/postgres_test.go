package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/postgres"
)

// TestChaosPostgres: three processes on one PostgreSQL, one killed every
// few seconds, PostgreSQL restarted once, under the full load (docs/benchmarks.md).
func TestChaosPostgres(t *testing.T) {
	chaosEnabled(t)
	dsn := testenv.UsePostgres(t).Schema(t, "chaos")
	run(t, scenario{
		instances: 3,
		smtpMails: 2000,
		imapMails: 1000,
		killEvery: 3 * time.Second,
		minKills:  15,
		storeConfig: func(*testing.T) string {
			return fmt.Sprintf("{driver: postgres, dsn: '%s'}", dsn)
		},
		openStore: func(t *testing.T) store.Store {
			st, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		midRun: restartPostgres,
	})
}

// restartPostgres runs $MAILBRIDGE_PG_RESTART (e.g. "pg_ctlcluster 15 main
// restart"), the command that restarts the PostgreSQL the test uses.
func restartPostgres(t *testing.T) string {
	cmdline := os.Getenv("MAILBRIDGE_PG_RESTART")
	if cmdline == "" {
		return "; PostgreSQL not restarted (MAILBRIDGE_PG_RESTART unset)"
	}
	f := strings.Fields(cmdline)
	started := time.Now()
	if out, err := exec.Command(f[0], f[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}
	return fmt.Sprintf("; PostgreSQL restarted once (%s)", time.Since(started).Round(time.Millisecond))
}
