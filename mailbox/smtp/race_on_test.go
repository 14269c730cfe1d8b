//go:build race

package smtp

// raceEnabled skips tests that make go-smtp race with itself: its BDAT
// handling replaces a connection's result channel for the next BDAT
// without waiting for the last one's goroutine, which the race detector
// reports whatever mailbridge does. scripts/test runs those tests without
// the race detector.
const raceEnabled = true
