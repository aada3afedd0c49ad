// Package schedtrace reads a Go execution trace for what the goroutines
// that waited long for a processor waited behind: the collector's mark
// workers, other goroutines, or nothing (a processor idle while its
// thread was being woken), and which goroutines waited. A live source's
// slowest events are those waits (docs/PERFORMANCE.md, the thirty-seventh
// session), and `cep bench --trace` prints this summary of its trace.
//
// On two processors Go marks with a fractional worker on each rather than
// a dedicated one, which the scheduler runs before it looks at any queue
// and which goes on until it has had 30% of the time since the mark
// began: a stretch grows with the mark. An idle processor's worker looks
// for goroutines only in its own queue and the global one. A goroutine
// queued behind a worker waits out its stretch.
package schedtrace

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// Summary is what Read found.
type Summary struct {
	// Over is the least wait counted.
	Over time.Duration
	// Waits is how many times a goroutine other than a mark worker waited
	// Over or longer between becoming runnable and running, and Waited
	// the time they took in all.
	Waits  int
	Waited time.Duration
	// Of Waited: with a mark worker on one processor or more (Marking),
	// on every processor (AllMarking, part of Marking); with no mark
	// worker and every processor running other goroutines (Busy); with no
	// mark worker and a processor idle (Idle).
	Marking, AllMarking, Busy, Idle time.Duration

	// WorkerRuns is how many times a mark worker ran, and Worker the
	// durations of those runs at the 50th and 90th percentiles and the
	// longest.
	WorkerRuns                       int
	WorkerP50, WorkerP90, WorkerLong time.Duration
	// Stretches is how many times every processor ran a mark worker at
	// once, for StretchTime in all, the longest for StretchLong.
	Stretches                int
	StretchTime, StretchLong time.Duration
	// Procs is the trace's GOMAXPROCS, the last it recorded.
	Procs int
	// ByGoroutine is the counted waits by the goroutines that waited,
	// named by their function (see name), the longest waited first.
	ByGoroutine []Goroutines
}

// Goroutines are the counted waits of the goroutines of one function.
type Goroutines struct {
	Name   string
	Waits  int
	Waited time.Duration
}

// state is what the processors are doing at a moment, as the waits are
// charged for it.
type state uint8

const (
	marking state = iota
	allMarking
	busy
	idle
)

// Read reads an execution trace from r and summarises the waits of Over
// or longer.
func Read(r io.Reader, over time.Duration) (Summary, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return Summary{}, fmt.Errorf("reading the trace: %w", err)
	}
	s := newSweep(over)
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Summary{}, fmt.Errorf("reading the trace: %w", err)
		}
		t := time.Duration(ev.Time())
		switch ev.Kind() {
		case trace.EventMetric:
			if m := ev.Metric(); m.Name == "/sched/gomaxprocs:threads" {
				s.setProcs(t, int(m.Value.Uint64()))
			}
		case trace.EventLabel:
			// The runtime labels a mark worker's goroutine each time it
			// starts it: "GC (dedicated)", "GC (fractional)", "GC (idle)".
			if l := ev.Label(); len(l.Label) >= 3 && l.Label[:3] == "GC " {
				s.worker(t, uint64(l.Resource.Goroutine()))
			}
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			from, to := st.Goroutine()
			g := uint64(st.Resource.Goroutine())
			if _, named := s.names[g]; !named && from == trace.GoRunning && st.Stack != trace.NoStack {
				// The goroutine's own stack, as it stops running; read
				// once a goroutine, not at each of its stops.
				s.name(g, name(st.Stack))
			}
			switch {
			case to == trace.GoRunning:
				s.run(t, g, int(ev.Proc()), from == trace.GoRunnable)
			case from == trace.GoRunning:
				s.stop(t, g)
			}
			if to == trace.GoRunnable {
				s.runnable(t, g)
			}
		}
	}
	return s.summary(), nil
}

// sweep follows the processors through the trace's events, in time
// order, charging each goroutine that waits for what the processors do
// meanwhile. It knows events only by times, goroutines and processors,
// so that its tests need no trace.
type sweep struct {
	sum     Summary
	procs   int
	on      map[int]uint64   // a processor's running goroutine
	running map[uint64]stint // a running goroutine's processor, and since when
	workers map[uint64]bool
	// waiting are the goroutines now runnable, each with what it has
	// waited behind so far.
	waiting map[uint64]*wait
	// ran are the waits just ended, counted once their goroutine is known
	// not to be a mark worker: the runtime labels a worker after it
	// starts it.
	ran     map[uint64]*wait
	last    time.Duration // when the processors' state last changed
	all     bool          // every processor is marking
	allFrom time.Duration
	runs    []time.Duration // the mark workers' runs
	// names are the goroutines' functions, as far as known, and counted
	// each goroutine's counted waits.
	names   map[uint64]string
	counted map[uint64]*Goroutines
}

type stint struct {
	p    int
	from time.Duration
}

type wait struct {
	from, to time.Duration
	behind   [4]time.Duration
}

func newSweep(over time.Duration) *sweep {
	return &sweep{
		sum:     Summary{Over: over},
		on:      map[int]uint64{},
		running: map[uint64]stint{},
		workers: map[uint64]bool{},
		waiting: map[uint64]*wait{},
		ran:     map[uint64]*wait{},
		names:   map[uint64]string{},
		counted: map[uint64]*Goroutines{},
	}
}

// name notes g's function, the first time it is known.
func (s *sweep) name(g uint64, fn string) {
	if _, ok := s.names[g]; !ok && fn != "" {
		s.names[g] = fn
	}
}

