package schedtrace

import (
	"bytes"
	"runtime"
	"runtime/trace"
	"sync"
	"testing"
	"time"
)

// step is one event of a synthetic trace, at ms milliseconds.
type step struct {
	ms   float64
	op   string // procs, runnable, run, resume (run, not after runnable), stop, label
	g, p int
}

func play(over time.Duration, steps []step) Summary {
	s := newSweep(over)
	for _, st := range steps {
		t := time.Duration(st.ms * float64(time.Millisecond))
		g := uint64(st.g)
		switch st.op {
		case "procs":
			s.setProcs(t, st.p)
		case "runnable":
			s.runnable(t, g)
		case "run":
			s.run(t, g, st.p, true)
		case "resume":
			s.run(t, g, st.p, false)
		case "stop":
			s.stop(t, g)
		case "label":
			s.worker(t, g)
		}
	}
	return s.summary()
}

const ms = time.Millisecond

func TestSweep(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
		want  Summary
	}{{
		name: "behind a fractional worker while the other processor runs a goroutine",
		steps: []step{
			{0, "procs", 0, 2},
			{0, "resume", 1, 0}, {0, "label", 1, 0}, // a mark worker on P0
			{0, "resume", 2, 1}, // a goroutine on P1
			{0, "runnable", 10, 0},
			{5, "stop", 1, 0},
			{5, "run", 10, 0},
			{6, "stop", 10, 0},
		},
		want: Summary{Over: ms, Procs: 2, Waits: 1, Waited: 5 * ms, Marking: 5 * ms,
			WorkerRuns: 1, WorkerP50: 5 * ms, WorkerP90: 5 * ms, WorkerLong: 5 * ms},
	}, {
		name: "both processors marking, then one",
		steps: []step{
			{0, "procs", 0, 2},
			{0, "resume", 1, 0}, {0, "label", 1, 0},
			{0, "resume", 2, 1}, {0, "label", 2, 1},
			{0, "runnable", 10, 0},
			{3, "stop", 2, 1},
			{4, "run", 10, 1},
			{6, "stop", 1, 0},
		},
		want: Summary{Over: ms, Procs: 2, Waits: 1, Waited: 4 * ms, Marking: 4 * ms, AllMarking: 3 * ms,
			WorkerRuns: 2, WorkerP50: 6 * ms, WorkerP90: 6 * ms, WorkerLong: 6 * ms,
			Stretches: 1, StretchTime: 3 * ms, StretchLong: 3 * ms},
	}, {
		name: "behind goroutines, then an idle processor",
		steps: []step{
			{0, "procs", 0, 2},
			{0, "resume", 1, 0}, {0, "resume", 2, 1},
			{0, "runnable", 10, 0},
			{2, "stop", 2, 1},
			{2.5, "run", 10, 1},
		},
		want: Summary{Over: ms, Procs: 2, Waits: 1, Waited: 2500 * time.Microsecond, Busy: 2 * ms, Idle: 500 * time.Microsecond},
	}, {
		name: "short waits, a worker's wait and a goroutine that was blocked are not counted",
		steps: []step{
			{0, "procs", 0, 2},
			{0, "resume", 1, 0},
			{0, "runnable", 10, 0},
			{0.5, "run", 10, 1}, // 0.5 ms: under Over
			{1, "stop", 10, 1},
			{1, "runnable", 7, 0},
			{6, "run", 7, 1}, {6, "label", 7, 1}, // a mark worker made runnable 5 ms before
			{7, "stop", 7, 1},
			{7, "resume", 11, 1}, // from a syscall or blocked: no wait
		},
		want: Summary{Over: ms, Procs: 2, WorkerRuns: 1, WorkerP50: ms, WorkerP90: ms, WorkerLong: ms},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := play(ms, tc.steps); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestReadRuntimeTrace reads a trace of this process while the collector
// marks a heap that goroutines keep busy, and checks that every wait is
// charged to something and that the workers were found.
func TestReadRuntimeTrace(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("tracing is on already: %v", err)
	}
	type node struct {
		next *node
		_    [6]int // a heap the collector takes a while to mark
	}
	var keep *node
	for range 200_000 {
		keep = &node{next: keep}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var l *node
				for range 1000 {
					l = &node{next: l}
				}
				runtime.Gosched()
			}
		})
	}
	for range 3 {
		runtime.GC()
	}
	close(stop)
	wg.Wait()
	trace.Stop()
	runtime.KeepAlive(keep)

	s, err := Read(&buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Procs != 2 {
		t.Errorf("Procs = %d, want 2", s.Procs)
	}
	if s.WorkerRuns == 0 {
		t.Error("no mark worker runs found in a trace of three collections")
	}
	if s.Waits == 0 {
		t.Error("no waits found where four goroutines yield on two processors")
	}
	if got := s.Marking + s.Busy + s.Idle; got != s.Waited {
		t.Errorf("charged %v of %v waited", got, s.Waited)
	}
	if s.AllMarking > s.Marking || s.WorkerP50 > s.WorkerP90 || s.WorkerP90 > s.WorkerLong {
		t.Errorf("inconsistent summary: %+v", s)
	}
}

func TestReadNotATrace(t *testing.T) {
	if _, err := Read(bytes.NewReader([]byte("not a trace\n")), ms); err == nil {
		t.Error("Read of a text file returned no error")
	}
}
