package main

import (
	goruntime "runtime"
	"slices"
	"time"
)

// A machine's own stalls bound the latency any program on it can have:
// a virtual machine's processor is taken away by its host now and then,
// and a thread that was running waits until it is given back. On the CI
// machine a thread spinning alone, with nothing else to run, lost 2–5% of
// its time so, in gaps of up to tens of milliseconds (docs/PERFORMANCE.md,
// the thirty-ninth session). A paced run's p99 is read against them: the
// stall probe spins one thread before the timed run and reports what it
// lost, and the p99 a consumer that took no time at all would have had.

// stallGap is the least time between two readings of the clock that the
// probe counts as its thread's processor taken away; a reading takes a
// few tens of nanoseconds.
const stallGap = time.Microsecond

// stallResult is what a stall probe saw; its field names are stable.
type stallResult struct {
	Seconds float64 `json:"seconds"`
	// Share is the share of the probe's time lost in gaps of stallGap or
	// more.
	Share     float64 `json:"share"`
	Over100us int     `json:"over_100us"`
	Over1ms   int     `json:"over_1ms"`
	LongestUs float64 `json:"longest_us"`
	// FloorP99Us is the p99 latency of events arriving evenly to a
	// consumer on the probe's thread that took no time: an event that
	// arrives during a gap waits for its end.
	FloorP99Us float64 `json:"floor_p99_us"`
	// Wakes is how many times the probe woke a goroutine that had waited
	// wakeIdle on a channel, with more than one processor; WakeP50Us and
	// WakeP99Us how long it took from the hand-over until it ran.
	Wakes     int     `json:"wakes,omitempty"`
	WakeP50Us float64 `json:"wake_p50_us,omitempty"`
	WakeP99Us float64 `json:"wake_p99_us,omitempty"`
}

// wakeIdle is how long the woken goroutine of the wake probe waits: long
// enough for its thread to stop spinning and sleep, and its processor to
// fall idle, as a pipeline's goroutine does between a live source's
// batches.
const wakeIdle = time.Millisecond

// probeWakes hands the time to a goroutine waiting on a channel n times,
// wakeIdle apart, and returns how long each hand-over took to reach it.
// The sender spins meanwhile, as a producer that has more to do keeps
// its processor: the woken goroutine waits for a thread of its own to be
// woken, and on a virtual machine for the host to run the idle processor
// that thread sleeps on.
func probeWakes(n int) []time.Duration {
	ch := make(chan time.Time)
	got := make(chan []time.Duration)
	go func() {
		lat := make([]time.Duration, 0, n)
		for t := range ch {
			lat = append(lat, time.Since(t))
		}
		got <- lat
	}()
	for range n {
		for end := time.Now().Add(wakeIdle); time.Now().Before(end); {
		}
		ch <- time.Now()
	}
	close(ch)
	return <-got
}

// probeStalls spins the calling goroutine on a thread of its own for d,
// reading the clock, and returns the gaps between readings of stallGap or
// more, and the time it spun.
func probeStalls(d time.Duration) (gaps []time.Duration, took time.Duration) {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	gaps = make([]time.Duration, 0, 4096)
	start := time.Now()
	last := start
	for {
		now := time.Now()
		if g := now.Sub(last); g >= stallGap {
			gaps = append(gaps, g)
		}
		last = now
		if took = now.Sub(start); took >= d {
			return gaps, took
		}
	}
}

// summariseStalls turns a probe's gaps over took into its result.
func summariseStalls(gaps []time.Duration, took time.Duration) stallResult {
	r := stallResult{Seconds: took.Seconds()}
	if took <= 0 {
		return r
	}
	var lost time.Duration
	for _, g := range gaps {
		lost += g
		switch {
		case g > time.Millisecond:
			r.Over1ms++
			r.Over100us++
		case g > 100*time.Microsecond:
			r.Over100us++
		}
		r.LongestUs = max(r.LongestUs, float64(g.Nanoseconds())/1e3)
	}
	r.Share = float64(lost) / float64(took)
	r.FloorP99Us = float64(stallQuantile(gaps, took, 0.99).Nanoseconds()) / 1e3
	return r
}

// stallQuantile returns the q-quantile of the wait of events arriving
// evenly over took to a consumer that takes no time but is away during
// each gap: an event arriving x before a gap's end waits x, so the share
// of events that wait more than w is the sum over the gaps of their
// length beyond w, over took. It returns the w at which that share is
// 1-q.
func stallQuantile(gaps []time.Duration, took time.Duration, q float64) time.Duration {
	target := (1 - q) * float64(took)
	g := slices.Clone(gaps)
	slices.SortFunc(g, func(a, b time.Duration) int { return int(b - a) })
	// Over w between the k+1th longest gap and the kth, the share beyond
	// w is (sum of the k longest - k·w) / took.
	var sum float64
	for k := 1; k <= len(g); k++ {
		sum += float64(g[k-1])
		next := 0.0
		if k < len(g) {
			next = float64(g[k])
		}
		if sum-float64(k)*next >= target {
			w := (sum - target) / float64(k)
			return time.Duration(max(w, next))
		}
	}
	return 0
}
