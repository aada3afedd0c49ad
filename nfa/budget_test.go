package nfa

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// structBytes is what Stats.Bytes charges for the matcher's structures.
func structBytes(s Stats) int64 {
	return int64(s.Keys)*int64(unsafe.Sizeof(KeyState{})+keyOverhead) +
		int64(s.Partials)*int64(unsafe.Sizeof(partial{})) +
		int64(s.Parked)*int64(unsafe.Sizeof(parked{})-unsafe.Sizeof(partial{})) +
		int64(s.Held)*int64(unsafe.Sizeof(completed{})) +
		int64(s.Nodes)*int64(unsafe.Sizeof(node{}))
}

// chargedBytes sums the event memory the nodes of every key carry.
func chargedBytes(s *MemoryStore) int64 {
	var n int64
	seen := map[*node]bool{}
	walk := func(x *node) {
		for ; x != nil && !seen[x]; x = x.prev {
			seen[x] = true
			n += classBytes(x.charge)
		}
	}
	s.Range(func(_ string, ks *KeyState) bool {
		ks.each(func(p *partial) { walk(p.node) })
		for _, c := range ks.heldMatches() {
			walk(c.p.node)
		}
		return true
	})
	return n
}

func TestBytesCountTheEventsKept(t *testing.T) {
	store := NewMemoryStore()
	m := NewMatcher(mustCompile(t, seq(st("a", is("a")), st("b", is("b"), anyC)).within(100)), Options{Store: store})
	evs := withRaw(events(t, "a1 a2 b1 x1"))
	var out []string
	emit := func(x Match) { out = append(out, render(x, false, false)) }
	if err := m.Process("k", evs[0], emit); err != nil {
		t.Fatal(err)
	}
	s := m.Stats()
	if want := structBytes(s) + classBytes(sizeClass(wire.MemSize(evs[0]))); s.Bytes != want {
		t.Errorf("after a1: %d bytes, want %d (structures %d, event %d)", s.Bytes, want, structBytes(s), wire.MemSize(evs[0]))
	}
	// a2 starts a second partial match; b1 completes both, which keep
	// waiting for more b (any): b1 is taken twice in one step, and counts
	// once.
	for _, ev := range evs[1:3] {
		if err := m.Process("k", ev, emit); err != nil {
			t.Fatal(err)
		}
	}
	s = m.Stats()
	want := structBytes(s) + classBytes(sizeClass(wire.MemSize(evs[0]))) + classBytes(sizeClass(wire.MemSize(evs[1])))
	if s.Bytes != want || chargedBytes(store) != want-structBytes(s) {
		t.Errorf("after b1: %d bytes (events %d), want %d", s.Bytes, chargedBytes(store), want)
	}
	if err := m.Advance(math.MaxInt64, emit); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Bytes != 0 {
		t.Errorf("after the end: %d bytes, %+v", s.Bytes, s)
	}
	if !slices.Equal(out, []string{"a1 b1", "a2 b1"}) {
		t.Errorf("matches %q", out)
	}
}

// TestBytesStayConsistent runs random patterns and checks after every
// event that the matcher's event bytes are those its nodes carry, and that
// nothing is left when the state is gone, across a snapshot too.
func TestBytesStayConsistent(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for it := range 600 {
		p := randomPattern(r)
		for i := range p.Steps {
			p.Steps[i].ViewFree = r.IntN(2) == 0
		}
		n, err := Compile(p)
		if err != nil {
			continue
		}
		evs, keys := burstyEvents(r)
		for _, ev := range evs {
			raw, err := jsonRaw(ev)
			if err != nil {
				t.Fatal(err)
			}
			ev.Raw = raw
		}
		store := NewMemoryStore()
		m := NewMatcher(n, Options{Store: store, MaxPartialsPerKey: 50})
		m.parkAt = 1
		cut := r.IntN(len(evs))
		for i, ev := range evs {
			if i == cut {
				next := NewMatcher(n, Options{MaxPartialsPerKey: 50})
				for _, b := range snapshot(t, store) {
					if err := next.Restore(b); err != nil {
						t.Fatal(err)
					}
				}
				m, store = next, next.mem
			}
			if err := m.Advance(ev.Time, nil); err != nil {
				t.Fatal(err)
			}
			if err := m.Process(keys[i], ev, nil); err != nil {
				t.Fatal(err)
			}
			s := m.Stats()
			if got, want := s.Bytes-structBytes(s), chargedBytes(store); got != want {
				t.Fatalf("#%d %s event %d: %d event bytes counted, nodes carry %d", it, n, i, got, want)
			}
		}
		if err := m.Advance(math.MaxInt64, nil); err != nil {
			t.Fatal(err)
		}
		if s := m.Stats(); s.Partials == 0 && s.Held == 0 && s.Bytes != 0 {
			t.Fatalf("#%d %s: %d bytes left without state", it, n, s.Bytes)
		}
	}
}

