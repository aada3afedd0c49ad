package nfa

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// randomPattern draws a pattern over event names a..d. It may be invalid;
// the property test skips those.
func randomPattern(r *rand.Rand) Pattern {
	quants := []Quantifier{Once(), Once(), Times(2), Between(1, 3), AtLeast(1), ZeroOrMore(), OptionalOnce(), Between(0, 2), AtLeast(2)}
	names := []string{"a", "b", "c", "d"}
	n := 1 + r.IntN(4)
	var p Pattern
	for i := range n {
		s := Step{Name: fmt.Sprintf("s%d", i), Where: is(names[r.IntN(3)])}
		if r.IntN(5) == 0 {
			s.Where = is(names[r.IntN(3)], names[r.IntN(3)])
		}
		s.Contiguity = Contiguity(r.IntN(3))
		if i > 0 && r.IntN(5) == 0 {
			s.Not = true
			s.Contiguity = Contiguity(r.IntN(2))
			if i == n-1 && s.Contiguity == Relaxed && r.IntN(2) == 0 {
				s.For = time.Duration(2 + r.IntN(6))
			}
		} else {
			s.Times = quants[r.IntN(len(quants))]
			if s.Times.multi() {
				s.Loop = LoopContiguity(r.IntN(3))
				s.Greedy = r.IntN(4) == 0
				if s.Times.norm().Max == Unbounded && r.IntN(4) == 0 {
					s.Until = is("d")
				}
			}
		}
		if r.IntN(8) == 0 {
			s.Stream = "t"
		}
		p.Steps = append(p.Steps, s)
	}
	if r.IntN(3) > 0 {
		p.Within = time.Duration(3 + r.IntN(10))
		p.WithinType = WithinType(r.IntN(2))
	}
	kinds := []SkipKind{SkipPastLast, NoSkip, SkipToNext, SkipToFirst, SkipToLast}
	p.AfterMatch.Kind = kinds[r.IntN(len(kinds))]
	p.AfterMatch.Step = p.Steps[r.IntN(n)].Name
	p.EmitTimeouts = r.IntN(3) == 0
	if r.IntN(6) == 0 {
		p.Until = func(ev *event.Event) bool { return nameOf(ev) == "x" && priceOf(ev) > 0.8 }
	}
	return p
}

func randomEvents(r *rand.Rand) []*event.Event {
	names := []string{"a", "b", "c", "d", "x"}
	var out []*event.Event
	t := int64(0)
	for i := range r.IntN(25) {
		t += int64(r.IntN(4))
		name := names[r.IntN(len(names))]
		st := "s"
		if r.IntN(4) == 0 {
			st = "t"
		}
		out = append(out, &event.Event{Stream: st, ID: fmt.Sprintf("%s%d", name, i), Time: t, Seq: uint64(i + 1),
			Fields: []event.Field{{Key: "name", Value: event.StringValue(name)}, {Key: "price", Value: event.NumberValue(r.Float64())}}})
	}
	// The engine feeds events merged in event.Before order.
	slices.SortStableFunc(out, func(a, b *event.Event) int {
		if a.Before(b) {
			return -1
		}
		if b.Before(a) {
			return 1
		}
		return 0
	})
	return out
}

type keyedRun struct {
	out   []Match
	stats Stats
}

func runKeyed(tb testing.TB, n *NFA, evs []*event.Event, keys []string, cut int) keyedRun {
	tb.Helper()
	store := NewMemoryStore()
	m := NewMatcher(n, Options{Store: store, MaxPartialsPerKey: 200})
	var res keyedRun
	emit := func(x Match) { res.out = append(res.out, x) }
	for i, ev := range evs {
		if i == cut {
			// Move every key through the serialised form mid-stream.
			next := NewMatcher(n, Options{MaxPartialsPerKey: 200})
			for _, b := range snapshot(tb, store) {
				if err := next.Restore(b); err != nil {
					tb.Fatal(err)
				}
			}
			m = next
		}
		if err := m.Advance(ev.Time, emit); err != nil {
			tb.Fatal(err)
		}
		if err := m.Process(keys[i], ev, emit); err != nil {
			tb.Fatal(err)
		}
		if s := m.Stats(); s.Keys < 0 || s.Partials < 0 || s.Nodes < 0 || s.Held < 0 {
			tb.Fatalf("negative stats %+v", s)
		}
	}
	if err := m.Advance(math.MaxInt64, emit); err != nil {
		tb.Fatal(err)
	}
	res.stats = m.Stats()
	return res
}

