package siem

import (
	"errors"
	"sync"
	"time"
)

// breakerState is the state of a circuit breaker.
type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

func (s breakerState) String() string {
	switch s {
	case breakerOpen:
		return "open"
	case breakerHalfOpen:
		return "half_open"
	}
	return "closed"
}

// breaker stops calls to a destination after consecutive failures, so that
// a dead SIEM costs one fast refusal per alert batch instead of a timeout,
// and lets one trial call through after a cooldown. It counts calls, not
// alerts: one failed batch is one failure.
type breaker struct {
	mu        sync.Mutex
	clock     Clock
	threshold int
	cooldown  time.Duration
	state     breakerState
	failures  int
	openedAt  time.Time
	trial     bool // a half-open trial call is in flight
}

func newBreaker(c Clock, threshold int, cooldown time.Duration) *breaker {
	return &breaker{clock: c, threshold: threshold, cooldown: cooldown}
}

// allow reports whether a call may go ahead. A true answer in the open
// or half-open state hands the caller the trial, which its call's success
// or failure ends; how long to wait is retryIn's to say.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerOpen:
		if b.openedAt.Add(b.cooldown).After(b.clock.Now()) {
			return false
		}
		b.state = breakerHalfOpen
		b.trial = true
		return true
	case breakerHalfOpen:
		if b.trial {
			return false
		}
		b.trial = true
		return true
	}
	return true
}

// retryIn reports how long until the breaker would let a trial through,
// without taking the trial as allow does: a caller that only asked how
// long to wait, and made no call, would hold the trial with nothing to end
// it, and the breaker would stay half-open, refusing every call, for good.
func (b *breaker) retryIn() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerOpen:
		return max(b.openedAt.Add(b.cooldown).Sub(b.clock.Now()), 0)
	case breakerHalfOpen:
		if b.trial {
			return b.cooldown
		}
	}
	return 0
}

// success records a call that worked and closes the breaker.
func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state = breakerClosed
	b.failures = 0
	b.trial = false
}

// failure records a failed call; it opens the breaker at the threshold, and
// at once when a half-open trial fails.
func (b *breaker) failure() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	b.trial = false
	if b.state == breakerHalfOpen || b.threshold > 0 && b.failures >= b.threshold {
		b.state = breakerOpen
		b.openedAt = b.clock.Now()
	}
}

func (b *breaker) current() breakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

var errBreakerOpen = errors.New("circuit breaker open")
