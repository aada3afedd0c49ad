package nfa

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cep-project/cep/event"
)

// fieldOf is the value of an event's field f ("g" or "h"), which keyed
// wheres compare.
func fieldOf(ev *event.Event, f string) (event.Value, bool) {
	v, ok := ev.Get(f)
	return v, ok && (v.Kind() == event.String || v.Kind() == event.Number)
}

// appendGroup appends the key of g, its length first, and false for a
// number, which has none: a number equals the string of its text
// (sameGroup), so only strings' bytes are keys.
func appendGroup(dst []byte, g event.Value) ([]byte, bool) {
	if g.Kind() != event.String {
		return dst, false
	}
	return append(append(dst, byte(len(g.Str()))), g.Str()...), true
}

// sameGroup is the equality of a keyed where, lenient about numbers: 1
// equals "1".
func sameGroup(a, b event.Value) bool {
	return a.Text() == b.Text()
}

// keyedOn turns step i of p into `is(names) && event.g == steps[j][0].g`
// with its Key; with fields "g", "h", into `… && event.h == steps[j][0].h`
// too, a key of two parts.
func keyedOn(p *Pattern, i, j int, fields []string, names ...string) {
	name := is(names...)
	earlier := func(v View, f string) (event.Value, bool) {
		evs := v.Step(j)
		if len(evs) == 0 {
			return event.Value{}, false
		}
		return fieldOf(evs[0], f)
	}
	s := &p.Steps[i]
	s.ViewFree = false
	s.Where = func(ev *event.Event, v View) bool {
		if !name(ev, v) {
			return false
		}
		for _, f := range fields {
			a, ok := fieldOf(ev, f)
			b, ok2 := earlier(v, f)
			if !ok || !ok2 || !sameGroup(a, b) {
				return false
			}
		}
		return true
	}
	s.Key = &StepKey{
		Event: func(dst []byte, ev *event.Event) ([]byte, KeyVerdict) {
			for k, f := range fields {
				g, ok := fieldOf(ev, f)
				if ok {
					dst, ok = appendGroup(dst, g)
				}
				switch {
				case ok:
				case k > 0:
					// Only the first part: partial matches of another
					// g fail its equality.
					return dst, FirstPart
				case !ok && !fieldPresent(ev, f):
					// The where asks for a g.
					return dst, MatchesNone
				default:
					return dst, NoKey
				}
			}
			return dst, HasKey
		},
		View: func(dst []byte, v View) ([]byte, int, bool) {
			start, first := len(dst), 0
			for k, f := range fields {
				g, ok := earlier(v, f)
				if ok {
					dst, ok = appendGroup(dst, g)
				}
				if !ok {
					return dst, 0, false
				}
				if k == 0 {
					first = len(dst) - start
				}
			}
			return dst, first, true
		},
	}
}

// fieldPresent reports whether ev has field f as a string or a number.
func fieldPresent(ev *event.Event, f string) bool {
	_, ok := fieldOf(ev, f)
	return ok
}

// withGroups gives each event a "g" and an "h" field drawn from r:
// mostly one of a few strings, sometimes a number, a number as a string,
// or none.
func withGroups(r *rand.Rand, evs []*event.Event) {
	for _, ev := range evs {
		for _, f := range []string{"g", "h"} {
			var v event.Value
			switch x := r.IntN(12); {
			case x < 8:
				v = event.StringValue([]string{"p", "q", "r", "pq"}[x%4])
			case x < 10:
				v = event.NumberValue(float64(x - 8))
			case x < 11:
				v = event.StringValue("1")
			default:
				continue
			}
			ev.Fields = append(ev.Fields, event.Field{Key: f, Value: v})
		}
	}
}

