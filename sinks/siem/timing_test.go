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

// scriptedTransport records each send with its (bubble) time and fails
// while fail says so.
type scriptedTransport struct {
	mu    sync.Mutex
	start time.Time
	calls []sendCall
	fail  func(call int) bool
}

type sendCall struct {
	at  time.Duration
	ids []string
	ok  bool
}

func (t *scriptedTransport) Start(context.Context) error { return nil }

func (t *scriptedTransport) Send(_ context.Context, batch []transport.Record) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := sendCall{at: time.Since(t.start)}
	for _, r := range batch {
		c.ids = append(c.ids, r.ID)
	}
	c.ok = t.fail == nil || !t.fail(len(t.calls))
	t.calls = append(t.calls, c)
	if !c.ok {
		return errors.New("scripted failure")
	}
	return nil
}

func (t *scriptedTransport) Close() error { return nil }

func scripted(t *testing.T, cfg Config, tr *scriptedTransport) *sink {
	t.Helper()
	s := newTestSink(t, cfg, quietOptions())
	s.snd.tr = tr
	if err := s.snd.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// Within a synctest bubble time only moves when every goroutine waits, so
// the batch timer and the backoff are checked to the nanosecond.
func TestBatchingAndBackoffTiming(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(*Config)
		fail  func(int) bool
		send  int
		calls []sendCall
	}{
		{
			name: "a partial batch waits max_wait, a full one goes at once",
			cfg:  func(c *Config) { c.Batch = BatchConfig{MaxAlerts: 3, MaxWait: time.Second} },
			send: 4,
			calls: []sendCall{
				{at: 0, ids: []string{"a000", "a001", "a002"}, ok: true},
				{at: time.Second, ids: []string{"a003"}, ok: true},
			},
		},
		{
			name: "retries back off exponentially, then the batch is spooled and drained",
			cfg: func(c *Config) {
				c.Batch = BatchConfig{MaxAlerts: 10, MaxWait: time.Millisecond}
				c.Retry = RetryConfig{MaxAttempts: 3, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, Multiplier: 2, Jitter: -1}
				c.Breaker = BreakerConfig{Failures: 100, Cooldown: time.Minute}
			},
			fail: func(call int) bool { return call < 4 },
			send: 2,
			calls: []sendCall{
				{at: time.Millisecond, ids: []string{"a000", "a001"}},
				{at: 101 * time.Millisecond, ids: []string{"a000", "a001"}},
				{at: 301 * time.Millisecond, ids: []string{"a000", "a001"}},
				// Spooled and tried at once from the spool; the backoff
				// goes on growing, since the destination is still failing.
				{at: 301 * time.Millisecond, ids: []string{"a000", "a001"}},
				{at: 701 * time.Millisecond, ids: []string{"a000", "a001"}, ok: true},
			},
		},
		{
			name: "an open breaker skips calls until its cooldown",
			cfg: func(c *Config) {
				c.Batch = BatchConfig{MaxAlerts: 10, MaxWait: time.Millisecond}
				c.Retry = RetryConfig{MaxAttempts: 1, InitialInterval: 10 * time.Millisecond, MaxInterval: 10 * time.Millisecond, Jitter: -1}
				c.Breaker = BreakerConfig{Failures: 2, Cooldown: time.Second}
			},
			fail: func(call int) bool { return call < 2 },
			send: 1,
			calls: []sendCall{
				{at: time.Millisecond, ids: []string{"a000"}},
				{at: time.Millisecond, ids: []string{"a000"}},
				{at: time.Second + time.Millisecond, ids: []string{"a000"}, ok: true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := fastConfig("timed", file.Stdout)
				tc.cfg(&cfg)
				tr := &scriptedTransport{start: time.Now(), fail: tc.fail}
				s := scripted(t, cfg, tr)
				sendAll(t, s, sinktest.Numbered(tc.send))
				time.Sleep(10 * time.Second)
				synctest.Wait()
				if rep := s.snd.stop(context.Background()); rep.failed() {
					t.Fatalf("stop: %+v", rep)
				}
				tr.mu.Lock()
				defer tr.mu.Unlock()
				if len(tr.calls) != len(tc.calls) {
					t.Fatalf("calls %+v, want %+v", tr.calls, tc.calls)
				}
				for i := range tc.calls {
					g, w := tr.calls[i], tc.calls[i]
					if g.at != w.at || g.ok != w.ok || !slices.Equal(g.ids, w.ids) {
						t.Fatalf("call %d: %+v, want %+v", i, g, w)
					}
				}
			})
		})
	}
}

// Stop sends what is queued when the destination works, and spools it
// when it does not.
func TestStopDrainsOrSpools(t *testing.T) {
	for _, failing := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			cfg := fastConfig("stop", file.Stdout)
			cfg.Batch = BatchConfig{MaxAlerts: 100, MaxWait: time.Hour}
			cfg.Spool.Dir = t.TempDir()
			tr := &scriptedTransport{start: time.Now(), fail: func(int) bool { return failing }}
			s := scripted(t, cfg, tr)
			sendAll(t, s, sinktest.Numbered(7))
			if rep := s.snd.stop(context.Background()); rep.failed() {
				t.Fatalf("stop: %+v", rep)
			}
			if n, _ := s.snd.sp.stats(); failing && n != 7 || !failing && n != 0 {
				t.Fatalf("failing=%v: %d spooled", failing, n)
			}
		})
	}
}
