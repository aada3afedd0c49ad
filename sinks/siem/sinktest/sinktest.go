// Package sinktest holds the fixtures that the tests of the sink core,
// the formats and the transports share: sample alerts with hostile values,
// golden files, a manual clock and polling. It is imported by tests only.
package sinktest

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
)

// Update rewrites golden files under testdata (go test -update).
var Update = flag.Bool("update", false, "rewrite golden files under testdata")

// BaseTime is the event time of the sample alerts.
var BaseTime = time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.UTC)

// MustEvent decodes one event line.
func MustEvent(tb testing.TB, stream, line string) *event.Event {
	tb.Helper()
	d := event.Decoder{Stream: stream}
	ev, err := d.Decode([]byte(line))
	if err != nil {
		tb.Fatalf("event %s: %v", line, err)
	}
	return ev
}

// Ptr returns a pointer to v.
func Ptr[T any](v T) *T { return &v }

// SampleAlerts are the golden-file cases: an ordinary alert, one full of
// hostile values, and a folded summary with every optional mark.
func SampleAlerts(tb testing.TB) map[string]*alert.Alert {
	tb.Helper()
	first, last := BaseTime.Add(-9*time.Minute), BaseTime
	return map[string]*alert.Alert{
		"basic": {
			ID: "4f6c2a9e0d1b3c5a7e9f1a2b3c4d5e6f", Rule: "fraud.card-testing", RuleVersion: "git:1a2b3c4",
			Title: "Card testing then cash-out", Severity: alert.High,
			Tags: []string{"fraud", "attack.t1110.001", "attack.credential_access", "attack.t1078"},
			Time: BaseTime,
			Key:  alert.Key{{Expr: "event.card_id", Value: "c-123"}},
			Events: []alert.Evidence{
				{Step: "probe", Event: MustEvent(tb, "payments", `{"id":"e1","ts":"2025-03-01T12:21:00Z","card_id":"c-123","amount":1.5,"result":"declined"}`)},
				{Step: "cashout", Event: MustEvent(tb, "payments", `{"id":"e2","ts":"2025-03-01T12:30:45Z","card_id":"c-123","amount":900,"result":"approved"}`)},
			},
			Fields:   map[string]any{"card": "c-123", "declines": int64(3), "total": 901.5, "ok": true, "none": nil, "list": []any{"a", 1.0}},
			Score:    Ptr(0.91),
			Reasons:  []string{"amount far above the card's mean", "three declines in 9m"},
			Model:    &alert.Model{Name: "card-risk", Version: "3"},
			Priority: 87,
		},
		// hostile carries what breaks naive writers: CEF and LEEF
		// separators and escapes, line breaks, a LEEF attribute forged in
		// the title, list items holding the list separator, bytes that are
		// not UTF-8 in fields and in a raw evidence line, and member names
		// Elasticsearch rejects.
		"hostile": {
			ID: "id|with=odd\\chars", Rule: "sec.pipe|rule", RuleVersion: "v=1\\2",
			Title:    "Login from Zürich ☃ | admin=root \\ path\nsecond line\r<script>&^cat=forged\tsev=1",
			Severity: alert.Critical,
			Tags:     []string{"a|b", "c=d", "e\\f", "ü", "x,y", "g^h"},
			Time:     BaseTime,
			Key:      alert.Key{{Expr: "event.user", Value: "bob|eve=x\\y\nz^w"}, {Expr: "event.n", Value: 7.25}},
			Events: []alert.Evidence{
				{Step: "login", Event: MustEvent(tb, "auth", `{ "id": "e|1", "ts": 1740832245, "user": "bob|eve=x\\y\nz", "note": "<b>&amp;</b> \u2028 ☃" }`)},
				{Step: "missing", Event: nil},
				{Step: "bytes", Event: MustEvent(tb, "auth", "{\"id\":\"e,3\",\"ts\":1740832245,\"user\":\"\xff\xfe\",\"\":\"no name\",\"x.\":{\".y\":1}}")},
			},
			Fields:   map[string]any{"msg": "a=b|c\\d\ne\tf", "ünï": "çödé", "ctl": "\x01\x7f", "bad": "\xff\xfe", "": "no name", "a..b": map[string]any{"c.": true}},
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

// Golden compares got with testdata/name, or rewrites it under -update.
func Golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *Update {
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

// Numbered returns n simple alerts with ids a000, a001, … in time order.
func Numbered(n int) []*alert.Alert {
	out := make([]*alert.Alert, n)
	for i := range out {
		out[i] = &alert.Alert{
			ID:   fmt.Sprintf("a%03d", i),
			Rule: "r", Title: "t", Severity: alert.Medium, Time: BaseTime.Add(time.Duration(i) * time.Second),
			Key: alert.Key{{Expr: "k", Value: int64(i % 3)}}, Fields: map[string]any{"i": int64(i)}, Priority: 50,
		}
	}
	return out
}

// WantIDs returns the ids of Numbered(n).
func WantIDs(n int) []string {
	out := make([]string, n)
	for i, a := range Numbered(n) {
		out[i] = a.ID
	}
	return out
}

// Eventually polls cond until it holds or the deadline passes.
func Eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Clock is a manual clock: After fires at once (its time is now plus d),
// and Now moves only by Advance.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that holds the time d from now.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.Now().Add(d)
	return ch
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// ReportRates adds alerts per second of wall time and CPU nanoseconds per
// alert (of the whole process: for transports that includes the local
// server, so it is an upper bound of the sink's own cost).
func ReportRates(b *testing.B, cpuBefore time.Duration) {
	b.Helper()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	if cpu := ProcessCPU(b) - cpuBefore; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// SmallAlert is a filter rule's alert: one evidence event, two fields.
func SmallAlert(tb testing.TB) *alert.Alert {
	tb.Helper()
	return &alert.Alert{
		ID: "4f6c2a9e0d1b3c5a7e9f1a2b3c4d5e6f", Rule: "sec.admin-login", RuleVersion: "git:1a2b3c4",
		Title: "Admin login from a new country", Severity: alert.Medium, Tags: []string{"auth", "attack.t1078"},
		Time: BaseTime, Key: alert.Key{{Expr: "event.user", Value: "alice"}},
		Events:   []alert.Evidence{{Step: "match", Event: MustEvent(tb, "auth", `{"id":"e9","ts":"2025-03-01T12:30:45Z","user":"alice","country":"NZ","ip":"203.0.113.7"}`)}},
		Fields:   map[string]any{"user": "alice", "country": "NZ"},
		Priority: 55,
	}
}
