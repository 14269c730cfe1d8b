package sqlrow

import (
	"bytes"
	"fmt"

	"github.com/enneo/mailbridge/store"
)

// KinQuery selects the messages a new message under a taken key is told
// apart from, in the columns ScanKin reads: the message queued under the
// key itself (first: 1), and those queued under ids derived from it. Its
// parameters are @subchannel and @key (':' for SQLite, '@' for pgx:
// prefix names the syntax).
func KinQuery(prefix string) string {
	return `
		SELECT id, external_id, variant, digest, state, true FROM message
		WHERE subchannel_id = ` + prefix + `subchannel AND external_id = ` + prefix + `key
		UNION ALL
		SELECT id, external_id, variant, digest, state, false FROM message
		WHERE subchannel_id = ` + prefix + `subchannel AND variant_of = ` + prefix + `key`
}

// Kin is a message queued under a dedup key.
type Kin struct {
	ID         int64
	ExternalID string
	Variant    int
	Digest     []byte
	State      store.State
	// First is the message queued under the key itself; the others are
	// queued under ids derived from it.
	First bool
}

// ScanKin reads the rows of KinQuery.
func ScanKin(rows Rows) ([]Kin, error) {
	var kin []Kin
	for rows.Next() {
		var k Kin
		if err := rows.Scan(&k.ID, &k.ExternalID, &k.Variant, &k.Digest, &k.State, &k.First); err != nil {
			return nil, err
		}
		kin = append(kin, k)
	}
	return kin, rows.Err()
}

// MaxVariants bounds the numbered ids under one key, and so the rows each
// decision under it reads. A mail re-sent with changes a thousand times
// over is an attack; the mail it is after must still not be refused, so
// the content beyond gets an id of its own digest (Overflow).
const MaxVariants = 1000

// Overflow is the variant number Decide returns for a message of a key
// that has MaxVariants already: it is queued under store.OverflowID, outside
// the key's numbered ids, and its re-sends find it by that id.
const Overflow = -1

// Decide tells a new message with digest apart from kin, the messages
// already under its key (see store.Store.Enqueue). It returns the
// duplicate, or the number of the derived id to queue the message under:
// the next after the highest its key holds, and at least floor (an id
// found taken by a message of another key).
func Decide(kin []Kin, digest []byte, floor int) (store.EnqueueResult, int, error) {
	var first, unknown *Kin
	highest := 1
	for i := range kin {
		k := &kin[i]
		if k.First {
			first = k
		} else {
			highest = max(highest, k.Variant)
		}
		if len(digest) > 0 && bytes.Equal(k.Digest, digest) {
			return duplicate(k, kin), 0, nil
		}
		if len(k.Digest) == 0 && unknown == nil {
			unknown = k
		}
	}
	switch {
	case len(digest) == 0 && first != nil:
		return duplicate(first, kin), 0, nil
	case unknown != nil:
		return duplicate(unknown, kin), 0, nil
	case first == nil:
		// The key's own message is gone from under the conflict: no
		// store deletes messages, so the schema or the caller is wrong.
		return store.EnqueueResult{}, 0, fmt.Errorf("store: key taken but no message under it")
	}
	n := max(highest+1, floor, 2)
	if n > MaxVariants {
		if len(digest) == 0 {
			return store.EnqueueResult{}, 0, fmt.Errorf("store: more than %d messages of different content under one key", MaxVariants)
		}
		return store.EnqueueResult{FirstID: first.ID}, Overflow, nil
	}
	return store.EnqueueResult{FirstID: first.ID}, n, nil
}

// OverflowDuplicate is the result for a message whose overflow id ext was
// taken: kin is what holds ext, which must be the same content.
func OverflowDuplicate(kin []Kin, digest []byte, ext string, firstID int64) (store.EnqueueResult, error) {
	for i := range kin {
		if kin[i].First && bytes.Equal(kin[i].Digest, digest) {
			res := duplicate(&kin[i], kin)
			res.FirstID = firstID
			return res, nil
		}
	}
	return store.EnqueueResult{}, fmt.Errorf("store: %s is taken by other content", ext)
}

func duplicate(k *Kin, kin []Kin) store.EnqueueResult {
	res := store.EnqueueResult{ID: k.ID, ExternalID: k.ExternalID, Duplicate: true, State: k.State}
	if !k.First {
		for _, f := range kin {
			if f.First {
				res.FirstID = f.ID
			}
		}
	}
	return res
}
