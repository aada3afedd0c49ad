//go:build race

package event

// raceDetector tells tests that count allocations that sync.Pool, under
// the race detector, drops a share of what it is given at random.
const raceDetector = true
