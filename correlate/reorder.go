package correlate

import (
	"container/heap"
	"math"
	"slices"
	"time"

	"github.com/cep-project/cep/event"
)

// MaxTime is the watermark at the end of a bounded input: every pending
// window and timeout fires.
const MaxTime = math.MaxInt64

// reorder buffers events until the watermark passes them, so detectors see
// each stream in event-time order although sources deliver them a little
// out of order.
//
// The watermark W means: every event with time < W has been released. Each
// stream proposes max(time seen) - allowed lateness; W is the minimum over
// the streams that are not idle. An event that arrives with time < W is
// late.
type reorder struct {
	lateness int64
	idle     time.Duration
	streams  map[string]*streamClock
	// clocks are the streams' clocks again, for advance to walk: a range
	// over the map, for every event, was up to 4% of the engine's
	// goroutine in a sequence scenario (its random start, its iterator).
	clocks []*streamClock
	// The buffered events: those that came in order (each not before the
	// one added last to it) in fifo from head on, the others in heap.
	// Sources mostly deliver in order, and with a lateness of seconds a
	// heap alone holds thousands of events: taking each out of it, a
	// dozen comparisons each reaching an event, was a sixth of a filter
	// scenario's CPU with allowed_lateness: 5s.
	fifo []*event.Event
	head int
	heap evHeap
	wm   int64
	// lastName and lastClock cache the clock of the last stream looked up.
	lastName  string
	lastClock *streamClock
	// bytes estimates the memory of the buffered events; above maxBytes
	// the oldest are released before the watermark reaches them.
	bytes, maxBytes int64
}

// eventCost estimates what a buffered event holds in memory: its line,
// its decoded values (about as large again) and its bookkeeping.
func eventCost(ev *event.Event) int64 {
	return int64(2*len(ev.Raw) + 48*len(ev.Fields) + 160)
}

// overBudget reports whether the buffer holds more than its byte budget.
func (r *reorder) overBudget() bool { return r.maxBytes > 0 && r.bytes > r.maxBytes }

type streamClock struct {
	max      int64
	seen     bool
	lastWall time.Time
	idle     bool
	done     bool
}

func newReorder(lateness, idle time.Duration, maxBytes int64) *reorder {
	if maxBytes == 0 {
		maxBytes = DefaultMaxBufferBytes
	}
	return &reorder{lateness: int64(lateness), idle: idle, streams: map[string]*streamClock{}, wm: math.MinInt64, maxBytes: maxBytes}
}

// declare registers a stream before its first event, so that it holds the
// watermark back until it delivers: a slow source at start must not make a
// fast one's events late.
func (r *reorder) declare(stream string) {
	if _, ok := r.streams[stream]; !ok {
		r.newClock(stream, math.MinInt64)
	}
}

// newClock starts the clock of a stream not seen before.
func (r *reorder) newClock(stream string, from int64) *streamClock {
	sc := &streamClock{max: from}
	r.streams[stream] = sc
	r.clocks = append(r.clocks, sc)
	return sc
}

// add buffers ev; it reports false when ev is late.
func (r *reorder) add(ev *event.Event, now time.Time) bool {
	sc := r.clock(ev.Stream)
	if sc == nil {
		sc = r.newClock(ev.Stream, math.MinInt64)
	}
	sc.lastWall, sc.idle = now, false
	if !sc.seen || ev.Time > sc.max {
		sc.max, sc.seen = ev.Time, true
	}
	if ev.Time < r.wm {
		return false
	}
	if n := len(r.fifo); n == r.head || !ev.Before(r.fifo[n-1]) {
		r.fifo = append(r.fifo, ev)
	} else {
		heap.Push(&r.heap, ev)
	}
	r.bytes += eventCost(ev)
	return true
}

// clock returns a stream's clock, remembering the last one asked for:
// events come in runs of one stream.
func (r *reorder) clock(stream string) *streamClock {
	if r.lastClock != nil && r.lastName == stream {
		return r.lastClock
	}
	sc := r.streams[stream]
	if sc != nil {
		r.lastName, r.lastClock = stream, sc
	}
	return sc
}

// reference is the time a new event of stream is judged against: the
// stream's newest event, or for a stream's first event the newest of any
// stream. It reports false when nothing has been seen yet.
func (r *reorder) reference(stream string) (int64, bool) {
	if sc, ok := r.streams[stream]; ok && sc.seen {
		return sc.max, true
	}
	best, ok := int64(math.MinInt64), false
	for _, sc := range r.streams {
		if sc.seen && sc.max > best {
			best, ok = sc.max, true
		}
	}
	return best, ok
}

// finish marks a stream as ended: it no longer holds the watermark back.
func (r *reorder) finish(stream string) {
	if sc, ok := r.streams[stream]; ok {
		sc.done = true
	}
}

