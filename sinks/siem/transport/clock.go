package transport

import "time"

// Clock is the time source of everything in a sink that waits: batch
// timers, backoff, the breaker's cooldown and webhook timestamps. Tests
// inject a fake; concurrency tests may use the real one inside a
// testing/synctest bubble.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}
