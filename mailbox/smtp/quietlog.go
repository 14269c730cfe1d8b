package smtp

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logInterval is how often a repeated refusal is logged: a client that
// sends a hundred thousand bad recipients gets a few lines, each with the
// number of refusals it stands for, not a hundred thousand.
const logInterval = 10 * time.Second

// quietLog logs the first line of each kind and then at most one per
// logInterval; "repeated" on a line counts those of its kind left out
// before it.
type quietLog struct {
	mu    sync.Mutex
	kinds map[string]*quietKind
}

type quietKind struct {
	next       time.Time
	suppressed int
	level      slog.Level
	attrs      []any // the last one left out
}

func (q *quietLog) log(l *slog.Logger, level slog.Level, msg string, attrs ...any) {
	now := time.Now()
	q.mu.Lock()
	if q.kinds == nil {
		q.kinds = map[string]*quietKind{}
	}
	k := q.kinds[msg]
	if k == nil {
		k = &quietKind{}
		q.kinds[msg] = k
	}
	if now.Before(k.next) {
		k.suppressed++
		k.level, k.attrs = level, attrs
		q.mu.Unlock()
		return
	}
	if k.suppressed > 0 {
		attrs = append(attrs, "repeated", k.suppressed)
	}
	k.next, k.suppressed, k.attrs = now.Add(logInterval), 0, nil
	q.mu.Unlock()
	l.Log(context.Background(), level, msg, attrs...)
}

// flush logs what was left out since the last line of each kind.
func (q *quietLog) flush(l *slog.Logger) {
	q.mu.Lock()
	type line struct {
		level slog.Level
		msg   string
		attrs []any
	}
	var lines []line
	for msg, k := range q.kinds {
		if k.suppressed > 0 {
			attrs := k.attrs
			if k.suppressed > 1 {
				attrs = append(attrs, "repeated", k.suppressed-1)
			}
			lines = append(lines, line{k.level, msg, attrs})
			k.suppressed, k.attrs = 0, nil
		}
	}
	q.mu.Unlock()
	for _, ln := range lines {
		l.Log(context.Background(), ln.level, ln.msg, ln.attrs...)
	}
}
