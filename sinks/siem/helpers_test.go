package siem

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

var baseTime = time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.UTC)

func mustEvent(tb testing.TB, stream, line string) *event.Event {
	tb.Helper()
	d := event.Decoder{Stream: stream}
	ev, err := d.Decode([]byte(line))
	if err != nil {
		tb.Fatalf("event %s: %v", line, err)
	}
	return ev
}

func ptr[T any](v T) *T { return &v }

// sampleAlerts are the golden-file cases: an ordinary alert, one full of
// hostile values, and a folded summary with every optional mark.
func sampleAlerts(tb testing.TB) map[string]*alert.Alert {
	tb.Helper()
	first, last := baseTime.Add(-9*time.Minute), baseTime
	return map[string]*alert.Alert{
		"basic": {
			ID: "4f6c2a9e0d1b3c5a7e9f1a2b3c4d5e6f", Rule: "fraud.card-testing", RuleVersion: "git:1a2b3c4",
			Title: "Card testing then cash-out", Severity: alert.High,
			Tags: []string{"fraud", "attack.t1110.001", "attack.credential_access", "attack.t1078"},
			Time: baseTime,
			Key:  alert.Key{{Expr: "event.card_id", Value: "c-123"}},
			Events: []alert.Evidence{
				{Step: "probe", Event: mustEvent(tb, "payments", `{"id":"e1","ts":"2025-03-01T12:21:00Z","card_id":"c-123","amount":1.5,"result":"declined"}`)},
				{Step: "cashout", Event: mustEvent(tb, "payments", `{"id":"e2","ts":"2025-03-01T12:30:45Z","card_id":"c-123","amount":900,"result":"approved"}`)},
			},
			Fields:   map[string]any{"card": "c-123", "declines": int64(3), "total": 901.5, "ok": true, "none": nil, "list": []any{"a", 1.0}},
			Score:    ptr(0.91),
			Reasons:  []string{"amount far above the card's mean", "three declines in 9m"},
			Model:    &alert.Model{Name: "card-risk", Version: "3"},
			Priority: 87,
		},
		"hostile": {
			ID: "id|with=odd\\chars", Rule: "sec.pipe|rule", RuleVersion: "v=1\\2",
			Title:    "Login from Zürich ☃ | admin=root \\ path\nsecond line\r<script>&",
			Severity: alert.Critical,
			Tags:     []string{"a|b", "c=d", "e\\f", "ü"},
			Time:     baseTime,
			Key:      alert.Key{{Expr: "event.user", Value: "bob|eve=x\\y\nz"}, {Expr: "event.n", Value: 7.25}},
			Events: []alert.Evidence{
				{Step: "login", Event: mustEvent(tb, "auth", `{ "id": "e|1", "ts": 1740832245, "user": "bob|eve=x\\y\nz", "note": "<b>&amp;</b> \u2028 ☃" }`)},
				{Step: "missing", Event: nil},
			},
			Fields:   map[string]any{"msg": "a=b|c\\d\ne\tf", "ünï": "çödé", "ctl": "\x01\x7f", "bad": "\xff\xfe"},
			Reasons:  []string{"pipe | and equals = and backslash \\ and\nnewline"},
			Priority: 100,
		},
		"summary": {
			ID: "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d", Rule: "fraud.velocity", RuleVersion: "sha256:abc",
			Title: "Velocity", Severity: alert.Low, Tags: nil, Time: last,
			Key: nil, Events: nil, Fields: nil, Priority: 12,
			Shadow: true, TimedOut: true, Corrects: "4f6c2a9e0d1b3c5a7e9f1a2b3c4d5e6f",
			Count: 5, FirstSeen: &first, LastSeen: &last,
		},
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s differs from golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

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

func quietOptions() Options {
	return Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func startSink(tb testing.TB, cfg Config, opts Options) *Sink {
	tb.Helper()
	s, err := New(cfg, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s
}

func stopSink(tb testing.TB, s *Sink) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		tb.Fatal(err)
	}
}

// numbered returns n simple alerts with ids a000, a001, … in time order.
func numbered(n int) []*alert.Alert {
	out := make([]*alert.Alert, n)
	for i := range out {
		out[i] = &alert.Alert{
			ID:   "a" + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)),
			Rule: "r", Title: "t", Severity: alert.Medium, Time: baseTime.Add(time.Duration(i) * time.Second),
			Key: alert.Key{{Expr: "k", Value: int64(i % 3)}}, Fields: map[string]any{"i": int64(i)}, Priority: 50,
		}
	}
	return out
}

func sendAll(tb testing.TB, s *Sink, as []*alert.Alert) {
	tb.Helper()
	for _, a := range as {
		if err := s.Send(context.Background(), a); err != nil {
			tb.Fatal(err)
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
