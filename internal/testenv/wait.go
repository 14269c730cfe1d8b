package testenv

import (
	"testing"
	"time"
)

// WaitFor polls cond every 10 ms until it holds, failing the test after
// timeout with what it waited for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitUntil(t, timeout, what, func() (bool, string) { return cond(), "" })
}

// WaitUntil is WaitFor for a condition that also says what it saw (a
// status, a count, a page): a timeout reports the last of it, which tells
// a stuck wait from a slow one.
func WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, saw string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if saw != "" {
				t.Fatalf("timed out after %v waiting for %s; last saw %s", timeout, what, saw)
			}
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
