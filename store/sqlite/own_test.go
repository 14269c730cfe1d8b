package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// A daemon that owns the database takes over the claims of the one that
// ran before it at once, and a second daemon cannot own it meanwhile.
func TestOwnTakesOverTheClaimsOfTheDaemonBefore(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "q.db")
	before := openTest(t, path)
	if _, err := before.Own(ctx, time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	res, err := before.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: "a@x", Raw: []byte("Subject: a\r\n\r\nx")})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := before.Claim(ctx, time.Now(), time.Hour, 1)
	if err != nil || len(claims) != 1 {
		t.Fatalf("Claim = %v, %v", claims, err)
	}

	// A second daemon while the first lives: refused, and the claim stays.
	second := openTest(t, path)
	defer second.Close()
	if _, err := second.Own(ctx, time.Now(), 0); !errors.Is(err, ErrOwned) {
		t.Fatalf("Own while another daemon owns the database = %v, want ErrOwned", err)
	}
	if got, _ := second.Claim(ctx, time.Now(), time.Hour, 1); len(got) != 0 {
		t.Fatalf("a claim of the live daemon was taken over: %v", got)
	}

	// The first daemon ends without a report (its lock goes with it).
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}
	// The grace lets the dead daemon's last request end at the API first.
	const grace = 10 * time.Minute
	owned := time.Now()
	n, err := second.Own(ctx, owned, grace)
	if err != nil || n != 1 {
		t.Fatalf("Own after the daemon before ended = %d, %v; want 1, nil", n, err)
	}
	if got, _ := second.Claim(ctx, owned.Add(grace-time.Second), time.Hour, 1); len(got) != 0 {
		t.Fatalf("the claim of the daemon before was taken over within the grace: %v", got)
	}
	got, err := second.Claim(ctx, owned.Add(grace), time.Hour, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("Claim after Own = %v, %v; want the message in flight before", got, err)
	}
	if c := got[0]; c.ID != res.ID || !c.Reclaimed || c.Uncertain != 1 {
		t.Errorf("taken over: id %d, Reclaimed %v, Uncertain %d; want %d, true, 1", c.ID, c.Reclaimed, c.Uncertain, res.ID)
	}
}

// Two paths to one database (a symlink) meet at one lock.
func TestOwnThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	link := filepath.Join(dir, "link.db")
	first := openTest(t, path)
	defer first.Close()
	if _, err := first.Own(t.Context(), time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	second := openTest(t, link)
	defer second.Close()
	if _, err := second.Own(t.Context(), time.Now(), 0); !errors.Is(err, ErrOwned) {
		t.Fatalf("Own through a symlink while the file is owned = %v, want ErrOwned", err)
	}
}