// TestKeyedParkingChangesNothing holds keyed parking to the promise of
// parking: with one step comparing the event with an earlier step's, the
// same matches in the same order, the same notes and the same counters
// as offering each event to each partial match.
func TestKeyedParkingChangesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	iterations := parkIterations()
	keyed, parkedSome := 0, 0
	for it := range iterations {
		p := parkablePattern(r)
		if len(p.Steps) < 2 {
			continue
		}
		i := 1 + r.IntN(len(p.Steps)-1)
		j := r.IntN(i)
		if p.Steps[j].Not {
			continue
		}
		fields := []string{"g"}
		if r.IntN(2) == 0 {
			fields = append(fields, "h")
		}
		keyedOn(&p, i, j, fields, []string{"a", "b", "c"}[r.IntN(3)])
		if r.IntN(2) == 0 {
			// The where, or its Pre, rules out most events.
			p.Steps[i].Pre = func(ev *event.Event) bool { return nameOf(ev) != "x" }
		}
		n, err := Compile(p)
		if err != nil || len(n.keyedStates) == 0 {
			continue
		}
		keyed++
		evs, keys := burstyEvents(r)
		withGroups(r, evs)
		if r.IntN(3) == 0 {
			delaySome(r, evs, keys)
		}
		if r.IntN(4) == 0 {
			tieSome(r, evs)
		}
		if checkParking(t, it, n, r, evs, keys) >= 5 {
			parkedSome++
		}
	}
	if keyed < iterations/10 || parkedSome < keyed/10 {
		t.Errorf("of %d runs %d had a keyed state and %d parked five at once", iterations, keyed, parkedSome)
	}
}

// TestKeyedParkingGroups checks that a key's group goes when it empties,
// and that its cost goes with it.
func TestKeyedParkingGroups(t *testing.T) {
	p := Pattern{Steps: []Step{{Name: "a", Where: is("a"), ViewFree: true}, {Name: "b"}}, Within: 100}
	keyedOn(&p, 1, 0, []string{"g"}, "b")
	n := mustCompile(t, p)
	m := NewMatcher(n, Options{})
	m.parkAt = 1
	var got []string
	emit := func(x Match) { got = append(got, render(x, false, false)) }
	feed := func(name, g string, t0 int64) {
		ev := &event.Event{ID: name + g, Time: t0, Fields: []event.Field{{Key: "name", Value: event.StringValue(name)}, {Key: "g", Value: event.StringValue(g)}}}
		if err := m.Advance(t0, emit); err != nil {
			t.Fatal(err)
		}
		if err := m.Process("k", ev, emit); err != nil {
			t.Fatal(err)
		}
	}
	feed("a", "p", 1)
	feed("a", "q", 2)
	feed("a", "p", 3)
	if s := m.Stats(); s.Parked != 3 || m.keyBytes == 0 {
		t.Fatalf("parked %d, key bytes %d; want 3 parked in two groups", s.Parked, m.keyBytes)
	}
	withKeys := m.keyBytes
	feed("b", "q", 4)
	if s := m.Stats(); s.Parked != 2 || m.keyBytes >= withKeys {
		t.Fatalf("after q's match: parked %d, key bytes %d (were %d)", s.Parked, m.keyBytes, withKeys)
	}
	if err := m.Advance(math.MaxInt64, emit); err != nil {
		t.Fatal(err)
	}
	// The match waited for the partial matches that started before it.
	if !slices.Equal(got, []string{"aq bq"}) {
		t.Fatalf("matches %q", got)
	}
	if s := m.Stats(); s.Partials != 0 || m.keyBytes != 0 || s.Bytes != 0 {
		t.Fatalf("after expiry: %+v, key bytes %d", s, m.keyBytes)
	}
}

// delaySome moves a few events later in the input, as a late: process
// rule feeds late events: after events that come after them in time.
func delaySome(r *rand.Rand, evs []*event.Event, keys []string) {
	for range 1 + r.IntN(4) {
		i := r.IntN(len(evs))
		j := i + r.IntN(len(evs)-i)
		ev, k := evs[i], keys[i]
		copy(evs[i:j], evs[i+1:j+1])
		copy(keys[i:j], keys[i+1:j+1])
		evs[j], keys[j] = ev, k
	}
}

// tieSome gives a few events the time, stream and Seq of the event before
// them, as two sources of one stream may: feed order cannot tell them
// apart.
func tieSome(r *rand.Rand, evs []*event.Event) {
	for range 1 + r.IntN(4) {
		if i := 1 + r.IntN(len(evs)-1); evs[i].Time == evs[i-1].Time {
			evs[i].Stream, evs[i].Seq = evs[i-1].Stream, evs[i-1].Seq
		}
	}
}
