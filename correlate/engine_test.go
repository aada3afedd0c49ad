package correlate

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

func compileRules(tb testing.TB, srcs ...string) []*rules.Rule {
	tb.Helper()
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []*rules.Rule
	for i, src := range srcs {
		r, errs := c.CompileFile(fmt.Sprintf("r%d.yaml", i), []byte(src))
		if r == nil {
			tb.Fatalf("rule %d: %v", i, errs)
		}
		out = append(out, r)
	}
	// As every command that runs rules does.
	rules.Compact(out)
	return out
}

// ev builds an event of stream at second sec with extra JSON members.
func ev(tb testing.TB, stream, id string, sec int, members string) *event.Event {
	tb.Helper()
	d := event.Decoder{Stream: stream}
	line := fmt.Sprintf(`{"id":%q,"ts":%d`, id, 1_700_000_000+sec)
	if members != "" {
		line += "," + members
	}
	e, err := d.Decode([]byte(line + "}"))
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func secs(t int64) int { return int(t/1e9) - 1_700_000_000 }

type collector struct{ alerts []*alert.Alert }

func (c *collector) add(a *alert.Alert) { c.alerts = append(c.alerts, a) }

func (c *collector) ids() string {
	var s []string
	for _, a := range c.alerts {
		var evs []string
		for _, e := range a.Events {
			evs = append(evs, e.Event.ID)
		}
		s = append(s, fmt.Sprintf("%s@%d[%s]", a.Rule, secs(a.Time.UnixNano()), strings.Join(evs, ",")))
	}
	return strings.Join(s, " ")
}

const ruleLogin = `id: login
title: Failed login
streams: [auth]
by: [event.user]
match: event.outcome == "failure"
alert:
  fields:
    user: event.user
`

const rulePay = `id: pay
title: Large payment
streams: [payments]
match: event.amount > 100.0
`

func TestFilterRouting(t *testing.T) {
	rs := compileRules(t, ruleLogin, rulePay)
	var c collector
	e, err := New(rs, Config{}, c.add)
	if err != nil {
		t.Fatal(err)
	}
	e.Push(ev(t, "auth", "a1", 1, `"user":"u1","outcome":"failure"`), time.Time{})
	e.Push(ev(t, "payments", "p1", 2, `"amount":500`), time.Time{})
	e.Push(ev(t, "auth", "a2", 3, `"user":"u2","outcome":"success"`), time.Time{})
	e.Push(ev(t, "payments", "p2", 4, `"amount":50,"outcome":"failure"`), time.Time{})
	e.Close()
	if got, want := c.ids(), "login@1[a1] pay@2[p1]"; got != want {
		t.Errorf("alerts %s, want %s", got, want)
	}
	a := c.alerts[0]
	if a.Key.String() != "event.user=u1" || a.Fields["user"] != "u1" || a.Severity != alert.Medium || a.Priority == 0 || a.ID == "" {
		t.Errorf("alert %+v", a)
	}
	if s := e.Stats(); s.Events != 4 || s.Processed != 4 || s.Alerts != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestReorder: within the allowed lateness events are processed in event
// time; beyond it they are counted and dropped, or processed as configured.
func TestReorder(t *testing.T) {
	tests := []struct {
		name     string
		lateness time.Duration
		late     string
		times    []int
		want     string
		dropped  uint64
	}{
		{"in order", 0, "", []int{1, 2, 3}, "1 2 3", 0},
		{"disorder within lateness", 5 * time.Second, "", []int{3, 1, 5, 2, 9}, "1 2 3 5 9", 0},
		{"beyond lateness dropped", 2 * time.Second, "", []int{1, 10, 3, 12}, "1 10 12", 1},
		{"beyond lateness processed", 2 * time.Second, LateProcess, []int{1, 10, 3, 12}, "1 3 10 12", 0},
		{"equal times keep arrival order", 0, "", []int{1, 1, 1}, "1 1 1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := compileRules(t, "id: all\ntitle: all\nmatch: \"true\"\n")
			var got []string
			e, err := New(rs, Config{AllowedLateness: tt.lateness, Late: tt.late}, func(a *alert.Alert) {
				got = append(got, fmt.Sprint(secs(a.Time.UnixNano())))
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.times {
				e.Push(ev(t, "s", fmt.Sprint("e", i), s, ""), time.Time{})
			}
			e.Close()
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("order %q, want %q", g, tt.want)
			}
			if s := e.Stats(); s.LateDropped != tt.dropped {
				t.Errorf("late dropped %d, want %d", s.LateDropped, tt.dropped)
			}
		})
	}
}

// TestWatermarkAcrossStreams: the watermark is the minimum over streams;
// a declared stream holds it back until it delivers, an ended or idle one
// stops holding it.
func TestWatermarkAcrossStreams(t *testing.T) {
	rs := compileRules(t, "id: all\ntitle: all\nmatch: \"true\"\n")
	var got []string
	e, _ := New(rs, Config{Streams: []string{"a", "b"}, IdleTimeout: time.Minute}, func(a *alert.Alert) {
		got = append(got, a.Events[0].Event.ID)
	})
	// Processing time near the events' time: the engine also checks event
	// time against it.
	t0 := time.Unix(1_700_000_000, 0)
	e.Push(ev(t, "a", "a1", 1, ""), t0)
	e.Push(ev(t, "a", "a2", 5, ""), t0)
	if len(got) != 0 {
		t.Fatalf("released %v before stream b said anything", got)
	}
	e.Push(ev(t, "b", "b1", 3, ""), t0)
	if strings.Join(got, " ") != "a1" {
		t.Fatalf("after b1: %v, want a1 (watermark is b's 3s)", got)
	}
	// b goes idle: a alone drives the watermark.
	e.Tick(t0.Add(2 * time.Minute))
	e.Push(ev(t, "a", "a3", 9, ""), t0.Add(2*time.Minute))
	if strings.Join(got, " ") != "a1 b1 a2" {
		t.Fatalf("with b idle: %v, want a1 b1 a2", got)
	}
	e.EndStream("a")
	e.EndStream("b")
	if strings.Join(got, " ") != "a1 b1 a2 a3" {
		t.Fatalf("after both ended: %v", got)
	}
}

// TestSilentDeclaredStreamGoesIdle: a declared stream that never delivers
// stops holding the watermark back once it has been silent for the idle
// timeout, timed from the first tick.
func TestSilentDeclaredStreamGoesIdle(t *testing.T) {
	rs := compileRules(t, "id: all\ntitle: all\nmatch: \"true\"\n")
	var got []string
	e, _ := New(rs, Config{Streams: []string{"a", "b"}, IdleTimeout: time.Minute}, func(a *alert.Alert) {
		got = append(got, a.Events[0].Event.ID)
	})
	t0 := time.Unix(1_700_000_000, 0)
	e.Tick(t0)
	e.Push(ev(t, "a", "a1", 1, ""), t0)
	e.Tick(t0.Add(30 * time.Second))
	if len(got) != 0 {
		t.Fatalf("released %v before b was silent for the idle timeout", got)
	}
	e.Push(ev(t, "a", "a2", 20, ""), t0.Add(61*time.Second))
	e.Tick(t0.Add(61 * time.Second))
	e.Push(ev(t, "a", "a3", 40, ""), t0.Add(61*time.Second))
	if strings.Join(got, " ") != "a1 a2" {
		t.Fatalf("with b silent past the idle timeout: %v, want a1 a2", got)
	}
}

// TestRestoredStreamIsNotIdleAtOnce: a stream restored from a checkpoint
// has delivered nothing in this process yet; its silence is timed from
// the first tick, so a stream slow to resume is not idle at once (which
// let the others' events run its own late).
func TestRestoredStreamIsNotIdleAtOnce(t *testing.T) {
	rs := compileRules(t, "id: all\ntitle: all\nmatch: \"true\"\n")
	cfg := Config{Streams: []string{"a", "b"}, IdleTimeout: time.Minute}
	e, _ := New(rs, cfg, func(*alert.Alert) {})
	t0 := time.Unix(1_700_000_000, 0)
	e.Push(ev(t, "a", "a1", 100, ""), t0)
	e.Push(ev(t, "b", "b1", 100, ""), t0)
	var got []string
	e2, _ := New(rs, cfg, func(a *alert.Alert) { got = append(got, a.Events[0].Event.ID) })
	restoreInto(t, e, e2)
	t1 := t0.Add(time.Hour) // the restart, long after the checkpoint
	e2.Tick(t1)
	e2.Push(ev(t, "a", "a2", 200, ""), t1)
	e2.Push(ev(t, "b", "b2", 102, ""), t1.Add(time.Second))
	e2.Close()
	if strings.Join(got, " ") != "a1 b1 b2 a2" {
		t.Errorf("after a restore: %v, want a1 b1 b2 a2 (b not late)", got)
	}
}

func TestDedup(t *testing.T) {
	rs := compileRules(t, "id: d\ntitle: d\nby: [event.user]\nmatch: \"true\"\nalert:\n  dedup: 10s\n")
	var c collector
	e, _ := New(rs, Config{}, c.add)
	for i, s := range []int{0, 5, 9, 10, 11, 25} {
		e.Push(ev(t, "s", fmt.Sprint("e", i), s, `"user":"u1"`), time.Time{})
		if s == 5 {
			e.Push(ev(t, "s", "other", 6, `"user":"u2"`), time.Time{})
		}
	}
	e.Close()
	if got, want := c.ids(), "d@0[e0] d@6[other] d@10[e3] d@25[e5]"; got != want {
		t.Errorf("alerts %s, want %s", got, want)
	}
	if s := e.Stats(); s.Deduped != 3 {
		t.Errorf("deduplicated %d, want 3", s.Deduped)
	}
}

func TestKeys(t *testing.T) {
	rs := compileRules(t, "id: k\ntitle: k\nby: [event.user, event.n * 2.0]\nmatch: \"true\"\n",
		"id: w\ntitle: w\nby: [event.user]\naggregate:\n  window: {type: tumbling, size: 1m}\n  measures: {n: count()}\n")
	var c collector
	e, _ := New(rs, Config{}, c.add)
	e.Push(ev(t, "s", "e1", 1, `"user":"u1","n":1`), time.Time{})
	e.Push(ev(t, "s", "e2", 2, `"n":2`), time.Time{})
	e.Push(ev(t, "s", "e3", 3, `"user":"u3","n":"x"`), time.Time{})
	e.Close()
	// e2 has no user: the filter still alerts with a null part, the window
	// skips it. e3's second key part fails for k: an error, no alert.
	// Windows are aligned to the epoch (1_700_000_000 is 20s past a
	// minute).
	if got, want := c.ids(), "k@1[e1] k@2[e2] w@40[e1] w@40[e3]"; got != want {
		t.Errorf("alerts %s, want %s", got, want)
	}
	if k := c.alerts[1].Key; len(k) != 2 || k[0].Value != nil || k[1].Value != 4.0 {
		t.Errorf("key of e2: %v", k)
	}
	s := e.Stats()
	if s.KeyErrors != 1 || s.KeyMissing != 1 || rs[0].Health.Errors() != 1 {
		t.Errorf("key errors %d, missing %d, rule errors %d", s.KeyErrors, s.KeyMissing, rs[0].Health.Errors())
	}
}

// TestDeterministicIDs: the same input yields the same alert ids.
func TestDeterministicIDs(t *testing.T) {
	run := func() string {
		rs := compileRules(t, ruleLogin, rulePay)
		var ids []string
		e, _ := New(rs, Config{}, func(a *alert.Alert) { ids = append(ids, a.ID) })
		e.Push(ev(t, "auth", "a1", 1, `"user":"u1","outcome":"failure"`), time.Time{})
		e.Push(ev(t, "payments", "p1", 2, `"amount":500`), time.Time{})
		e.Close()
		return strings.Join(ids, ",")
	}
	if a, b := run(), run(); a != b || a == "" {
		t.Errorf("ids differ between runs: %s vs %s", a, b)
	}
}

func TestExplain(t *testing.T) {
	rs := compileRules(t, ruleLogin)
	var b strings.Builder
	e, _ := New(rs, Config{Explain: &b}, func(*alert.Alert) {})
	e.Push(ev(t, "auth", "a1", 1, `"user":"u1","outcome":"success"`), time.Time{})
	e.Push(ev(t, "auth", "a2", 2, `"user":"u1","outcome":"failure"`), time.Time{})
	e.Close()
	out := b.String()
	for _, want := range []string{"event a1 stream=auth", "login: match is false", "event a2", "login: ALERT"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
}

// TestExplainWindowsThatFailHaving: explained, every window that closes
// is told, with its having's verdict, those it fails too, which a run
// not explained drops before ordering them (window.Config.Keep).
func TestExplainWindowsThatFailHaving(t *testing.T) {
	rs := compileRules(t, `id: busy
title: many logins of a user in a minute
streams: [auth]
by: [event.user]
aggregate:
  window: {type: tumbling, size: 1m}
  measures: {n: count()}
  having: n >= 2
`)
	var b strings.Builder
	var alerts int
	e, _ := New(rs, Config{Explain: &b}, func(*alert.Alert) { alerts++ })
	e.Push(ev(t, "auth", "a1", 1, `"user":"u1"`), time.Time{})
	e.Push(ev(t, "auth", "a2", 2, `"user":"u1"`), time.Time{})
	e.Push(ev(t, "auth", "a3", 3, `"user":"u2"`), time.Time{})
	e.Close()
	out := b.String()
	for _, want := range []string{"n=2, having true", "n=1, having false"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if alerts != 1 {
		t.Errorf("%d alerts, want 1", alerts)
	}
}

// benchStart is the time of a benchmark's first event; each next one is
// a millisecond later. The benchmarks cycle through a few lines whose own
// times start over with every cycle: taken as they are, half the events
// would be late, and dropped before any rule saw them.
const benchStart = 1_700_000_000_000 * int64(time.Millisecond)

// BenchmarkFilterRules measures decode + route + evaluate per event as the
// number of rules grows: the index keeps the cost nearly flat.
func BenchmarkFilterRules(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var srcs []string
			for i := 0; i < n; i++ {
				srcs = append(srcs, fmt.Sprintf("id: r%d\ntitle: r\nstreams: [payments]\nby: [event.card_id]\nmatch: event.type == \"card_auth\" && event.merchant == \"m-%05d\" && event.amount > 900.0\n", i, i*10000/n))
			}
			rs := compileRules(b, srcs...)
			e, _ := New(rs, Config{}, func(*alert.Alert) {})
			d := event.Decoder{Stream: "payments"}
			lines := make([][]byte, 1024)
			for i := range lines {
				lines[i] = []byte(fmt.Sprintf(`{"id":"p%d","ts":%d,"type":"card_auth","card_id":"c-%d","merchant":"m-%05d","amount":%d.5,"result":"approved"}`, i, 1_700_000_000_000+i, i%97, (i*7919)%10000, i%1000))
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				x, err := d.Decode(lines[i%len(lines)])
				if err != nil {
					b.Fatal(err)
				}
				x.Time = benchStart + int64(i)*1e6
				e.Push(x, time.Time{})
				i++
			}
		})
	}
}

