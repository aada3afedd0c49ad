package correlate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

// screenRules are filters indexed by merchant (one with alert fields
// read from the event, one whose condition fails on some events), one
// indexed by a prefix of a nested field, and a rule of another stream.
var screenRules = []string{prepareRules[0], prepareRules[5], prepareRules[6], `id: fields
title: merchant d, with fields
streams: [payments]
by: [event.card]
match: event.merchant == "m-d" && event.amount > 90.0
alert:
  fields: {amount: event.amount, city: event.geo.city}
`, `id: nested
title: a city by its prefix
streams: [payments]
match: event.geo.city.startsWith("Lis") && event.amount > 97.0
`, `id: other
title: another stream
streams: [logins]
match: event.user == "u1"
`}

// screenLines are payments, a second apart, of which one in twenty can
// reach a rule: few enough that the decoder screens them all.
func screenLines() [][]byte {
	merchants := []string{"m-a", "m-b", "m-c", "m-d"}
	for i := range 96 {
		merchants = append(merchants, fmt.Sprintf("m-x%d", i))
	}
	var lines [][]byte
	for i := range 5000 {
		fee := ""
		if i%3 == 0 {
			fee = `,"fee":2.0`
		}
		city := "Porto"
		if i%89 == 0 {
			city = "Lisbon"
		}
		lines = append(lines, fmt.Appendf(nil, `{"id":"e%d","ts":%d,"card":"c%d","merchant":%q,"amount":%g,"geo":{"city":%q,"lat":1.5}%s}`,
			i, 1_700_000_000+i, i%7, merchants[i%len(merchants)], float64((i*37)%101)+0.5, city, fee))
	}
	return lines
}

// runScreened decodes lines as a source's decoder does, with the engine's
// screen when screened and prepared by its Preparer when prepared, runs
// the rules over them and returns the alerts (as JSON), the counters, and
// how many lines the screen turned away and let through.
func runScreened(t *testing.T, srcs []string, screened, prepared bool) (string, Stats, map[string]RuleStats, uint64, uint64) {
	t.Helper()
	rs := compileRules(t, srcs...)
	// The alerts are written at the end, when the slabs of the events
	// released since they were raised have held many others.
	var alerts []*alert.Alert
	e, err := New(rs, Config{}, func(a *alert.Alert) { alerts = append(alerts, a) })
	if err != nil {
		t.Fatal(err)
	}
	d := event.Decoder{Stream: "payments", Project: rules.Projection(rs, "payments")}
	if screened {
		mk := e.Screens()
		if mk == nil {
			t.Fatal("no screens")
		}
		s := mk("payments")
		if s == nil {
			t.Fatal("no screen of payments")
		}
		d.SetScreen(s)
	}
	var prepare func([]*event.Event)
	if prepared {
		prepare = e.Preparer()()
	}
	lines := screenLines()
	for i := 0; i < len(lines); i += 64 {
		var evs []*event.Event
		for _, l := range lines[i:min(i+64, len(lines))] {
			ev, err := d.Decode(l)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		if prepare != nil {
			prepare(evs)
			for _, ev := range evs {
				if !slices.ContainsFunc(ev.Fields, func(f event.Field) bool { return f.Key == "amount" }) && ev.Prepared != e.unscreened {
					t.Fatalf("event %s, screened out, prepared as %+v", ev.ID, ev.Prepared)
				}
			}
		}
		e.PushBatch(evs, time.Time{})
	}
	e.Close()
	var out []byte
	for _, a := range alerts {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, b...), '\n')
	}
	only, twice := d.Screened()
	heldAhead = e.held.ahead
	return string(out), e.Stats(), e.RuleStats(), only, twice
}

// heldAhead is how many of the held copies of runScreened's last run
// its decoders made.
var heldAhead uint64

