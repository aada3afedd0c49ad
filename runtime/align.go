package runtime

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/source"
)

// aligner keeps resumable sources (files, Kafka) close to one another in
// event time while the service loop reads them. Without it, a source that
// is quick to read runs hours ahead of a slow one when both have a
// backlog (a restart after downtime, a first run over existing files),
// and the engine's reorder buffer must hold everything in between until
// the slow source catches up: a 1M-event replay of the fraud example's
// four files held 1.4 GB, and under a memory budget released events
// early, so alerts changed. Flink calls this watermark alignment.
//
// A batch may go on when its first event is at most skew after the
// earliest source: the minimum, over the sources that are not ended or
// idle, of the time they are at — a waiting source's next batch, or the
// newest event a reading source handed on. The earliest source can always
// go on, so the sources never wait on one another in a cycle. A source
// that has handed on nothing for idle (processing time) stops holding the
// others back, as an idle stream stops holding the watermark back. A
// source seen in no batch yet does not count. Sources that cannot resume
// (standard input, HTTP ingest) are live: they are never held back and
// hold nobody back.
type aligner struct {
	skew int64
	idle time.Duration
	now  func() time.Time

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever a source moves
	at      map[string]*alignState
}

type alignState struct {
	t       int64 // the event time the source is at
	waiting bool  // t is the first event of a batch held back
	ended   bool
	last    time.Time // when the source last handed a batch on
}

// newAligner aligns the sources within the engine's allowed lateness (at
// least a second), forgetting a source after the engine's idle timeout.
func (rt *Runtime) newAligner() *aligner {
	idle := rt.cfg.Engine.IdleTimeout
	if idle <= 0 {
		idle = correlate.DefaultIdleTimeout
	}
	return newAligner(max(rt.cfg.Engine.AllowedLateness, time.Second), idle, time.Now)
}

func newAligner(skew, idle time.Duration, now func() time.Time) *aligner {
	return &aligner{skew: int64(skew), idle: idle, now: now, changed: make(chan struct{}), at: map[string]*alignState{}}
}

// forward hands the batches of one source from in to out, holding back
// those that run ahead. It returns when ctx is done or the source's last
// batch is handed on.
func (al *aligner) forward(ctx context.Context, name string, in <-chan source.Batch, out chan<- source.Batch) {
	for {
		var b source.Batch
		select {
		case b = <-in:
		case <-ctx.Done():
			return
		}
		if resumable(b) && len(b.Events) > 0 && !al.wait(ctx, name, b.Events[0].Time) {
			return
		}
		// Read before the hand-over: the engine may release the events
		// once it has them, and their decoder reuse their memory.
		latest := int64(math.MinInt64)
		for _, ev := range b.Events {
			latest = max(latest, ev.Time)
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
		// A batch that only moves positions on (malformed lines, a Kafka
		// source's partitions at start) says nothing of event time: it
		// must not make the source count, at no time, for the others.
		if resumable(b) && len(b.Events) > 0 || b.End {
			al.handed(name, latest, b.End)
		}
		if b.End {
			return
		}
	}
}

// resumable tells a batch of a source that can resume: a position, or
// the positions of the lanes it moves on (Kafka's partitions).
func resumable(b source.Batch) bool { return b.Pos != nil || len(b.Lanes) > 0 }

// wait blocks until a batch of source name starting at t may go on; false
// when ctx ended first.
func (al *aligner) wait(ctx context.Context, name string, t int64) bool {
	for {
		al.mu.Lock()
		st := al.state(name)
		st.t, st.waiting = max(st.t, t), true
		ok, recheck := al.mayGo(name, t)
		if ok {
			st.waiting = false
			al.mu.Unlock()
			return true
		}
		changed := al.changed
		al.mu.Unlock()
		timer := time.NewTimer(recheck)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return false
		}
		timer.Stop()
	}
}

// mayGo tells whether a batch of name starting at t may go on, and when
// to look again if not (when the earliest source turns idle, and at least
// every second, in case the clock jumps). al.mu is held.
func (al *aligner) mayGo(name string, t int64) (bool, time.Duration) {
	now := al.now()
	low := int64(math.MaxInt64)
	recheck := al.idle
	for n, st := range al.at {
		if st.ended || n == name && !st.waiting {
			continue
		}
		if n != name && !st.waiting {
			idleFor := now.Sub(st.last)
			if idleFor >= al.idle {
				continue
			}
			recheck = min(recheck, al.idle-idleFor)
		}
		low = min(low, st.t)
	}
	return low == math.MaxInt64 || t <= low+al.skew, min(max(recheck, time.Millisecond), time.Second)
}

// handed records a batch handed on, whose latest event time is latest.
func (al *aligner) handed(name string, latest int64, end bool) {
	al.mu.Lock()
	st := al.state(name)
	st.t = max(st.t, latest)
	st.last, st.ended = al.now(), end
	close(al.changed)
	al.changed = make(chan struct{})
	al.mu.Unlock()
}

func (al *aligner) state(name string) *alignState {
	st := al.at[name]
	if st == nil {
		st = &alignState{t: math.MinInt64, last: al.now()}
		al.at[name] = st
	}
	return st
}
