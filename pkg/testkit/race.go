//go:build race

package testkit

// raceEnabled reports whether the test binary runs with the race detector.
const raceEnabled = true
