package runtime

import (
	"context"
	goruntime "runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/source"
)

// Polling for batches changes when the loop takes them, never what it
// makes of them, on one processor or on two.
func TestBusyPollSameAlerts(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 3000)
	want := must(runOnce(t, dir, runOpts{})).ids()
	if len(want) < 100 {
		t.Fatalf("only %d alerts: the test needs more", len(want))
	}
	for _, procs := range []int{1, 2} {
		prev := goruntime.GOMAXPROCS(procs)
		got := must(runOnce(t, dir, runOpts{busyPoll: time.Millisecond})).ids()
		goruntime.GOMAXPROCS(prev)
		if !slices.Equal(got, want) {
			t.Fatalf("GOMAXPROCS=%d: %d alerts polling, %d sleeping; first difference at %d", procs, len(got), len(want), firstDiff(got, want))
		}
	}
}

func must(s *memSink, _ *Result) *memSink { return s }

// endless hands over empty batches as fast as the loop takes them until
// stop is closed: a loop that only ever polled its sources would find a
// batch each time and never tick. handed counts them.
type endless struct {
	stop   chan struct{}
	handed atomic.Int64
}

func (s *endless) Name() string             { return "endless" }
func (s *endless) Streams() []string        { return []string{"auth"} }
func (s *endless) Counts() *source.Counters { return &source.Counters{} }
func (s *endless) Run(ctx context.Context, _ source.Positions, out chan<- source.Batch) error {
	for {
		b := source.Batch{Source: s.Name()}
		select {
		case <-s.stop:
			b.End = true
		default:
		}
		select {
		case out <- b:
			s.handed.Add(1)
		case <-ctx.Done():
			return nil
		}
		if b.End {
			return nil
		}
	}
}

// While batches keep coming, a polling loop still does everything else it
// must do on time: here, ticking every 5ms.
func TestBusyPollStillTicks(t *testing.T) {
	src := &endless{stop: make(chan struct{})}
	var ticks atomic.Int64
	done := runInBackground(t, Config{Mode: Service, Rules: compile(t), Sources: []source.Source{src}, Sink: &memSink{},
		Interval: 5 * time.Millisecond, BusyPoll: 50 * time.Millisecond,
		OnTick: func(_ correlate.Stats) { ticks.Add(1) }})
	deadline := time.After(10 * time.Second)
	for ticks.Load() < 5 {
		select {
		case <-deadline:
			close(src.stop)
			<-done
			t.Fatalf("%d ticks in 10s of batches", ticks.Load())
		case <-time.After(time.Millisecond):
		}
	}
	close(src.stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A source the polling loop readies, by taking the batch it was blocked
// handing over, waits on the loop's processor; with the other processor
// taken (here by a goroutine that spins, in a service by the collector's
// mark workers) it runs only when the loop yields. A loop that kept its
// processor let it hand over a batch or two each time the scheduler
// preempted it, every 10ms: 45 in the 300ms spin, where a loop that
// yields took 270,000.
func TestBusyPollLetsTheSourceRun(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(2))
	src := &endless{stop: make(chan struct{})}
	done := runInBackground(t, Config{Mode: Service, Rules: compile(t), Sources: []source.Source{src}, Sink: &memSink{},
		Interval: time.Hour, BusyPoll: time.Hour})
	for src.handed.Load() < 100 {
		time.Sleep(time.Millisecond)
	}
	before := src.handed.Load()
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	handed := src.handed.Load() - before
	close(src.stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if handed < 1000 {
		t.Fatalf("%d batches handed over while the other processor was taken for 300ms", handed)
	}
	t.Logf("%d batches in 300ms", handed)
}

// runInBackground runs a runtime of cfg on a goroutine of its own; the
// channel has what Run returned.
func runInBackground(t *testing.T, cfg Config) <-chan error {
	t.Helper()
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := rt.Run(context.Background())
		done <- err
	}()
	return done
}
