package sqlite

import (
	"fmt"
	"time"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/internal/sqlrow"
)

const messageColumns = sqlrow.MessageColumns

// scanMessage reads messageColumns, then the extra columns into extra.
func scanMessage(sc sqlrow.Scanner, extra ...any) (store.Message, error) {
	return sqlrow.ScanMessage(sc, func(t *time.Time) any { return millis{t} }, extra...)
}

// millis scans a time stored as unix milliseconds, 0 being the zero time.
type millis struct{ t *time.Time }

func (m millis) Scan(v any) error {
	ms, ok := v.(int64)
	if !ok {
		return fmt.Errorf("sqlite: time column holds %T, want int64", v)
	}
	*m.t = time.Time{}
	if ms != 0 {
		*m.t = time.UnixMilli(ms).UTC()
	}
	return nil
}

// unixMilli is the inverse of millis.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