func jsonRaw(ev *event.Event) ([]byte, error) {
	return []byte(fmt.Sprintf(`{"name":%q,"price":%v}`, nameOf(ev), priceOf(ev))), nil
}

// TestShed drops partial matches for a memory budget: the oldest first
// (those whose window closes first), counted, down to the target.
func TestShed(t *testing.T) {
	for _, within := range []time.Duration{100, 0} {
		t.Run(fmt.Sprintf("within=%d", within), func(t *testing.T) {
			m := NewMatcher(mustCompile(t, seq(st("a", is("a")), st("b", is("b"))).within(within)), Options{})
			keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
			evs := withRaw(events(t, "a0 a1 a2 a3 a4 a5 a6 a7"))
			feed(t, m, keys, evs, 0)
			full := m.Stats()
			if full.Partials != 8 {
				t.Fatalf("%d partial matches, want 8", full.Partials)
			}
			target := full.Bytes / 2
			n, err := m.Shed(target, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := m.Stats()
			if s.Bytes > target || n != 4 || s.Shed != 4 || s.Partials != 4 || s.ShedBytes != uint64(full.Bytes-s.Bytes) {
				t.Fatalf("shed %d: %+v, want 4 shed and at most %d bytes", n, s, target)
			}
			// The newest keys are left: b completes them, not the others.
			got := feed(t, m, keys, events(t, "b0@20 b1 b2 b3 b4 b5 b6 b7"), math.MaxInt64)
			if want := []string{"k4: a4 b4 @24", "k5: a5 b5 @25", "k6: a6 b6 @26", "k7: a7 b7 @27"}; !slices.Equal(got, want) {
				t.Errorf("after shedding: %q, want %q", got, want)
			}
			if n, _ := m.Shed(0, nil); n != 0 {
				t.Errorf("shed %d from an empty matcher", n)
			}
		})
	}
}

// TestShedReleasesHeldMatches: a match held back behind an earlier partial
// match goes out when shedding drops that partial match.
func TestShedReleasesHeldMatches(t *testing.T) {
	m := NewMatcher(mustCompile(t, seq(st("a", is("a")), st("c", is("c")), st("b", sameFirstPrice)).skip(skipToFirst("c")).within(100)), Options{})
	var out []string
	emit := func(x Match) { out = append(out, render(x, true, false)) }
	for _, ev := range withRaw(events(t, "a1$0 c1 a2$1 c2 b1$1")) {
		if err := m.Process("k", ev, emit); err != nil {
			t.Fatal(err)
		}
	}
	if s := m.Stats(); s.Held != 1 || len(out) != 0 {
		t.Fatalf("want a held match, got %+v and %q", s, out)
	}
	if _, err := m.Shed(0, emit); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a2 c2 b1 @5"}; !slices.Equal(out, want) {
		t.Errorf("emitted %q, want %q", out, want)
	}
	if s := m.Stats(); s.Bytes != 0 || s.Partials != 0 || s.Held != 0 {
		t.Errorf("state left: %+v", s)
	}
}

func TestSizeClass(t *testing.T) {
	if sizeClass(0) == 0 || classBytes(0) != 0 {
		t.Fatal("class 0 must mean no charge")
	}
	for _, n := range []int64{1, 7, 8, 9, 15, 16, 17, 104, 1000, 1023, 1024, 1025, 123456, 1 << 30, 15 << 31} {
		c := sizeClass(n)
		b := classBytes(c)
		if b < n || b > n+n/8+1 && n > 8 {
			t.Errorf("size %d: class %d stands for %d", n, c, b)
		}
	}
	if sizeClass(1<<40) != math.MaxUint8 {
		t.Error("a huge size must saturate at the largest class")
	}
}