// name is the function a goroutine of stack st was started with: its
// outermost frame that is neither the runtime's nor a wrapper that runs a
// function given to it (sync.WaitGroup.Go), without package paths. A
// closure is named with the function it calls, as "a.B.func1 → c.D": the
// closure alone would not say which of a function's goroutines it is.
// The process's main goroutine is main.main.
func name(st trace.Stack) string {
	var inner, outer string
	for f := range st.Frames() {
		switch {
		case strings.HasPrefix(f.Func, "runtime."), strings.HasPrefix(f.Func, "sync.(*WaitGroup).Go"):
		default:
			inner, outer = outer, f.Func
		}
	}
	short := func(fn string) string { return fn[strings.LastIndexByte(fn, '/')+1:] }
	if inner != "" && strings.Contains(short(outer), ".func") {
		return short(outer) + " → " + short(inner)
	}
	return short(outer)
}

// now is what the processors are doing.
func (s *sweep) now() state {
	var w, g int
	for _, gr := range s.on {
		if s.workers[gr] {
			w++
		} else {
			g++
		}
	}
	procs := max(s.procs, w+g)
	switch {
	case w > 0 && w == procs:
		return allMarking
	case w > 0:
		return marking
	case g == procs:
		return busy
	}
	return idle
}

// advance charges the time since the last change to the waiting
// goroutines, before a change at t.
func (s *sweep) advance(t time.Duration) {
	if t > s.last && len(s.waiting) > 0 {
		st := s.now()
		for _, w := range s.waiting {
			w.behind[st] += t - s.last // s.last is at or after w.from
		}
	}
	s.last = max(s.last, t)
}

// changed notes the start and end of times when every processor marks.
func (s *sweep) changed(t time.Duration) {
	all := s.now() == allMarking
	switch {
	case all && !s.all:
		s.allFrom = t
	case !all && s.all:
		d := t - s.allFrom
		s.sum.Stretches++
		s.sum.StretchTime += d
		s.sum.StretchLong = max(s.sum.StretchLong, d)
	}
	s.all = all
}

func (s *sweep) setProcs(t time.Duration, n int) {
	s.advance(t)
	s.procs = n
	s.sum.Procs = n
	s.changed(t)
}

func (s *sweep) worker(t time.Duration, g uint64) {
	s.advance(t)
	s.workers[g] = true
	// A worker's own waits are the collector's pacing, not a stall.
	delete(s.waiting, g)
	delete(s.ran, g)
	s.changed(t)
}

func (s *sweep) runnable(t time.Duration, g uint64) {
	s.advance(t)
	if !s.workers[g] {
		s.waiting[g] = &wait{from: t}
	}
}

// run is g starting to run on processor p; waited says it had been
// runnable, not waiting, just before.
func (s *sweep) run(t time.Duration, g uint64, p int, waited bool) {
	s.advance(t)
	if w, ok := s.waiting[g]; ok {
		delete(s.waiting, g)
		if w.to = t; waited && t-w.from >= s.sum.Over {
			s.ran[g] = w
		}
	}
	if old, ok := s.on[p]; ok {
		delete(s.running, old)
	}
	s.on[p] = g
	s.running[g] = stint{p, t}
	s.changed(t)
}

// count counts g's wait that just ended, if it was long.
func (s *sweep) count(g uint64) {
	w, ok := s.ran[g]
	if !ok {
		return
	}
	delete(s.ran, g)
	s.sum.Waits++
	s.sum.Waited += w.to - w.from
	s.sum.Marking += w.behind[marking] + w.behind[allMarking]
	s.sum.AllMarking += w.behind[allMarking]
	s.sum.Busy += w.behind[busy]
	s.sum.Idle += w.behind[idle]
	c := s.counted[g]
	if c == nil {
		c = &Goroutines{}
		s.counted[g] = c
	}
	c.Waits++
	c.Waited += w.to - w.from
}

func (s *sweep) stop(t time.Duration, g uint64) {
	s.advance(t)
	s.count(g)
	if r, ok := s.running[g]; ok {
		delete(s.running, g)
		delete(s.on, r.p)
		if s.workers[g] {
			s.runs = append(s.runs, t-r.from)
		}
	}
	s.changed(t)
}

func (s *sweep) summary() Summary {
	for g := range s.ran {
		s.count(g)
	}
	sum := s.sum
	slices.Sort(s.runs)
	if n := len(s.runs); n > 0 {
		sum.WorkerRuns = n
		sum.WorkerP50 = s.runs[n/2]
		sum.WorkerP90 = s.runs[n*9/10]
		sum.WorkerLong = s.runs[n-1]
	}
	// Goroutines of one function are summed: a pipeline's decoders are
	// one stage.
	by := map[string]*Goroutines{}
	for g, c := range s.counted {
		fn := s.names[g]
		if fn == "" {
			fn = fmt.Sprintf("goroutine %d", g)
		}
		if by[fn] == nil {
			by[fn] = &Goroutines{Name: fn}
		}
		by[fn].Waits += c.Waits
		by[fn].Waited += c.Waited
	}
	for _, c := range by {
		sum.ByGoroutine = append(sum.ByGoroutine, *c)
	}
	slices.SortFunc(sum.ByGoroutine, func(a, b Goroutines) int {
		if c := cmp.Compare(b.Waited, a.Waited); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return sum
}

// Share is part's share of the Waited time, in percent.
func (s Summary) Share(part time.Duration) float64 {
	if s.Waited == 0 {
		return 0
	}
	return 100 * float64(part) / float64(s.Waited)
}