// tick marks streams idle that have delivered nothing for the idle timeout
// of processing time.
func (r *reorder) tick(now time.Time) {
	if r.idle <= 0 {
		return
	}
	for _, sc := range r.streams {
		if sc.lastWall.IsZero() {
			// Silence is timed from the first tick for a stream that has
			// delivered nothing in this process: a declared one that never
			// delivers must not hold event time back for ever (a followed
			// file that stays empty), and one restored from a checkpoint
			// must not count as idle since the epoch, which let the other
			// streams run its events late when it was slow to resume.
			sc.lastWall = now
		}
		if !sc.done && now.Sub(sc.lastWall) >= r.idle {
			sc.idle = true
		}
	}
}

// advance recomputes the watermark; it only moves forward.
func (r *reorder) advance() int64 {
	w := int64(math.MaxInt64)
	active := false
	for _, sc := range r.clocks {
		if sc.done || sc.idle {
			continue
		}
		if !sc.seen {
			// A declared stream that has said nothing yet holds the
			// watermark where it is.
			return r.wm
		}
		active = true
		if p := sc.max - r.lateness; p < w {
			w = p
		}
	}
	if !active {
		// Every stream is idle or done. When every stream is done, time
		// runs to the end. When some are merely idle, nothing more is
		// coming for now: release what is buffered, up to just past the
		// newest event seen, so the last events of a quiet source are not
		// held back until the next one arrives. Timers further ahead wait
		// for events, as event time only moves with events.
		all := true
		newest := int64(math.MinInt64)
		for _, sc := range r.clocks {
			if !sc.done {
				all = false
			}
			if sc.seen && sc.max+1 > newest {
				newest = sc.max + 1
			}
		}
		if !all {
			w = newest
		}
	}
	if w > r.wm {
		r.wm = w
	}
	return r.wm
}

// oldest returns the first buffered event, and whether it is the heap's.
func (r *reorder) oldest() (*event.Event, bool) {
	var ev *event.Event
	if r.head < len(r.fifo) {
		ev = r.fifo[r.head]
	}
	if len(r.heap) > 0 && (ev == nil || r.heap[0].Before(ev)) {
		return r.heap[0], true
	}
	return ev, false
}

// pop returns the next event with time < wm.
func (r *reorder) pop(wm int64) *event.Event {
	ev, inHeap := r.oldest()
	if ev == nil || ev.Time >= wm {
		return nil
	}
	if inHeap {
		heap.Pop(&r.heap)
	} else {
		r.fifo[r.head] = nil
		r.head++
		switch {
		case r.head == len(r.fifo):
			r.fifo, r.head = r.fifo[:0], 0
		case r.head >= 4096 && 2*r.head >= len(r.fifo):
			n := copy(r.fifo, r.fifo[r.head:])
			clear(r.fifo[n:])
			r.fifo, r.head = r.fifo[:n], 0
		}
	}
	r.bytes -= eventCost(ev)
	return ev
}

func (r *reorder) buffered() int { return len(r.heap) + len(r.fifo) - r.head }

// events returns the buffered events in the order they will be released.
func (r *reorder) events() []*event.Event {
	evs := append(slices.Clone(r.fifo[r.head:]), r.heap...)
	slices.SortFunc(evs, byEventTime)
	return evs
}

// byEventTime orders events as Event.Before does, for slices.SortFunc.
func byEventTime(a, b *event.Event) int {
	switch {
	case a.Before(b):
		return -1
	case b.Before(a):
		return 1
	}
	return 0
}

// restore makes evs the buffered events.
func (r *reorder) restore(evs []*event.Event) {
	clear(r.fifo)
	r.fifo, r.head = r.fifo[:0], 0
	r.heap = append(r.heap[:0], evs...)
	heap.Init(&r.heap)
	r.bytes = 0
	for _, ev := range r.heap {
		r.bytes += eventCost(ev)
	}
}

// forceOldest moves the watermark just past the oldest buffered event, as
// if every stream had passed it: the buffer is over its byte budget, and
// a stream that holds event time back must not hold memory without bound.
// It returns the new watermark.
func (r *reorder) forceOldest() int64 {
	ev, _ := r.oldest()
	if ev == nil {
		return r.wm
	}
	if t := ev.Time + 1; t > r.wm {
		r.wm = t
	}
	return r.wm
}

// laggard names the stream holding the watermark back, for the log.
func (r *reorder) laggard() string {
	name, low := "", int64(math.MaxInt64)
	for s, sc := range r.streams {
		if sc.done || sc.idle {
			continue
		}
		if !sc.seen {
			return s
		}
		if sc.max < low {
			name, low = s, sc.max
		}
	}
	return name
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type evHeap []*event.Event

func (h evHeap) Len() int           { return len(h) }
func (h evHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h evHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *evHeap) Push(x any)        { *h = append(*h, x.(*event.Event)) }
func (h *evHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}