// TestScreenedSameAlerts: decoding the events no rule can reach with only
// the fields rules are indexed by changes no alert, no alert's fields and
// no counter.
func TestScreenedSameAlerts(t *testing.T) {
	want, wantTotals, wantStats, _, _ := runScreened(t, screenRules, false, false)
	for _, id := range []string{"watch-a", "watch-b", "fields", "nested"} {
		if !strings.Contains(want, `"rule":"`+id+`"`) {
			t.Fatalf("rule %s raised no alert: the test would prove less", id)
		}
	}
	for _, prepared := range []bool{false, true} {
		t.Run(fmt.Sprintf("prepared=%v", prepared), func(t *testing.T) {
			got, gotTotals, gotStats, only, twice := runScreened(t, screenRules, true, prepared)
			if only+twice != 5000 || twice == 0 {
				t.Fatalf("screened out %d lines and let %d through, want 5000 screened, some let through", only, twice)
			}
			if got != want {
				t.Errorf("alerts\n%s\nwant\n%s", got, want)
			}
			if gotTotals != wantTotals {
				t.Errorf("counters %+v, want %+v", gotTotals, wantTotals)
			}
			for id, w := range wantStats {
				if gotStats[id] != w {
					t.Errorf("rule %s: counters %+v, want %+v", id, gotStats[id], w)
				}
			}
		})
	}
}

