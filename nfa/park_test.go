package nfa

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// parkRun is what a run produced: its matches, the explain notes, and the
// final counters.
type parkRun struct {
	out   []string
	notes []string
	stats Stats
	// maxParked is the most partial matches parked at once.
	maxParked int
}

// runParking feeds evs under keys to a matcher of n with opts, moving every
// key through the serialised form at event cut (if in range). park sets
// whether partial matches are parked, and parks them from the first
// partial match on, so that small inputs exercise it.
func runParking(tb testing.TB, n *NFA, opts Options, evs []*event.Event, keys []string, cut int, park bool) parkRun {
	tb.Helper()
	var res parkRun
	opts.Observer = ObserverFunc(func(x Note) {
		id := ""
		if x.Event != nil {
			id = x.Event.ID
		}
		res.notes = append(res.notes, fmt.Sprintf("%v key=%s ev=%s t=%d p=%d parent=%d step=%s reason=%s", x.Kind, x.Key, id, x.Time, x.Partial, x.Parent, x.Step, x.Reason))
	})
	newMatcher := func() (*Matcher, *MemoryStore) {
		s := NewMemoryStore()
		o := opts
		o.Store = s
		m := NewMatcher(n, o)
		m.parking = park && n.canPark
		m.parkAt = 1
		return m, s
	}
	m, store := newMatcher()
	emit := func(x Match) { res.out = append(res.out, x.Key+" "+render(x, true, true)) }
	for i, ev := range evs {
		if i == cut {
			next, nextStore := newMatcher()
			for _, b := range snapshot(tb, store) {
				if err := next.Restore(b); err != nil {
					tb.Fatal(err)
				}
			}
			m, store = next, nextStore
		}
		if err := m.Advance(ev.Time, emit); err != nil {
			tb.Fatal(err)
		}
		if err := m.Process(keys[i], ev, emit); err != nil {
			tb.Fatal(err)
		}
		s := m.Stats()
		if s.Parked < 0 || s.Parked > s.Partials {
			tb.Fatalf("parked %d of %d partial matches", s.Parked, s.Partials)
		}
		res.maxParked = max(res.maxParked, s.Parked)
	}
	if err := m.Advance(math.MaxInt64, emit); err != nil {
		tb.Fatal(err)
	}
	res.stats = m.Stats()
	res.stats.Parked, res.stats.Bytes = 0, 0
	return res
}

// burstyEvents draws a longer input than randomEvents, on one or two keys,
// so that keys hold many partial matches at once.
func burstyEvents(r *rand.Rand) ([]*event.Event, []string) {
	names := []string{"a", "a", "a", "b", "b", "c", "d", "x"}
	nkeys := 1 + r.IntN(2)
	var evs []*event.Event
	var keys []string
	t := int64(0)
	for i := range 40 + r.IntN(120) {
		t += int64(r.IntN(3))
		name := names[r.IntN(len(names))]
		st := "s"
		if r.IntN(6) == 0 {
			st = "t"
		}
		evs = append(evs, &event.Event{Stream: st, ID: fmt.Sprintf("%s%d", name, i), Time: t, Seq: uint64(i + 1),
			Fields: []event.Field{{Key: "name", Value: event.StringValue(name)}, {Key: "price", Value: event.NumberValue(r.Float64())}}})
		keys = append(keys, fmt.Sprintf("k%d", r.IntN(nkeys)))
	}
	// The engine feeds events merged in event.Before order (a stream
	// breaks ties in time), which is the start order partial matches keep.
	idx := make([]int, len(evs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case evs[a].Before(evs[b]):
			return -1
		case evs[b].Before(evs[a]):
			return 1
		}
		return 0
	})
	sorted, sortedKeys := make([]*event.Event, len(evs)), make([]string, len(evs))
	for i, j := range idx {
		sorted[i], sortedKeys[i] = evs[j], keys[j]
	}
	return sorted, sortedKeys
}

// TestParkingChangesNothing holds parking to its promise: with every step
// ViewFree, random patterns over random bursts give the same matches in the
// same order, the same explain notes and the same counters as the matcher
// that offers each event to each partial match, under limits and across a
// snapshot.
func TestParkingChangesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	iterations := parkIterations()
	parkedOne, parkedSome := 0, 0
	for it := range iterations {
		p := parkablePattern(r)
		n, err := Compile(p)
		if err != nil || !n.canPark {
			continue
		}
		evs, keys := burstyEvents(r)
		if r.IntN(4) == 0 {
			delaySome(r, evs, keys)
		}
		if r.IntN(4) == 0 {
			tieSome(r, evs)
		}
		maxParked := checkParking(t, it, n, r, evs, keys)
		if maxParked >= 1 {
			parkedOne++
		}
		if maxParked >= 5 {
			parkedSome++
		}
	}
	if parkedOne < iterations/4 || parkedSome < iterations/20 {
		t.Errorf("of %d runs only %d parked a partial match and %d parked five at once", iterations, parkedOne, parkedSome)
	}
}