// TestRandomPatterns runs random patterns over random events and checks what
// must hold of every match, whatever the pattern.
func TestRandomPatterns(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	iterations := 4000
	if testing.Short() {
		iterations = 500
	}
	compiled := 0
	for it := range iterations {
		p := randomPattern(r)
		n, err := Compile(p)
		if err != nil {
			continue
		}
		compiled++
		evs := randomEvents(r)
		keys := make([]string, len(evs))
		keyOf := map[*event.Event]string{}
		for i, ev := range evs {
			keys[i] = fmt.Sprintf("k%d", r.IntN(3))
			keyOf[ev] = keys[i]
		}
		plain := runKeyed(t, n, evs, keys, -1)
		again := runKeyed(t, n, evs, keys, -1)
		if !slices.EqualFunc(plain.out, again.out, sameMatch) {
			t.Fatalf("#%d %s: two runs differ", it, n)
		}
		if len(evs) > 0 {
			resumed := runKeyed(t, n, evs, keys, r.IntN(len(evs)))
			a, b := renderAll(plain.out), renderAll(resumed.out)
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Fatalf("#%d %s: a run resumed from a snapshot differs\n got  %q\n want %q", it, n, b, a)
			}
		}
		s := plain.stats
		// Without a window a partial match can live forever, and so can the
		// matches held back behind it, as in Flink.
		if p.Within > 0 && s.Held != 0 {
			t.Fatalf("#%d %s: %d matches still held at the end", it, n, s.Held)
		}
		if (p.Within > 0 && s.Partials != 0) || (s.Partials == 0 && (s.Nodes != 0 || s.Keys != 0)) {
			t.Fatalf("#%d %s: state left at the end: %+v", it, n, s)
		}
		lastByKey := map[string]Match{}
		for _, m := range plain.out {
			if msg := checkMatch(p, m, keyOf); msg != "" {
				t.Fatalf("#%d %s\n events %s\n match %s: %s", it, n, renderEvents(evs, keys), render(m, true, true), msg)
			}
			if p.AfterMatch.Kind == SkipPastLast && !m.TimedOut {
				if prev, ok := lastByKey[m.Key]; ok && len(prev.Events) > 0 && len(m.Events) > 0 &&
					!before(prev.Events[len(prev.Events)-1].Event, m.Events[0].Event) {
					t.Fatalf("#%d %s: skip_past_last emitted overlapping matches %s and %s", it, n, render(prev, true, true), render(m, true, true))
				}
				lastByKey[m.Key] = m
			}
		}
	}
	if compiled < iterations/4 {
		t.Errorf("only %d of %d random patterns compiled", compiled, iterations)
	}
}

func sameMatch(a, b Match) bool {
	return a.Key == b.Key && a.Time == b.Time && a.TimedOut == b.TimedOut &&
		slices.EqualFunc(a.Events, b.Events, func(x, y Evidence) bool { return x.Step == y.Step && x.Event == y.Event })
}

func renderAll(ms []Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Key+" "+render(m, true, true))
	}
	return out
}

func renderEvents(evs []*event.Event, keys []string) string {
	var out []string
	for i, ev := range evs {
		out = append(out, fmt.Sprintf("%s/%s%%%s@%d", keys[i], ev.ID, ev.Stream, ev.Time))
	}
	return fmt.Sprint(out)
}

// checkMatch returns what is wrong with m, or "".
func checkMatch(p Pattern, m Match, keyOf map[*event.Event]string) string {
	if len(m.Events) == 0 {
		return "no events"
	}
	counts := make([]int, len(p.Steps))
	prev := -1
	for i, e := range m.Events {
		s := p.Steps[e.Step]
		switch {
		case e.Step < prev:
			return "steps out of order"
		case s.Not:
			return "a not step holds an event"
		case e.Name != s.Name:
			return "evidence names the wrong step"
		case keyOf[e.Event] != m.Key:
			return "an event of another key"
		case s.Stream != "" && e.Event.Stream != s.Stream:
			return "an event of another stream"
		case !s.Where(e.Event, View{}):
			return "an event the step's guard rejects"
		case i > 0 && !before(m.Events[i-1].Event, e.Event):
			return "events out of order"
		}
		prev = e.Step
		counts[e.Step]++
	}
	first, last := m.Events[0].Event.Time, m.Events[len(m.Events)-1].Event.Time
	if m.Time < last {
		return "match time before its last event"
	}
	for i, s := range p.Steps {
		q := s.Times.norm()
		if s.Not {
			continue
		}
		if q.Max != Unbounded && counts[i] > q.Max {
			return fmt.Sprintf("step %s took %d events, more than %d", s.Name, counts[i], q.Max)
		}
		if m.TimedOut {
			continue
		}
		if counts[i] == 0 && !q.Optional {
			return fmt.Sprintf("mandatory step %s took nothing", s.Name)
		}
		if counts[i] > 0 && counts[i] < q.Min {
			return fmt.Sprintf("step %s took %d events, fewer than %d", s.Name, counts[i], q.Min)
		}
	}
	w := int64(p.Within)
	switch {
	case w == 0:
	case p.WithinType == FirstAndLast && !m.TimedOut && last-first >= w:
		return "span reaches within"
	case p.WithinType == FirstAndLast && m.Time-first > w:
		return "completed after within"
	case p.WithinType == PreviousAndCurrent:
		for i := 1; i < len(m.Events); i++ {
			if m.Events[i].Event.Time-m.Events[i-1].Event.Time >= w {
				return "a gap reaches within"
			}
		}
	}
	return ""
}

// FuzzProcess feeds fuzzed patterns and events: nothing may panic.
func FuzzProcess(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(7), uint64(99))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		r := rand.New(rand.NewPCG(a, b))
		n, err := Compile(randomPattern(r))
		if err != nil {
			return
		}
		evs := randomEvents(r)
		keys := make([]string, len(evs))
		for i := range keys {
			keys[i] = fmt.Sprintf("k%d", r.IntN(2))
		}
		runKeyed(t, n, evs, keys, r.IntN(len(evs)+1))
	})
}