// TestLoggedOccurrences: a counted problem is logged at its 1st, 10th,
// 100th, … occurrence, and at no other.
func TestLoggedOccurrences(t *testing.T) {
	var got []uint64
	for n := uint64(0); n <= 100000; n++ {
		if logged(n) {
			got = append(got, n)
		}
	}
	want := []uint64{1, 10, 100, 1000, 10000, 100000}
	if !slices.Equal(got, want) {
		t.Errorf("logged at %v, want %v", got, want)
	}
	if !logged(10_000_000_000_000_000_000) || logged(math.MaxUint64) {
		t.Error("logged misses 10^19 or logs 2^64-1")
	}
}

// TestRuleStatsCountDelivered: a rule's Alerts (and Shadow) count what the
// pipeline delivered of it, whether it delivers at once, dedups, folds
// into groups flushed later, throttles, or belongs to a shadow rule;
// filters hand their alerts to the pipeline with their rule's handling
// and counters kept (emitTo), other detectors through a lookup by id.
func TestRuleStatsCountDelivered(t *testing.T) {
	filter := func(id, extra string) string {
		return fmt.Sprintf("id: %s\ntitle: t\nstreams: [auth]\nby: [event.user]\nmatch: event.outcome == \"failure\"\n%s", id, extra)
	}
	rs := compileRules(t,
		filter("plain", ""),
		filter("dedup", "alert:\n  dedup: 1h\n"),
		filter("group", "alert:\n  group: {by: [key], for: 10m}\n"),
		filter("throttle", "alert:\n  throttle: {max: 2, per: 1h}\n"),
		filter("shadow", "status: experimental\n"),
		`id: seq
title: t
streams: [auth]
by: [event.user]
sequence:
  within: 1h
  steps:
    - {name: a, where: event.outcome == "failure"}
    - {name: b, where: event.outcome == "failure"}
`)
	var c collector
	e, err := New(rs, Config{}, c.add)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		e.Push(ev(t, "auth", fmt.Sprint("a", i), i*60, fmt.Sprintf(`"user":"u%d","outcome":"failure"`, i%2)), time.Time{})
	}
	e.Close()
	got := map[string]uint64{}
	shadow := map[string]uint64{}
	for _, a := range c.alerts {
		got[a.Rule]++
		if a.Shadow {
			shadow[a.Rule]++
		}
	}
	for _, id := range []string{"plain", "dedup", "group", "throttle", "shadow", "seq"} {
		if got[id] == 0 {
			t.Errorf("%s: no alert delivered", id)
		}
	}
	if got["dedup"] >= got["plain"] || got["group"] >= got["plain"] || got["throttle"] >= got["plain"] {
		t.Errorf("handling let every alert through: %v", got)
	}
	for id, st := range e.RuleStats() {
		if st.Alerts != got[id] || st.Shadow != shadow[id] {
			t.Errorf("%s: counted %d alerts (%d shadow), delivered %d (%d shadow)", id, st.Alerts, st.Shadow, got[id], shadow[id])
		}
	}
}