// checkParking runs n over evs with and without parking, under limits
// drawn from r and across a snapshot, fails t where the matches, the
// notes or the counters differ, and returns the most partial matches
// parked at once.
func checkParking(t *testing.T, it int, n *NFA, r *rand.Rand, evs []*event.Event, keys []string) int {
	t.Helper()
	opts := Options{
		MaxPartialsPerKey: []int{0, 3, 10, 40}[r.IntN(4)],
		MaxPartials:       []int{0, 0, 20, 60}[r.IntN(4)],
		Overflow:          Overflow(r.IntN(2)),
	}
	cut := -1
	if r.IntN(2) == 0 {
		cut = r.IntN(len(evs))
	}
	plain := runParking(t, n, opts, evs, keys, cut, false)
	parked := runParking(t, n, opts, evs, keys, cut, true)
	if !slices.Equal(plain.out, parked.out) {
		t.Fatalf("#%d %s %+v: matches differ\n events %s\n got  %q\n want %q", it, n, opts, renderEvents(evs, keys), parked.out, plain.out)
	}
	if i := firstDiff(plain.notes, parked.notes); i >= 0 {
		t.Fatalf("#%d %s %+v: notes differ at %d\n events %s\n got  %s\n want %s", it, n, opts, i, renderEvents(evs, keys), at(parked.notes, i), at(plain.notes, i))
	}
	if plain.stats != parked.stats {
		t.Fatalf("#%d %s: stats differ\n got  %+v\n want %+v", it, n, parked.stats, plain.stats)
	}
	return parked.maxParked
}

// parkIterations is how many random patterns a parking test draws.
func parkIterations() int {
	if testing.Short() {
		return 300
	}
	return 1500
}

// parkablePattern draws a random pattern whose steps are ViewFree.
// Longer inputs need longer windows to keep many partial matches, and
// skip strategies prune most of them: it draws both to let keys hold
// many.
func parkablePattern(r *rand.Rand) Pattern {
	p := randomPattern(r)
	for i := range p.Steps {
		p.Steps[i].ViewFree = true
	}
	if p.Within > 0 && r.IntN(2) == 0 {
		p.Within *= 10
	}
	if r.IntN(2) == 0 {
		p.AfterMatch = SkipStrategy{Kind: NoSkip}
	}
	return p
}

func firstDiff(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if at(a, i) != at(b, i) {
			return i
		}
	}
	return -1
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(none)"
}

