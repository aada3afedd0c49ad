package main

import (
	"testing"
	"time"
)

// paceUntil never lets a paced batch go before its time, for waits
// shorter and longer than the stretch it spends yielding.
func TestPaceUntilNeverEarly(t *testing.T) {
	for _, d := range []time.Duration{0, 50 * time.Microsecond, time.Millisecond, 3 * time.Millisecond} {
		due := time.Now().Add(d)
		paceUntil(due)
		if now := time.Now(); now.Before(due) {
			t.Errorf("waiting %v returned %v early", d, due.Sub(now))
		}
	}
}
