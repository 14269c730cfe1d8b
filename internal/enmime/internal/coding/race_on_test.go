//go:build race

package coding

// sync.Pool drops some of what it is given under the race detector.
const raceEnabled = true
