package sqlite

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// CompleteWithParticipants records the delivery and the participants in
// one write; a lost claim is refused, and its participants kept.
func TestCompleteWithParticipants(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	ctx := t.Context()
	for _, ext := range []string{"a@example.org", "b@example.org"} {
		if _, err := s.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: ext, Raw: []byte("x"), ReceivedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	claims, err := s.Claim(ctx, time.Now(), time.Minute, 2)
	if err != nil || len(claims) != 2 {
		t.Fatalf("Claim: %d claims, %v", len(claims), err)
	}
	a, b := claims[0], claims[1]
	o := store.Outcome{TicketID: 7, ConversationID: 70, EventID: 700}
	if err := s.CompleteWithParticipants(ctx, a.ID, a.Attempt, o, 1, 7, []string{"jane@example.org", "carl@example.org"}); err != nil {
		t.Fatal(err)
	}
	if m, _, err := s.Get(ctx, a.ID); err != nil || m.State != store.Delivered || m.ConversationID != 70 {
		t.Fatalf("after CompleteWithParticipants: %+v, %v", m, err)
	}
	// b's claim is stale: another worker's claim took it over.
	if _, err := s.Claim(ctx, time.Now().Add(time.Hour), time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	err = s.CompleteWithParticipants(ctx, b.ID, b.Attempt, store.Outcome{TicketID: 8}, 1, 8, []string{"otto@example.org"})
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("CompleteWithParticipants on a lost claim: %v, want ErrLeaseLost", err)
	}
	if m, _, err := s.Get(ctx, b.ID); err != nil || m.State != store.Inflight || m.ConversationID != 0 {
		t.Fatalf("lost claim's message: %+v, %v; want inflight, not delivered", m, err)
	}
	for ticket, want := range map[int64][]string{7: {"carl@example.org", "jane@example.org"}, 8: {"otto@example.org"}} {
		got, err := s.Participants(ctx, 1, ticket)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("participants of ticket %d: %v, %v; want %v", ticket, got, err, want)
		}
	}
}
