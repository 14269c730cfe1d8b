package postgres

import (
	"testing"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
)

// The inserts of a batch get the ids of their own rows whatever the order
// of their keys: one external id on two subchannels is two messages, a key
// queued before the batch is taken, and a key taken earlier in the batch
// is taken however many times it comes again.
func TestInsertBatchKeys(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "batchkeys"))
	defer s.Close()
	ctx := t.Context()
	if _, err := s.Enqueue(ctx, store.NewMessage{SubchannelID: 2, ExternalID: "old", Raw: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	type key struct {
		sub int
		ext string
	}
	keys := []key{{2, "z"}, {1, "z"}, {2, "old"}, {1, "a"}, {2, "z"}, {3, "z"}, {1, "a"}, {1, "a"}, {2, "a"}}
	var reqs []insertRequest
	for i, k := range keys {
		m := store.NewMessage{SubchannelID: k.sub, ExternalID: k.ext, Raw: []byte{byte('0' + i)}}
		reqs = append(reqs, insertRequest{ctx: ctx, args: s.insertArgs(m, k.ext, 1, nil)})
	}
	got := runBatch(s, reqs)
	seen := map[key]bool{{2, "old"}: true}
	for i, k := range keys {
		r := got[i]
		if r.err != nil {
			t.Fatalf("insert %d %v: %v", i, k, r.err)
		}
		if want := !seen[k]; r.ok != want {
			t.Errorf("insert %d %v: ok %v, want %v", i, k, r.ok, want)
			continue
		}
		seen[k] = true
		if !r.ok {
			continue
		}
		m, raw, err := s.Get(ctx, r.id)
		if err != nil || m.SubchannelID != k.sub || m.ExternalID != k.ext || string(raw) != string(rune('0'+i)) {
			t.Errorf("insert %d %v: id %d holds %d/%s %q, %v", i, k, r.id, m.SubchannelID, m.ExternalID, raw, err)
		}
	}
}