// TestConformanceParked runs the conformance table again with ViewFree set
// on every step whose guards never read their View, parking from the first
// partial match on: the expected matches are the same.
func TestConformanceParked(t *testing.T) {
	for _, c := range conformance {
		t.Run(c.name, func(t *testing.T) {
			evs := events(t, c.in)
			p := c.p
			p.Steps = slices.Clone(p.Steps)
			for i := range p.Steps {
				p.Steps[i].ViewFree = !readsView(mustCompile(t, c.p), p.Steps[i], evs)
			}
			n := mustCompile(t, p)
			m := NewMatcher(n, Options{})
			m.parkAt = 1
			var gs []string
			withSteps := len(c.want) > 0 && strings.Contains(c.want[0], ":")
			emit := func(x Match) { gs = append(gs, render(x, c.withTime, withSteps)) }
			for _, ev := range evs {
				if err := m.Advance(ev.Time, emit); err != nil {
					t.Fatal(err)
				}
				if err := m.Process("k", ev, emit); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.Advance(math.MaxInt64, emit); err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(c.want)
			if !c.ordered {
				slices.Sort(gs)
				slices.Sort(want)
			}
			if !slices.Equal(gs, want) {
				t.Errorf("pattern %s\n input %s\n got  %q\n want %q", n, c.in, gs, want)
			}
		})
	}
}

// readsView reports whether a step's guards look at their View for any of
// evs: a View whose evidence they read is built.
func readsView(n *NFA, s Step, evs []*event.Event) bool {
	for _, ev := range evs {
		for _, g := range []Guard{s.Where, s.Until} {
			if g == nil {
				continue
			}
			c := newCursor(n, nil)
			g(ev, View{c})
			if c.built {
				return true
			}
		}
	}
	return false
}

// TestBurstIsLinear counts guard calls on a burst of failures on one key:
// with ViewFree steps, an event costs a few calls however many partial
// matches the key holds; without, one per partial match.
func TestBurstIsLinear(t *testing.T) {
	const failures = 5000
	for _, free := range []bool{false, true} {
		t.Run(fmt.Sprintf("view_free=%v", free), func(t *testing.T) {
			calls := 0
			counted := func(name string) Guard {
				return func(ev *event.Event, _ View) bool { calls++; return nameOf(ev) == name }
			}
			p := Pattern{Steps: []Step{
				{Name: "fail", Where: counted("f"), Times: Times(5), ViewFree: free},
				{Name: "ok", Where: counted("s"), ViewFree: free},
			}, Within: time.Hour}
			var in strings.Builder
			for i := range failures {
				fmt.Fprintf(&in, "f%d ", i+1)
			}
			in.WriteString("s1")
			got := run(t, p, events(t, in.String()))
			if len(got) != 1 {
				t.Fatalf("%d matches, want 1", len(got))
			}
			perEvent := float64(calls) / (failures + 1)
			if free && perEvent > 20 {
				t.Errorf("%.0f guard calls per event on a burst, want a few whatever the partial matches", perEvent)
			}
			if !free && perEvent < 500 {
				t.Errorf("%.0f guard calls per event: guards that read their View must be asked per partial match", perEvent)
			}
		})
	}
}

// TestCappedBurstEvidence pins which evidence a key at its limit reports:
// with drop_oldest the key keeps its newest partial matches, so the match
// shows the oldest of those, MaxPartialsPerKey failures before the
// success; with drop_newest it keeps the oldest, and the match shows the
// burst's first failures.
func TestCappedBurstEvidence(t *testing.T) {
	var in strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&in, "f%d ", i+1)
	}
	in.WriteString("s1")
	evs := events(t, in.String())
	cases := []struct {
		overflow Overflow
		want     string
	}{
		{DropOldest, "k: f1901 f1902 f1903 f1904 f1905 s1 @2001"},
		{DropNewest, "k: f1 f2 f3 f4 f5 s1 @2001"},
	}
	for _, c := range cases {
		for _, free := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/view_free=%v", c.overflow, free), func(t *testing.T) {
				p := Pattern{Steps: []Step{
					{Name: "fail", Where: is("f"), Times: Times(5), ViewFree: free},
					{Name: "ok", Where: is("s"), ViewFree: free},
				}, Within: time.Hour}
				m := NewMatcher(mustCompile(t, p), Options{MaxPartialsPerKey: 100, Overflow: c.overflow})
				got := feed(t, m, []string{"k"}, evs, math.MaxInt64)
				if !slices.Equal(got, []string{c.want}) {
					t.Errorf("got %q, want %q", got, c.want)
				}
				if s := m.Stats(); s.DroppedPerKey != 2000-100 {
					t.Errorf("dropped %d partial matches, want %d", s.DroppedPerKey, 2000-100)
				}
			})
		}
	}
}

// FuzzParking runs the differential check of TestParkingChangesNothing on
// fuzzed seeds.
func FuzzParking(f *testing.F) {
	f.Add(uint64(3), uint64(4))
	f.Add(uint64(11), uint64(0))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		r := rand.New(rand.NewPCG(a, b))
		p := randomPattern(r)
		for i := range p.Steps {
			p.Steps[i].ViewFree = true
		}
		if len(p.Steps) > 1 && r.IntN(2) == 0 {
			i := 1 + r.IntN(len(p.Steps)-1)
			if j := r.IntN(i); !p.Steps[j].Not {
				keyedOn(&p, i, j, []string{"g", "h"}[:1+r.IntN(2)], "a", "b")
			}
		}
		n, err := Compile(p)
		if err != nil || !n.canPark {
			return
		}
		evs, keys := burstyEvents(r)
		withGroups(r, evs)
		if r.IntN(3) == 0 {
			delaySome(r, evs, keys)
		}
		if r.IntN(4) == 0 {
			tieSome(r, evs)
		}
		opts := Options{MaxPartialsPerKey: 1 + r.IntN(40), MaxPartials: r.IntN(60), Overflow: Overflow(r.IntN(2))}
		cut := r.IntN(len(evs) + 1)
		plain := runParking(t, n, opts, evs, keys, cut, false)
		parked := runParking(t, n, opts, evs, keys, cut, true)
		if !slices.Equal(plain.out, parked.out) || firstDiff(plain.notes, parked.notes) >= 0 || plain.stats != parked.stats {
			t.Fatalf("%s %+v: parking changed the results", n, opts)
		}
	})
}
