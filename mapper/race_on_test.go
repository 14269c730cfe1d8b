//go:build race

package mapper_test

// raceEnabled: the race detector's runtime allocates for its own ends (and
// drops pooled objects at random), so bytes allocated no longer measure the
// mapper. scripts/test runs TestHostileMailBounds without it as well.
const raceEnabled = true
