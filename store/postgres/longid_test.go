package postgres

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mapper"
	"github.com/enneo/mailbridge/store"
)

// PostgreSQL limits a btree entry to 2704 bytes, and the message's key
// and the thread map are btrees: a mail under a Message-ID of several KB
// must still be queued and linked, or it is refused at every try (an SMTP
// 451, an IMAP message left on the server) for good. Its key is the one
// the pipeline gives it.
func TestEnqueueLongMessageID(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "longid"))
	defer s.Close()
	ctx := t.Context()
	// Random-looking, so that PostgreSQL's compression of the index entry
	// does not bring it under the limit.
	var b strings.Builder
	for i := 0; b.Len() < 4000; i++ {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	long := b.String() + "@example.org"
	for _, body := range []string{"first", "second, another content"} {
		raw := []byte("From: a@example.com\r\nMessage-ID: <" + long + ">\r\nSubject: s\r\n\r\n" + body + "\r\n")
		key := mapper.ExternalID(raw, mapper.ParseHeader(raw))
		sum := sha256.Sum256(raw)
		res, err := s.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: key, MessageID: key, Raw: raw, Digest: sum[:]})
		if err != nil {
			t.Fatalf("Enqueue under a %d-byte Message-ID: %v", len(long), err)
		}
		if res.Duplicate || res.ID == 0 {
			t.Fatalf("Enqueue of %q = %+v, want a new row", body, res)
		}
		if err := s.LinkThread(ctx, 1, key, 7); err != nil {
			t.Errorf("LinkThread: %v", err)
		}
	}
	if _, _, err := s.Thread(ctx, 1, []string{long}); err != nil {
		t.Errorf("Thread: %v", err)
	}
}
