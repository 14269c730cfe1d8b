package postgres

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/internal/sqlrow"
)

const messageColumns = sqlrow.MessageColumns

// scanMessage reads messageColumns, then the extra columns into extra.
func scanMessage(sc sqlrow.Scanner, extra ...any) (store.Message, error) {
	return sqlrow.ScanMessage(sc, func(t *time.Time) any { return utcTime{t} }, extra...)
}

// utcTime scans a timestamptz in UTC, NULL being the zero time.
type utcTime struct{ t *time.Time }

func (u utcTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*u.t = time.Time{}
	case time.Time:
		*u.t = v.UTC()
	default:
		return fmt.Errorf("postgres: time column holds %T", v)
	}
	return nil
}

// text makes s storable in a text column, which takes neither NUL nor
// invalid UTF-8 (SQLite takes both): each such byte becomes U+FFFD, as
// encoding/json does when the id goes out to the API. Header fields are
// bytes as the mail had them, and an Enqueue that failed on them would
// refuse the mail for good. Every lookup key (external ids, Message-IDs)
// goes through text too, so a damaged id still finds its own row.
func text(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == 0 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// texts applies text to each of ss.
func texts(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = text(s)
	}
	return out
}
