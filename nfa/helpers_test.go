package nfa

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cep-project/cep/event"
)

// events parses a compact event list: "c d1 a1@5 b$2.5". Each token is an id
// whose leading letters are the event's name field; "@t" sets its time
// (default: one tick after the previous event), "$p" its price field and
// "%s" its stream (default "s").
func events(tb testing.TB, spec string) []*event.Event {
	tb.Helper()
	var out []*event.Event
	var t int64
	for i, tok := range strings.Fields(spec) {
		id, stream := tok, "s"
		if a, b, ok := strings.Cut(id, "%"); ok {
			id, stream = a, b
		}
		t++
		if a, b, ok := strings.Cut(id, "@"); ok {
			v, err := strconv.ParseInt(b, 10, 64)
			if err != nil {
				tb.Fatalf("event %q: time: %v", tok, err)
			}
			id, t = a, v
		}
		price := 0.0
		if a, b, ok := strings.Cut(id, "$"); ok {
			p, err := strconv.ParseFloat(b, 64)
			if err != nil {
				tb.Fatalf("event %q: price: %v", tok, err)
			}
			id, price = a, p
		}
		name := strings.TrimRight(id, "0123456789")
		out = append(out, &event.Event{
			Stream: stream, ID: id, Time: t, Seq: uint64(i + 1),
			Fields: []event.Field{
				{Key: "name", Value: event.StringValue(name)},
				{Key: "price", Value: event.NumberValue(price)},
			},
		})
	}
	return out
}

func nameOf(ev *event.Event) string {
	v, _ := ev.Get("name")
	return v.Str()
}

func priceOf(ev *event.Event) float64 {
	v, _ := ev.Get("price")
	return v.Num()
}

// is accepts events whose name is exactly one of names.
func is(names ...string) Guard {
	return func(ev *event.Event, _ View) bool { return slices.Contains(names, nameOf(ev)) }
}

// has accepts events whose name contains s.
func has(s string) Guard {
	return func(ev *event.Event, _ View) bool { return strings.Contains(nameOf(ev), s) }
}

// priceAbove accepts events whose price exceeds p.
func priceAbove(p float64) Guard {
	return func(ev *event.Event, _ View) bool { return priceOf(ev) > p }
}

// render prints a match as "step:id step:id", with "~" in front of a timed
// out one and " @t" after when withTime is set.
func render(m Match, withTime, withSteps bool) string {
	var b strings.Builder
	if m.TimedOut {
		b.WriteString("~")
	}
	for i, e := range m.Events {
		if i > 0 {
			b.WriteByte(' ')
		}
		if withSteps {
			b.WriteString(e.Name + ":")
		}
		b.WriteString(e.Event.ID)
	}
	if withTime {
		b.WriteString(" @" + strconv.FormatInt(m.Time, 10))
	}
	return b.String()
}

// run feeds evs to a matcher of p under one key as the engine does
// (advancing event time before each event) and lets time run to the end.
func run(tb testing.TB, p Pattern, evs []*event.Event) []Match {
	tb.Helper()
	n, err := Compile(p)
	if err != nil {
		tb.Fatalf("compile: %v", err)
	}
	m := NewMatcher(n, Options{})
	var out []Match
	emit := func(x Match) { out = append(out, x) }
	for _, ev := range evs {
		if err := m.Advance(ev.Time, emit); err != nil {
			tb.Fatal(err)
		}
		if err := m.Process("k", ev, emit); err != nil {
			tb.Fatal(err)
		}
	}
	if err := m.Advance(math.MaxInt64, emit); err != nil {
		tb.Fatal(err)
	}
	checkEmpty(tb, m)
	return out
}

// checkEmpty asserts that a matcher whose time ran to the end holds nothing
// it should not.
func checkEmpty(tb testing.TB, m *Matcher) {
	tb.Helper()
	s := m.Stats()
	if s.Held != 0 {
		tb.Errorf("after the end: %d held matches remain", s.Held)
	}
	if s.Partials == 0 && (s.Nodes != 0 || s.Keys != 0) {
		tb.Errorf("no partial matches but %d nodes and %d keys remain", s.Nodes, s.Keys)
	}
}
