//go:build !race

package event

// raceDetector is false without the race detector: allocation counts are
// exact.
const raceDetector = false
