package correlate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

const reloadSeq = `id: seq
title: Two failures then success
streams: [auth]
by: [event.user]
sequence:
  within: 10m
  steps:
    - name: fail
      where: event.outcome == "failure"
      times: 2
    - name: ok
      where: event.outcome == "success"
`

const reloadWin = `id: win
title: Many payments
streams: [payments]
by: [event.card]
aggregate:
  window: {type: sliding, size: 10m}
  measures:
    n: count()
  having: n >= 4
`

const reloadDedup = `id: big
title: Big payment
streams: [payments]
by: [event.card]
match: event.amount > 100.0
alert:
  dedup: 1h
`

const reloadNew = `id: new
title: New rule
streams: [auth]
match: event.outcome == "locked"
`

// TestReload drives an engine through a reload between the first events
// of each rule's state and the events that complete it: what fires after
// the reload shows whether the state was kept.
func TestReload(t *testing.T) {
	before := func(t *testing.T, e *Engine) {
		e.Push(ev(t, "auth", "f1", 1, `"user":"u","outcome":"failure"`), time.Time{})
		e.Push(ev(t, "auth", "f2", 2, `"user":"u","outcome":"failure"`), time.Time{})
		for i, id := range []string{"p1", "p2", "p3"} {
			e.Push(ev(t, "payments", id, 3+i, `"card":"c","amount":500`), time.Time{})
		}
		// Events of other keys move the watermark past the ones above,
		// so they reach the detectors before the reload.
		e.Push(ev(t, "auth", "z1", 6, `"user":"z","outcome":"none"`), time.Time{})
		e.Push(ev(t, "payments", "z2", 6, `"card":"z","amount":1`), time.Time{})
	}
	after := func(t *testing.T, e *Engine) {
		e.Push(ev(t, "auth", "s1", 10, `"user":"u","outcome":"success"`), time.Time{})
		e.Push(ev(t, "auth", "l1", 11, `"user":"v","outcome":"locked"`), time.Time{})
		e.Push(ev(t, "payments", "p4", 12, `"card":"c","amount":500`), time.Time{})
		e.Close()
	}
	cases := []struct {
		name  string
		rules []string
		// want is the alerts after the reload; report is what the
		// reload says, "same|kept|fresh|added|removed".
		want, report string
	}{
		{
			name:   "unchanged rules keep state; a new rule fires on later events",
			rules:  []string{reloadSeq, reloadWin, reloadDedup, reloadNew},
			want:   "seq@10[f1,f2,s1] new@11[l1] win@12[p1,p2,p3,p4]",
			report: "big,seq,win|||new|",
		},
		{
			name: "titles, severity, fields, having and dedup spans keep state",
			rules: []string{
				strings.Replace(strings.Replace(reloadSeq, "title: Two failures then success", "title: Renamed\nseverity: critical\nalert:\n  fields: {who: ok.user}", 1), "", "", 1),
				strings.Replace(reloadWin, "n >= 4", "n >= 3", 1),
				strings.Replace(reloadDedup, "dedup: 1h", "dedup: 2h", 1),
			},
			// The lowered threshold holds at p3 already, which was
			// before the reload: the window fires at its next event.
			want:   "seq@10[f1,f2,s1] win@12[p1,p2,p3,p4]",
			report: "|big,seq,win|||",
		},
		{
			name: "a changed condition, window or key starts fresh",
			rules: []string{
				strings.Replace(reloadSeq, `event.outcome == "failure"`, `event.outcome in ["failure", "denied"]`, 1),
				strings.Replace(reloadWin, "size: 10m", "size: 20m", 1),
				strings.Replace(reloadDedup, "by: [event.card]", "by: [event.card, event.shop]", 1),
			},
			want:   "big@12[p4]",
			report: "||big,seq,win||",
		},
		{
			name:   "removed rules release their state",
			rules:  []string{reloadDedup},
			want:   "",
			report: "big||||seq,win",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c collector
			e, err := New(compileRules(t, reloadSeq, reloadWin, reloadDedup), Config{}, c.add)
			if err != nil {
				t.Fatal(err)
			}
			before(t, e)
			if got := c.ids(); got != "big@3[p1]" {
				t.Fatalf("before the reload: %s", got)
			}
			c.alerts = nil
			ne, rep, err := e.Reload(compileRules(t, tc.rules...))
			if err != nil {
				t.Fatal(err)
			}
			if got := reportString(rep); got != tc.report {
				t.Errorf("report %s, want %s", got, tc.report)
			}
			after(t, ne)
			if got := c.ids(); got != tc.want {
				t.Errorf("alerts after the reload:\n got %s\nwant %s", got, tc.want)
			}
			if st := ne.Stats(); st.Events != 10 {
				t.Errorf("events counted %d, want 10 (counters go on across a reload)", st.Events)
			}
			for _, r := range rep.Removed {
				if _, ok := ne.RuleStats()[r]; ok {
					t.Errorf("removed rule %s still has counters", r)
				}
			}
		})
	}
}

// TestReloadTitleOnAlerts checks that a rule whose state was kept alerts
// with its new metadata.
func TestReloadTitleOnAlerts(t *testing.T) {
	var c collector
	e, err := New(compileRules(t, reloadSeq), Config{}, c.add)
	if err != nil {
		t.Fatal(err)
	}
	e.Push(ev(t, "auth", "f1", 1, `"user":"u","outcome":"failure"`), time.Time{})
	e.Push(ev(t, "auth", "f2", 2, `"user":"u","outcome":"failure"`), time.Time{})
	ne, _, err := e.Reload(compileRules(t, strings.Replace(reloadSeq, "Two failures then success", "Renamed", 1)))
	if err != nil {
		t.Fatal(err)
	}
	ne.Push(ev(t, "auth", "s1", 10, `"user":"u","outcome":"success"`), time.Time{})
	ne.Close()
	if len(c.alerts) != 1 || c.alerts[0].Title != "Renamed" {
		t.Fatalf("alerts %s; want one titled Renamed", c.ids())
	}
	if rs := ne.RuleStats()["seq"]; rs.Evaluated != 3 || rs.Alerts != 1 {
		t.Errorf("rule counters %+v: want 3 evaluated, 1 alert across the reload", rs)
	}
}

func reportString(r *ReloadReport) string {
	parts := [][]string{r.Same, r.Kept, r.Fresh, r.Added, r.Removed}
	out := make([]string, len(parts))
	for i, p := range parts {
		p = slices.Clone(p)
		slices.Sort(p)
		out[i] = strings.Join(p, ",")
	}
	return strings.Join(out, "|")
}

// BenchmarkReload measures a reload of a sequence rule holding 100,000
// keys with one partial match each: the pause of the loop.
func BenchmarkReload(b *testing.B) {
	rs := compileRules(b, reloadSeq)
	var c collector
	e, err := New(rs, Config{MaxFuture: -1}, c.add)
	if err != nil {
		b.Fatal(err)
	}
	d := event.Decoder{Stream: "auth"}
	for i := range 100_000 {
		ev, err := d.Decode(fmt.Appendf(nil, `{"id":"f%d","ts":%d,"user":"u%d","outcome":"failure"}`, i, 1_700_000_000+i/100, i))
		if err != nil {
			b.Fatal(err)
		}
		e.Push(ev, time.Time{})
	}
	b.ResetTimer()
	for b.Loop() {
		ne, _, err := e.Reload(compileRules(b, reloadSeq))
		if err != nil {
			b.Fatal(err)
		}
		e = ne
	}
	b.ReportMetric(float64(e.Stats().Partials), "partials")
}
