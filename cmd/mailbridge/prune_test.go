package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/sqlite"
)

// queue show --raw of a delivered mail whose raw bytes were pruned says
// so, rather than printing nothing with success; its record still shows.
func TestQueueShowPruned(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := st.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: "pruned@example.com", Digest: []byte{1},
		Raw: []byte("Message-ID: <pruned@example.com>\r\n\r\nbody\r\n"), ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.Claim(ctx, time.Now(), time.Minute, 1)
	if err != nil || len(c) != 1 {
		t.Fatalf("Claim = %v, %v", c, err)
	}
	if err := st.Complete(ctx, res.ID, c[0].Attempt, store.Outcome{TicketID: 3}); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := queueShow(ctx, st, []string{"--raw", "1"}, &out, &errb); err != nil || !strings.Contains(out.String(), "pruned@example.com") {
		t.Fatalf("show --raw before pruning: %v\n%s", err, out.String())
	}
	if n, err := st.Prune(ctx, time.Now().Add(time.Second), 10); n != 1 || err != nil {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	out.Reset()
	err = queueShow(ctx, st, []string{"--raw", "1"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "store.keepDelivered") || out.Len() != 0 {
		t.Errorf("show --raw after pruning: %v, printed %q; want an error naming store.keepDelivered", err, out.String())
	}
	out.Reset()
	if err := queueShow(ctx, st, []string{"1"}, &out, &errb); err != nil || !strings.Contains(out.String(), "delivered") {
		t.Errorf("show after pruning: %v\n%s", err, out.String())
	}
}