// TestScreens: a stream whose every event some rule sees, or whose
// labels an online model learns from, has no screen, unless its rules
// keep nothing of its events (a screen that only releases); a stream no rule
// reads is screened with nothing but its time and id; explaining screens
// nothing.
func TestScreens(t *testing.T) {
	rs := compileRules(t, append([]string{prepareRules[1]}, screenRules...)...)
	e, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	mk := e.Screens()
	if s := mk("payments"); s == nil || s.Project != nil || s.Pass != nil || !s.Releases {
		t.Errorf("payments, read by a sequence that holds copies: screen %+v, want releases alone", s)
	}
	// So do a window and a join; a sequence whose steps read facts keeps
	// what a Redis store caches: a stream it reads is neither screened
	// nor released.
	windowed, err := New(compileRules(t, append([]string{prepareRules[1], prepareRules[7]}, screenRules...)...), Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	if s := windowed.Screens()("payments"); s == nil || s.Project != nil || !s.Releases {
		t.Errorf("payments, read by a sequence and a window: screen %+v, want releases alone", s)
	}
	joined, err := New(compileRules(t, append([]string{prepareRules[1], joinReleaseRule}, screenRules...)...), Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	if s := joined.Screens()("payments"); s == nil || s.Project != nil || !s.Releases {
		t.Errorf("payments, read by a sequence and a join: screen %+v, want releases alone", s)
	}
	factful, err := New(compileRules(t, append([]string{prepareRules[3], `id: seq-facts
title: a payment at a merchant not known for its card, then a large one
streams: [payments]
by: [event.card]
sequence:
  within: 1h
  steps:
    - {name: a, where: '!seen("known", event.card, event.merchant)'}
    - {name: b, where: event.amount > 90.0}
`}, screenRules...)...), Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	if s := factful.Screens()("payments"); s != nil {
		t.Errorf("payments, read by a sequence that reads facts: screen %+v, want none", s)
	}
	s := mk("logins")
	if s == nil {
		t.Fatal("logins, read by an indexed filter, not screened")
	}
	if got := s.Project.Paths(); len(got) != 1 || got[0] != "user" {
		t.Errorf("logins screened with %v, want [user]", got)
	}
	if !s.Releases {
		t.Error("logins, read by a filter alone, not released once dispatched")
	}
	// A filter whose verdict depends on facts other events' alerts
	// remember is not prepared; the engine cannot tell what it keeps.
	withFacts, err := New(compileRules(t, append([]string{prepareRules[4]}, screenRules...)...), Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	if s := withFacts.Screens()("payments"); s == nil || s.Releases {
		t.Errorf("payments, read by a filter that reads facts: screen %+v, want one without releases", s)
	}
	idle := mk("idle")
	if idle == nil || len(idle.Project.Paths()) != 0 {
		t.Fatalf("a stream no rule reads: screen %+v, want one of no fields", idle)
	}
	d := event.Decoder{Stream: "idle"}
	d.SetScreen(idle)
	ev, err := d.Decode([]byte(`{"id":"x","ts":1700000000,"user":"u1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Prepared != e.unscreened {
		t.Error("an event of a stream no rule reads is not marked for the engine to skip")
	}
	if v, ok := ev.Get("user"); !ok || v.Str() != "u1" {
		t.Errorf("a screened event's user %v %v, want u1 from its line", v, ok)
	}

	explaining, err := New(rs, Config{Explain: &nopWriter{}}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	if explaining.Screens() != nil {
		t.Error("an explaining engine screens events")
	}
}

// releaseRules are sequences whose matchers hold copies of their
// events, one with a repeated step, one with alert fields read from its
// first step's events and from the event that completes it, and one
// that emits its timeouts; windows, a sliding one whose alert reads its
// last event and a top-N report; a join; a filter with baselines.
var releaseRules = []string{prepareRules[1], prepareRules[9], `id: seq-fields
title: a large payment, then a small one in the same city
streams: [payments]
by: [event.card]
sequence:
  within: 30s
  steps:
    - {name: first, where: event.amount > 80.0}
    - {name: second, where: event.amount < 20.0 && event.geo.city == first.geo.city}
alert:
  fields: {first_merchant: first.merchant, merchant: second.merchant, amount: second.amount, city: second.geo.city, id: second.id}
`, `id: seq-timeout
title: a mid payment not followed by a large one
streams: [payments]
by: [event.merchant]
sequence:
  within: 20s
  emit_timeouts: true
  steps:
    - {name: mid, where: event.amount > 45.0 && event.amount < 50.0}
    - {name: large, where: event.amount > 99.0}
alert:
  fields: {merchant: mid.merchant, card: mid.card}
`, `id: merchants-sliding
title: a card at its usual merchants, spending more than usual
streams: [payments]
by: [event.card]
aggregate:
  window: {type: sliding, size: 5m}
  measures: {merchants: count_distinct(event.merchant), total: sum(event.amount)}
  having: merchants == 43 && total > 2200.0
alert:
  fields: {city: event.geo.city, merchant: event.merchant}
`, `id: top-cards
title: top cards by spend every five minutes
streams: [payments]
by: [event.card]
aggregate:
  window: {type: tumbling, size: 5m}
  where: event.amount > 20.0
  measures: {total: sum(event.amount), merchants: count_distinct(event.merchant)}
  top: {n: 3, by: total}
`, joinReleaseRule, prepareRules[len(prepareRules)-1]}

// joinReleaseRule is a join whose alert reads the event that completes
// it, which may be in its decoder's slab.
const joinReleaseRule = `id: ab
title: a small and a large payment of one card within a minute
join:
  within: 1m
  sides:
    - {name: a, stream: payments, where: event.amount < 10.0, by: [event.card]}
    - {name: b, stream: payments, where: event.amount > 90.0, by: [event.card]}
alert:
  fields: {small_at: a.merchant, large_at: b.merchant, city: b.geo.city}
`

// TestReleasedSameAlerts: a stream read by sequences, windows, a join and
// filters has every event decoded into the slabs and released once
// dispatched; the alerts, written after the slabs have held many later
// events, their fields and the counters are those of a run without
// slabs.
func TestReleasedSameAlerts(t *testing.T) {
	want, wantTotals, _, _, _ := runScreened(t, releaseRules, false, false)
	for _, id := range []string{"seq", "seq-fails", "seq-fields", "seq-timeout", "merchants-sliding", "top-cards", "ab", "spiky"} {
		if !strings.Contains(want, `"rule":"`+id+`"`) {
			t.Fatalf("rule %s raised no alert: the test would prove less", id)
		}
	}
	for _, prepared := range []bool{false, true} {
		t.Run(fmt.Sprintf("prepared=%v", prepared), func(t *testing.T) {
			got, gotTotals, _, _, _ := runScreened(t, releaseRules, true, prepared)
			if prepared && heldAhead == 0 {
				t.Error("the engine held no copy the decoders made")
			}
			if got != want {
				t.Errorf("alerts\n%s\nwant\n%s", got, want)
			}
			if gotTotals != wantTotals {
				t.Errorf("counters %+v, want %+v", gotTotals, wantTotals)
			}
		})
	}
}
