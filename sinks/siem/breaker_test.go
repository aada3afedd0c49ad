package siem

import (
	"testing"
	"time"

	"github.com/cep-project/cep/sinks/siem/sinktest"
)

func TestBreaker(t *testing.T) {
	type step struct {
		op      string // allow, ok, fail, wait, retry
		d       time.Duration
		allowed bool
		state   breakerState
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"opens at the threshold and refuses until the cooldown", []step{
			{op: "fail", state: breakerClosed},
			{op: "fail", state: breakerClosed},
			{op: "allow", allowed: true, state: breakerClosed},
			{op: "fail", state: breakerOpen},
			{op: "allow", allowed: false, state: breakerOpen},
			{op: "wait", d: 9 * time.Second},
			{op: "allow", allowed: false, state: breakerOpen},
			{op: "wait", d: time.Second},
			{op: "allow", allowed: true, state: breakerHalfOpen},
			{op: "allow", allowed: false, state: breakerHalfOpen},
			{op: "ok", state: breakerClosed},
			{op: "allow", allowed: true, state: breakerClosed},
		}},
		{"a failed trial reopens at once", []step{
			{op: "fail"}, {op: "fail"}, {op: "fail", state: breakerOpen},
			{op: "wait", d: 10 * time.Second},
			{op: "allow", allowed: true, state: breakerHalfOpen},
			{op: "fail", state: breakerOpen},
			{op: "wait", d: 5 * time.Second},
			{op: "allow", allowed: false, state: breakerOpen},
		}},
		{"asking how long to wait leaves the trial to the next call", []step{
			{op: "fail"}, {op: "fail"}, {op: "fail", state: breakerOpen},
			{op: "retry", d: 10 * time.Second, state: breakerOpen},
			{op: "wait", d: 10 * time.Second},
			{op: "retry", d: 0, state: breakerOpen},
			{op: "retry", d: 0, state: breakerOpen},
			{op: "allow", allowed: true, state: breakerHalfOpen},
			{op: "retry", d: 10 * time.Second, state: breakerHalfOpen},
			{op: "ok", state: breakerClosed},
			{op: "retry", d: 0, state: breakerClosed},
		}},
		{"a success resets the count", []step{
			{op: "fail"}, {op: "fail"}, {op: "ok"}, {op: "fail"}, {op: "fail", state: breakerClosed},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := sinktest.NewClock(baseTime)
			b := newBreaker(c, 3, 10*time.Second)
			for i, s := range tc.steps {
				switch s.op {
				case "allow":
					if ok := b.allow(); ok != s.allowed {
						t.Fatalf("step %d: allow %v", i, ok)
					}
				case "ok":
					b.success()
				case "fail":
					b.failure()
				case "wait":
					c.Advance(s.d)
					continue
				case "retry":
					if d := b.retryIn(); d != s.d {
						t.Fatalf("step %d: retry in %v, want %v", i, d, s.d)
					}
				}
				if got := b.current(); got != s.state {
					t.Fatalf("step %d: state %v, want %v", i, got, s.state)
				}
			}
		})
	}
}
