package siem

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cep-project/cep/sinks/siem/sinktest"
	"github.com/cep-project/cep/sinks/siem/transport"
	"github.com/cep-project/cep/sinks/siem/transport/file"
)

// flakyTransport fails the first try of every alert whose number is a
// multiple of every, as a receiver answering 503 now and then does.
type flakyTransport struct {
	mu      sync.Mutex
	every   int
	tried   map[string]bool
	got     []string
	down    bool
	tries   int
	triedAt []time.Time
}

func (f *flakyTransport) Start(context.Context) error { return nil }
func (f *flakyTransport) Close() error                { return nil }

func (f *flakyTransport) Send(_ context.Context, batch []transport.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	f.triedAt = append(f.triedAt, time.Now())
	if f.down {
		return errors.New("503 Service Unavailable")
	}
	for _, r := range batch {
		var n int
		for _, c := range r.ID[1:] {
			n = n*10 + int(c-'0')
		}
		if f.every > 0 && n%f.every == 0 && !f.tried[r.ID] {
			f.tried[r.ID] = true
			return errors.New("503 Service Unavailable")
		}
	}
	for _, r := range batch {
		f.got = append(f.got, r.ID)
	}
	return nil
}

func stopConfig(name string) Config {
	c := fastConfig(name, file.Stdout)
	c.Batch = BatchConfig{MaxAlerts: 1, MaxWait: time.Millisecond}
	c.Retry = RetryConfig{MaxAttempts: 5, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, Jitter: -1}
	c.Breaker = BreakerConfig{Failures: 100, Cooldown: time.Second}
	return c
}

// A receiver that refuses the first try of every 7th alert, no spool dir,
// and Stop called at once: every alert is retried on the backoff schedule
// and all 102 arrive, in order (issue: 20 of 102 did, exit 0).
func TestStopRetriesOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &flakyTransport{every: 7, tried: map[string]bool{}}
		s := newTestSink(t, stopConfig("flaky"), quietOptions())
		s.snd.tr = tr
		if err := s.snd.start(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := &Router{sinks: []*sink{s}}
		sendAll(t, s, sinktest.Numbered(102))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tr.got, sinktest.WantIDs(102)) {
			t.Fatalf("%d of 102 delivered: %v", len(tr.got), tr.got)
		}
	})
}

// Stop keeps to the backoff schedule: a batch failing at stop is tried
// max_attempts times, 100ms, 200ms, 400ms, 800ms apart, not at once.
func TestStopKeepsTheBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &flakyTransport{down: true}
		c := stopConfig("down")
		c.Spool.Dir = t.TempDir()
		s := newTestSink(t, c, quietOptions())
		s.snd.tr = tr
		if err := s.snd.start(context.Background()); err != nil {
			t.Fatal(err)
		}
		sendAll(t, s, sinktest.Numbered(1))
		start := time.Now()
		rep := s.snd.stop(context.Background())
		if rep.Spooled != 1 || rep.failed() {
			t.Fatalf("report %+v", rep)
		}
		var gaps []time.Duration
		for i := 1; i < len(tr.triedAt); i++ {
			gaps = append(gaps, tr.triedAt[i].Sub(tr.triedAt[i-1]))
		}
		// Five fresh tries, then five tries of the spooled batch, the
		// backoff growing throughout as the destination keeps failing.
		want := []time.Duration{100, 200, 400, 800, 0, 1000, 1000, 1000, 1000}
		for i := range want {
			want[i] *= time.Millisecond
		}
		if !slices.Equal(gaps, want) || tr.triedAt[0].Sub(start) > time.Millisecond {
			t.Fatalf("tries at intervals %v, want %v", gaps, want)
		}
	})
}

// What a stop could not deliver is reported: lost without a spool dir,
// spooled with one, and spooled but out of time when Stop's context ends
// first. Router.Stop returns a *StopError for the first and the last.
func TestStopReportsWhatIsLeft(t *testing.T) {
	tests := []struct {
		name    string
		disk    bool
		timeout time.Duration
		want    StopReport
		err     bool
	}{
		{"no spool dir", false, time.Minute, StopReport{Sink: "s", Lost: 4}, true},
		{"spool dir", true, time.Minute, StopReport{Sink: "s", Spooled: 4}, false},
		{"spool dir, out of time", true, 50 * time.Millisecond, StopReport{Sink: "s", Spooled: 4, TimedOut: true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := stopConfig("s")
				c.Batch.MaxAlerts = 10
				if tc.disk {
					c.Spool.Dir = t.TempDir()
				}
				s := newTestSink(t, c, quietOptions())
				s.snd.tr = &flakyTransport{down: true}
				if err := s.snd.start(context.Background()); err != nil {
					t.Fatal(err)
				}
				r := &Router{sinks: []*sink{s}}
				sendAll(t, s, sinktest.Numbered(4))
				ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
				defer cancel()
				err := r.Stop(ctx)
				var se *StopError
				if errors.As(err, &se) != tc.err {
					t.Fatalf("error %v", err)
				}
				if s.snd.report != tc.want {
					t.Fatalf("report %+v, want %+v", s.snd.report, tc.want)
				}
				if tc.err && se.Lost() != tc.want.Lost {
					t.Fatalf("lost %d", se.Lost())
				}
			})
		})
	}
}
