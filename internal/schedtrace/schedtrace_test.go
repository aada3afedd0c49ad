package schedtrace

import (
	"bytes"
	"reflect"
	"runtime"
	rtrace "runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/exp/trace"
)

// step is one event of a synthetic trace, at ms milliseconds.
type step struct {
	ms   float64
	op   string // procs, runnable, run, resume (run, not after runnable), stop, label
	g, p int
}

func play(over time.Duration, steps []step, names map[uint64]string) Summary {
	s := newSweep(over)
	for g, fn := range names {
		s.name(g, fn)
	}
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
		names map[uint64]string
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
			WorkerRuns: 1, WorkerP50: 5 * ms, WorkerP90: 5 * ms, WorkerLong: 5 * ms,
			ByGoroutine: []Goroutines{{"goroutine 10", 1, 5 * ms}}},
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
			Stretches: 1, StretchTime: 3 * ms, StretchLong: 3 * ms,
			ByGoroutine: []Goroutines{{"goroutine 10", 1, 4 * ms}}},
	}, {
		name: "behind goroutines, then an idle processor",
		steps: []step{
			{0, "procs", 0, 2},
			{0, "resume", 1, 0}, {0, "resume", 2, 1},
			{0, "runnable", 10, 0},
			{2, "stop", 2, 1},
			{2.5, "run", 10, 1},
		},
		want: Summary{Over: ms, Procs: 2, Waits: 1, Waited: 2500 * time.Microsecond, Busy: 2 * ms, Idle: 500 * time.Microsecond,
			ByGoroutine: []Goroutines{{"goroutine 10", 1, 2500 * time.Microsecond}}},
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
	}, {
		name: "by goroutine: two decoders summed, the longest waited first",
		steps: []step{
			{0, "procs", 0, 2},
			{0, "resume", 1, 0}, {0, "resume", 2, 1},
			{0, "runnable", 10, 0}, {0, "runnable", 11, 0}, {0, "runnable", 12, 0},
			{2, "stop", 1, 0}, {2, "run", 10, 0},
			{3, "stop", 2, 1}, {3, "run", 11, 1},
			{4, "stop", 10, 0}, {4, "run", 12, 0},
			{5, "stop", 11, 1},
			{6, "runnable", 10, 0}, {6, "stop", 12, 0}, {7.5, "run", 10, 0},
		},
		names: map[uint64]string{10: "source.(*pipeline).decode", 11: "source.(*pipeline).decode", 12: "runtime.(*Runtime).serve"},
		want: Summary{Over: ms, Procs: 2, Waits: 4, Waited: 10500 * time.Microsecond, Busy: 9 * ms, Idle: 1500 * time.Microsecond,
			ByGoroutine: []Goroutines{
				{"source.(*pipeline).decode", 3, 6500 * time.Microsecond},
				{"runtime.(*Runtime).serve", 1, 4 * ms},
			}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := play(ms, tc.steps, tc.names); !reflect.DeepEqual(got, tc.want) {
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
	if err := rtrace.Start(&buf); err != nil {
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
	rtrace.Stop()
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
	var n int
	var d time.Duration
	named := false
	for _, g := range s.ByGoroutine {
		n += g.Waits
		d += g.Waited
		named = named || strings.Contains(g.Name, "TestReadRuntimeTrace")
	}
	if n != s.Waits || d != s.Waited {
		t.Errorf("by goroutine %d waits, %v; in all %d, %v", n, d, s.Waits, s.Waited)
	}
	if !named {
		t.Errorf("no waits charged to the test's yielding goroutines by name: %+v", s.ByGoroutine)
	}
}

func TestReadNotATrace(t *testing.T) {
	if _, err := Read(bytes.NewReader([]byte("not a trace\n")), ms); err == nil {
		t.Error("Read of a text file returned no error")
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct {
		frames []string // innermost first
		want   string
	}{
		{[]string{"runtime.gopark", "runtime.chanrecv1", "github.com/x/cep/source.(*pipeline).decode", "github.com/x/cep/source.startPipeline.func1", "sync.(*WaitGroup).Go.func1", "runtime.goexit"},
			"source.startPipeline.func1 → source.(*pipeline).decode"},
		{[]string{"runtime.Gosched", "github.com/x/cep/runtime.busyPoll", "github.com/x/cep/runtime.(*Runtime).serve", "main.(*app).main", "main.main", "runtime.main"},
			"main.main"},
		{[]string{"runtime.gopark", "github.com/x/cep/source.(*File).Run"}, "source.(*File).Run"},
		{[]string{"runtime.gopark", "runtime.goexit"}, ""},
	} {
		frames := make([]trace.StackFrame, len(tc.frames))
		for i, fn := range tc.frames {
			frames[i] = trace.StackFrame{PC: uint64(i + 1), Func: fn}
		}
		if got := name(trace.MakeStack(frames)); got != tc.want {
			t.Errorf("name(%v) = %q, want %q", tc.frames, got, tc.want)
		}
	}
}
