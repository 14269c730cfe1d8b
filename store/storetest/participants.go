package storetest

import (
	"slices"
	"testing"
)

// testParticipants: addresses recorded per subchannel and ticket, each
// once, kept across a reopen.
func testParticipants(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	wantNoErr(t, "AddParticipants", s.AddParticipants(ctx, 1, 10, []string{"jane@example.org", "support@example.com"}))
	wantNoErr(t, "AddParticipants", s.AddParticipants(ctx, 1, 10, []string{"jane@example.org", "bob@example.net"}))
	wantNoErr(t, "AddParticipants", s.AddParticipants(ctx, 2, 10, []string{"mallory@example.net"}))
	wantNoErr(t, "AddParticipants(none)", s.AddParticipants(ctx, 1, 11, nil))
	s.Close()
	s = openStore(t, open)
	got, err := s.Participants(ctx, 1, 10)
	wantNoErr(t, "Participants", err)
	slices.Sort(got)
	if want := []string{"bob@example.net", "jane@example.org", "support@example.com"}; !slices.Equal(got, want) {
		t.Errorf("Participants(1, 10) = %q, want %q", got, want)
	}
	got, err = s.Participants(ctx, 2, 10)
	wantNoErr(t, "Participants", err)
	if !slices.Equal(got, []string{"mallory@example.net"}) {
		t.Errorf("Participants(2, 10) = %q: another subchannel's ticket 10 is another ticket", got)
	}
	if got, err := s.Participants(ctx, 1, 11); err != nil || len(got) != 0 {
		t.Errorf("Participants(1, 11) = %q, %v; want none", got, err)
	}
}
