package sqlrow

import (
	"fmt"
	"slices"

	"github.com/enneo/mailbridge/store"
)

// defaultListLimit is the number of messages List returns when the
// filter sets none.
const defaultListLimit = 100

// ListLimit is the number of messages List returns for f.
func ListLimit(f store.Filter) int {
	if f.Limit <= 0 {
		return defaultListLimit
	}
	return f.Limit
}

// StateNames are states as the state column holds them.
func StateNames(states []store.State) []string {
	names := make([]string, len(states))
	for i, st := range states {
		names[i] = string(st)
	}
	return names
}

// NotFound is the error for a message id the queue does not hold.
func NotFound(id int64) error {
	return fmt.Errorf("%w: %d", store.ErrNotFound, id)
}

// CheckState refuses an operator action on message id, which is in state
// st, unless st is one of from.
func CheckState(id int64, st store.State, from []store.State) error {
	if !slices.Contains(from, st) {
		return fmt.Errorf("%w: message %d is %s", store.ErrWrongState, id, st)
	}
	return nil
}

// NewStats is Stats with a zero count for every state, so that a state
// without messages still shows (and its gauge reads 0).
func NewStats() store.Stats {
	return store.Stats{Counts: map[store.State]int{
		store.Queued: 0, store.Inflight: 0, store.Delivered: 0, store.Dead: 0, store.Dropped: 0, store.Held: 0,
	}}
}
