package nfa

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// feed runs evs through m, key by key as given, advancing time before each
// event, and returns the rendered matches.
func feed(tb testing.TB, m *Matcher, keys []string, evs []*event.Event, end int64) []string {
	tb.Helper()
	var out []string
	emit := func(x Match) { out = append(out, x.Key+": "+render(x, true, false)) }
	for i, ev := range evs {
		if err := m.Advance(ev.Time, emit); err != nil {
			tb.Fatal(err)
		}
		if err := m.Process(keys[i%len(keys)], ev, emit); err != nil {
			tb.Fatal(err)
		}
	}
	if err := m.Advance(end, emit); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestKeysAreIndependent(t *testing.T) {
	n := mustCompile(t, seq(st("a", is("a")), st("b", is("b"), nextC)))
	m := NewMatcher(n, Options{})
	got := feed(t, m, []string{"k1", "k2"}, events(t, "a1 a2 b1 x b2"), math.MaxInt64)
	// k1 sees a1 b1 b2, k2 sees a2 x: only k1 matches.
	want := []string{"k1: a1 b1 @3"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNoStateLeftBehind(t *testing.T) {
	store := NewMemoryStore()
	n := mustCompile(t, Pattern{Steps: []Step{st("a", is("a")), st("b", is("b")), st("c", is("c"))}, Within: 100})
	m := NewMatcher(n, Options{Store: store})
	var evs []*event.Event
	var keys []string
	for i := range 10000 {
		evs = append(evs, &event.Event{ID: fmt.Sprint(i), Time: int64(i), Seq: uint64(i + 1),
			Fields: []event.Field{{Key: "name", Value: event.StringValue(string(rune('a' + i%3)))}}})
		keys = append(keys, fmt.Sprintf("key-%d", i/2))
	}
	var matches int
	emit := func(Match) { matches++ }
	for i, ev := range evs {
		if err := m.Advance(ev.Time, emit); err != nil {
			t.Fatal(err)
		}
		if err := m.Process(keys[i], ev, emit); err != nil {
			t.Fatal(err)
		}
	}
	if s := m.Stats(); s.Keys == 0 || s.Partials == 0 {
		t.Fatalf("expected live state before the end, got %+v", s)
	}
	if err := m.Advance(math.MaxInt64, emit); err != nil {
		t.Fatal(err)
	}
	s := m.Stats()
	if s.Keys != 0 || s.Partials != 0 || s.Nodes != 0 || s.Held != 0 || s.Bytes != 0 {
		t.Errorf("state left after every window closed: %+v", s)
	}
	if store.Len() != 0 || store.q.Len() != 0 {
		t.Errorf("store keeps %d keys and %d timers", store.Len(), store.q.Len())
	}
	if s.Expired == 0 {
		t.Errorf("nothing expired: %+v", s)
	}
}

func TestLimits(t *testing.T) {
	p := seq(st("a", is("a")), st("b", is("b"))).within(1000)
	cases := []struct {
		name     string
		opts     Options
		keys     []string
		in       string
		want     []string
		perKey   uint64
		total    uint64
		partials int
	}{
		{name: "per key drop oldest", opts: Options{MaxPartialsPerKey: 2}, keys: []string{"k"}, in: "a1 a2 a3 b1",
			want: []string{"k: a2 b1 @4", "k: a3 b1 @4"}, perKey: 1},
		{name: "per key drop newest", opts: Options{MaxPartialsPerKey: 2, Overflow: DropNewest}, keys: []string{"k"}, in: "a1 a2 a3 b1",
			want: []string{"k: a1 b1 @4", "k: a2 b1 @4"}, perKey: 1},
		{name: "total drop oldest", opts: Options{MaxPartials: 2}, keys: []string{"k1", "k2", "k3", "k1", "k2", "k3"}, in: "a1 a2 a3 b1 b2 b3",
			want: []string{"k2: a2 b2 @5", "k3: a3 b3 @6"}, total: 1},
		{name: "total drop newest", opts: Options{MaxPartials: 2, Overflow: DropNewest}, keys: []string{"k1", "k2", "k3", "k1", "k2", "k3"}, in: "a1 a2 a3 b1 b2 b3",
			want: []string{"k1: a1 b1 @4", "k2: a2 b2 @5"}, total: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := mustCompile(t, p)
			m := NewMatcher(n, c.opts)
			got := feed(t, m, c.keys, events(t, c.in), math.MaxInt64)
			if !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
			s := m.Stats()
			if s.DroppedPerKey != c.perKey || s.DroppedTotal != c.total {
				t.Errorf("dropped per key %d total %d, want %d and %d", s.DroppedPerKey, s.DroppedTotal, c.perKey, c.total)
			}
			if s.Partials != 0 || s.Nodes != 0 || s.Keys != 0 {
				t.Errorf("state left: %+v", s)
			}
		})
	}
}

func TestObserverExplains(t *testing.T) {
	cases := []struct {
		name string
		p    Pattern
		in   string
		want []string
	}{
		{"created and completed", seq(st("a", is("a")), st("b", is("b"))), "a1 b1",
			[]string{"created 1 step a", "extended 2<1 step b", "completed 2"}},
		{"within", seq(st("a", is("a")), st("b", is("b"))).within(5), "a1@0 x@9",
			[]string{"created 1 step a", "expired 1: within 5ns exceeded"}},
		{"strict", seq(st("a", is("a")), st("b", is("b"), nextC)), "a1 x7",
			[]string{"created 1 step a", `discarded 1: strict contiguity broken by event x7 (step "b")`}},
		{"not step", seq(st("a", is("a")), st("x", is("x"), not), st("b", is("b"))), "a1 x1",
			[]string{"created 1 step a", `discarded 1: not step "x" matched event x1`}},
		{"skip", seq(st("a", is("a")), st("b", is("b"))).skip(skipPastLast), "a1 a2 b1",
			[]string{"created 1 step a", "created 2 step a", "extended 3<1 step b", "extended 4<2 step b", "completed 3", "discarded 4: skip_past_last after match 3"}},
		{"until", seq(st("a", is("a")), st("b", is("b"))).untilEvent("u"), "a1 u1",
			[]string{"created 1 step a", "discarded 1: until condition met by event u1"}},
		{"loop until", seq(st("a", is("a"), oneOrMore, until(is("u")))), "a1 u1",
			[]string{"created 1 step a", "completed 2", `discarded 1: until condition of step "a" met by event u1`}},
		{"held", seq(st("a", is("a")), st("c", is("c")), st("b", sameFirstPrice)).skip(skipPastLast), "a1$0 c1 a2$1 c2 b1$1",
			[]string{"held 5: waits for partial match 2"}},
		{"timed out", seq(st("a", is("a")), st("b", is("b"))).within(5).timeouts(), "a1@0 x@9",
			[]string{"created 1 step a", "timed out 1: within 5ns exceeded"}},
		{"forked", seq(st("a", is("a")), st("o", is("o"), optional), st("b", is("b"))), "a1 x1",
			[]string{"created 1 step a", "forked 2<1"}},
		{"per-key limit", seq(st("a", is("a")), st("b", is("b"))), "a1 a2",
			[]string{"dropped 1: per-key limit of 1 partial matches"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var notes []string
			obs := ObserverFunc(func(n Note) {
				s := fmt.Sprintf("%s %d", n.Kind, n.Partial)
				if n.Parent != 0 {
					s += fmt.Sprintf("<%d", n.Parent)
				}
				if n.Step != "" {
					s += " step " + n.Step
				}
				if n.Reason != "" {
					s += ": " + n.Reason
				}
				if (n.Kind == Completed || n.Kind == TimedOut) && n.Match == nil {
					s += " without match"
				}
				notes = append(notes, s)
			})
			m := NewMatcher(mustCompile(t, c.p), Options{Observer: obs, MaxPartialsPerKey: map[bool]int{true: 1}[c.name == "per-key limit"]})
			feed(t, m, []string{"k"}, events(t, c.in), math.MaxInt64)
			all := strings.Join(notes, "\n")
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("notes lack %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestViewSeesEarlierSteps(t *testing.T) {
	var seen []string
	record := func(ev *event.Event, v View) bool {
		if nameOf(ev) != "c" {
			return false
		}
		var ids []string
		for _, e := range v.Named("b") {
			ids = append(ids, e.ID)
		}
		seen = append(seen, fmt.Sprintf("%d %s %s", v.Len(), v.Step(0)[0].ID, strings.Join(ids, ",")))
		return len(v.Named("b")) == 2 && v.Named("nope") == nil && v.Step(9) == nil
	}
	p := seq(st("a", is("a")), st("b", is("b"), oneOrMore), st("c", record))
	got := run(t, p, events(t, "a1 b1 b2 c1"))
	if len(got) != 1 || render(got[0], false, true) != "a:a1 b:b1 b:b2 c:c1" {
		t.Errorf("matches %v", got)
	}
	if !slices.Contains(seen, "3 a1 b1,b2") || !slices.Contains(seen, "2 a1 b1") {
		t.Errorf("guard saw %q", seen)
	}
	var zero View
	if zero.Len() != 0 || zero.Step(0) != nil || zero.Named("a") != nil {
		t.Error("a zero View is not empty")
	}
}

func TestGuardRunsOncePerPartialAndEvent(t *testing.T) {
	calls := 0
	counting := func(ev *event.Event, _ View) bool { calls++; return nameOf(ev) == "b" }
	// The greedy loop tests b on its take, ignore and greedy-restricted
	// proceed transitions; the guard must still run once.
	p := seq(st("a", is("a")), st("b", counting, oneOrMore, greedy), st("c", is("c")))
	run(t, p, events(t, "a1 b1 b2"))
	if calls != 2 {
		t.Errorf("guard ran %d times for one partial match and two b events, want 2", calls)
	}
}

// TestViewFreeGuardRunsOncePerEvent: a guard that reads only the event is
// asked once an event, however many partial matches wait at its step and
// whether or not they are parked.
func TestViewFreeGuardRunsOncePerEvent(t *testing.T) {
	for _, within := range []time.Duration{0, time.Hour} {
		calls := map[string]int{}
		counted := func(step, name string) Guard {
			return func(ev *event.Event, _ View) bool { calls[step+" "+ev.ID]++; return nameOf(ev) == name }
		}
		p := Pattern{Steps: []Step{
			{Name: "a", Where: counted("a", "a"), ViewFree: true},
			{Name: "b", Where: counted("b", "b"), ViewFree: true},
			{Name: "c", Where: counted("c", "c"), ViewFree: true},
		}, Within: within}
		got := run(t, p, events(t, "a1 a2 a3 x1 b1 b2 c1"))
		if len(got) != 1 || render(got[0], false, true) != "a:a1 b:b1 c:c1" {
			t.Errorf("within %v: matches %v", within, got)
		}
		for k, n := range calls {
			if n != 1 {
				t.Errorf("within %v: guard of step %s ran %d times for its event, want once", within, k, n)
			}
		}
	}
}

func TestMatchStep(t *testing.T) {
	got := run(t, seq(st("a", is("a")), st("b", is("b"), times(Times(2)))), events(t, "a1 b1 b2"))
	if len(got) != 1 {
		t.Fatalf("matches %v", got)
	}
	if ids := got[0].Step("b"); len(ids) != 2 || ids[1].ID != "b2" {
		t.Errorf("Step(b) = %v", ids)
	}
}

func TestAdvanceOrdersKeysByDeadline(t *testing.T) {
	p := seq(st("a", is("a")), st("x", is("x"), not, forD(10)))
	m := NewMatcher(mustCompile(t, p), Options{})
	got := feed(t, m, []string{"k3", "k1", "k2", "k0"}, events(t, "a1@5 a2@1 a3@3 a4@3"), math.MaxInt64)
	want := []string{"k1: a2 @11", "k0: a4 @13", "k2: a3 @13", "k3: a1 @15"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStatsBytesGrowWithState(t *testing.T) {
	m := NewMatcher(mustCompile(t, seq(st("a", is("a")), st("b", is("b"))).within(time.Hour)), Options{})
	feed(t, m, []string{"k1", "k2"}, events(t, "a1 a2 a3"), 0)
	s := m.Stats()
	if s.Keys != 2 || s.Partials != 3 || s.Nodes != 3 || s.Bytes <= 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestProcessDecided: verdicts decided ahead stand in for the guards of
// view-free steps, which are not asked again, and are ignored for a step
// whose guard reads the partial match.
func TestProcessDecided(t *testing.T) {
	calls := 0
	counted := func(name string) Guard {
		return func(ev *event.Event, _ View) bool { calls++; return nameOf(ev) == name }
	}
	for _, viewFree := range []bool{true, false} {
		calls = 0
		n, err := Compile(Pattern{Steps: []Step{
			{Name: "a", Where: counted("a"), ViewFree: true},
			{Name: "b", Where: counted("b"), ViewFree: viewFree},
		}})
		if err != nil {
			t.Fatal(err)
		}
		m := NewMatcher(n, Options{})
		var got []Match
		emit := func(x Match) { got = append(got, x) }
		// a1 is decided to be an a; x1 to be a b, which only a view-free
		// step takes on trust.
		var a, b Decided
		a = a.With(0, true).With(1, false)
		b = b.With(0, false).With(1, true)
		for i, d := range []Decided{a, b} {
			ev := events(t, "a1 x1")[i]
			if err := m.ProcessDecided([]byte("k"), ev, d, emit); err != nil {
				t.Fatal(err)
			}
		}
		switch {
		case viewFree && (len(got) != 1 || calls != 0):
			t.Errorf("view-free: %d matches and %d guard calls, want 1 and none", len(got), calls)
		case !viewFree && (len(got) != 0 || calls != 1):
			t.Errorf("reading the view: %d matches and %d guard calls, want none and 1 (b's guard on x1)", len(got), calls)
		}
	}
}

// TestUntaken: an event whose verdicts refute every step may be left out
// only where no step notices an event it does not take.
func TestUntaken(t *testing.T) {
	where := func(ev *event.Event, _ View) bool { return true }
	var none, some Decided
	none = none.With(0, false).With(1, false)
	some = some.With(0, false) // the second step left to the matcher
	for _, tc := range []struct {
		name  string
		p     Pattern
		blind bool
	}{
		{"relaxed", Pattern{Steps: []Step{{Name: "a", Where: where}, {Name: "b", Where: where}}}, true},
		{"any", Pattern{Steps: []Step{{Name: "a", Where: where}, {Name: "b", Where: where, Contiguity: Any}}}, true},
		{"strict on the first step, which ignores it", Pattern{Steps: []Step{{Name: "a", Where: where, Contiguity: Strict}, {Name: "b", Where: where}}}, true},
		{"not followed by", Pattern{Steps: []Step{{Name: "a", Where: where}, {Name: "n", Where: where, Not: true}, {Name: "b", Where: where}}}, true},
		{"next", Pattern{Steps: []Step{{Name: "a", Where: where}, {Name: "b", Where: where, Contiguity: Strict}}}, false},
		{"not next", Pattern{Steps: []Step{{Name: "a", Where: where}, {Name: "n", Where: where, Not: true, Contiguity: Strict}, {Name: "b", Where: where}}}, false},
		{"consecutive", Pattern{Steps: []Step{{Name: "a", Where: where, Times: Quantifier{Min: 2, Max: 2}, Loop: Consecutive}, {Name: "b", Where: where}}}, false},
		{"a step's until", Pattern{Steps: []Step{{Name: "a", Where: where, Times: Quantifier{Min: 1, Max: Unbounded}, Until: where}, {Name: "b", Where: where}}}, false},
		{"the pattern's until", Pattern{Steps: []Step{{Name: "a", Where: where}, {Name: "b", Where: where}}, Until: func(*event.Event) bool { return false }}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Compile(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			refuted := none
			for i := 2; i < len(tc.p.Steps); i++ {
				refuted = refuted.With(i, false)
			}
			if got := n.Untaken(refuted); got != tc.blind {
				t.Errorf("every step refuted: Untaken %v, want %v", got, tc.blind)
			}
			if n.Untaken(some) {
				t.Error("a step not refuted: Untaken")
			}
		})
	}
}

// TestStarts: only a verdict that the first step, view-free, takes the
// event says it starts a partial match.
func TestStarts(t *testing.T) {
	where := func(ev *event.Event, _ View) bool { return true }
	var takes, refuted, second Decided
	takes, refuted, second = takes.With(0, true), refuted.With(0, false), second.With(1, true)
	for _, tc := range []struct {
		name string
		p    Pattern
		d    Decided
		want bool
	}{
		{"taken", Pattern{Steps: []Step{{Name: "a", Where: where, ViewFree: true}, {Name: "b", Where: where}}}, takes, true},
		{"refuted", Pattern{Steps: []Step{{Name: "a", Where: where, ViewFree: true}, {Name: "b", Where: where}}}, refuted, false},
		{"left to the matcher", Pattern{Steps: []Step{{Name: "a", Where: where, ViewFree: true}, {Name: "b", Where: where}}}, 0, false},
		{"taken by the second step", Pattern{Steps: []Step{{Name: "a", Where: where, ViewFree: true}, {Name: "b", Where: where, ViewFree: true}}}, second, false},
		{"first step not view-free", Pattern{Steps: []Step{{Name: "a", Where: where}, {Name: "b", Where: where}}}, takes, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Compile(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := n.Starts(tc.d); got != tc.want {
				t.Errorf("Starts = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestProcessBytesKeepsNoBuffer feeds keys in one buffer that is
// overwritten after each event, as the engine's is: a key with no state is
// read in place, so what lasts (a new state, a match, also one completed
// by the event that started it) must keep its own copy.
func TestProcessBytesKeepsNoBuffer(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Pattern
		feed string // key:event pairs
		want []string
	}{
		{"new state", Pattern{Steps: []Step{st("a", is("a")), st("b", is("b"))}, Within: 100},
			"k1:a1 k2:b2 k3:b3 k1:b4 k2:a5 k4:c6 k2:b7", []string{"k1 a:a1 b:b4", "k2 a:a5 b:b7"}},
		{"match on the first event", Pattern{Steps: []Step{st("a", is("a"))}},
			"k1:a1 k2:b2 k3:a3", []string{"k1 a:a1", "k3 a:a3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := NewMatcher(mustCompile(t, c.p), Options{})
			var got []string
			var matches []Match
			emit := func(mt Match) { matches = append(matches, mt) }
			buf := make([]byte, 0, 8)
			for i, pair := range strings.Fields(c.feed) {
				key, id, _ := strings.Cut(pair, ":")
				ev := events(t, id)[0]
				ev.Time, ev.Seq = int64(i+1), uint64(i+1)
				buf = append(buf[:0], key...)
				if err := m.ProcessBytes(buf, ev, emit); err != nil {
					t.Fatal(err)
				}
				copy(buf[:cap(buf)], "XXXXXXXX")
			}
			for _, mt := range matches {
				got = append(got, mt.Key+" "+render(mt, false, true))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("matches %q, want %q", got, c.want)
			}
			if err := m.Advance(1000, emit); err != nil {
				t.Fatal(err)
			}
			if n := m.Stats().Keys; n != 0 {
				t.Errorf("%d keys left after the window, want 0", n)
			}
		})
	}
}
