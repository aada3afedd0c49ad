package siem

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem/sinktest"
	_ "github.com/cep-project/cep/sinks/siem/transport/all"
)

var baseTime = sinktest.BaseTime

// fastConfig is a sink config with quick retries, for tests.
func fastConfig(name, typ string) Config {
	return Config{
		Name: name, Type: typ,
		Timeout: 2 * time.Second,
		Batch:   BatchConfig{MaxAlerts: 10, MaxWait: 5 * time.Millisecond},
		Retry:   RetryConfig{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, Jitter: -1},
		Breaker: BreakerConfig{Failures: 3, Cooldown: 10 * time.Millisecond},
	}
}

// memConfig is a fast sink config delivering to m.
func memConfig(name string, m *sinktest.Memory) Config {
	c := fastConfig(name, sinktest.MemoryKind)
	c.Transport = &sinktest.MemoryConfig{Dest: m}
	return c
}

func quietOptions() Options {
	return Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func newTestSink(tb testing.TB, cfg Config, opts Options) *sink {
	tb.Helper()
	s, err := newSink(cfg, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func startSink(tb testing.TB, cfg Config, opts Options) *sink {
	tb.Helper()
	s := newTestSink(tb, cfg, opts)
	if err := s.snd.start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s
}

func stopSink(tb testing.TB, s *sink) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rep := s.snd.stop(ctx); rep.failed() {
		tb.Fatalf("stop: %+v", rep)
	}
}

func sendAll(tb testing.TB, s *sink, as []*alert.Alert) {
	tb.Helper()
	for _, a := range as {
		if err := s.send(context.Background(), a); err != nil {
			tb.Fatal(err)
		}
	}
}
