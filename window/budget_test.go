package window

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

func distinctOnly() []Measure { return []Measure{{Name: "d", Func: CountDistinct}} }

// TestMaxDistinct bounds the values a count_distinct keeps per key and
// window: new values beyond the bound are left out and counted.
func TestMaxDistinct(t *testing.T) {
	cases := []struct {
		name    string
		spec    Spec
		steps   []step
		want    []string
		dropped uint64
	}{
		{
			name:    "tumbling",
			spec:    Spec{Kind: Tumbling, Size: time.Minute},
			steps:   []step{ev("a", 1, S("x")), ev("a", 2, S("y")), ev("a", 3, S("z")), ev("a", 4, S("x")), ev("a", 5, S("z")), wm(100)},
			want:    []string{"emit a [0,60) n=5 [2] ev=e0,e1,e2,e3,e4"},
			dropped: 2,
		},
		{
			// z@2 was left out; its eviction at 12 must not take the z
			// of 11 from the set.
			name: "sliding",
			spec: Spec{Kind: Sliding, Size: 10 * time.Second},
			steps: []step{ev("a", 0, S("x")), ev("a", 1, S("y")), ev("a", 2, S("z")), ev("a", 11, S("z")),
				ev("a", 12, S("x")), ev("a", 13, S("w"))},
			want: []string{
				"add a (-10,0] n=1 [1]", "add a (-9,1] n=2 [2]", "add a (-8,2] n=3 [2]",
				"add a (1,11] n=2 [1]", "add a (2,12] n=2 [2]", "add a (3,13] n=3 [2]",
			},
			dropped: 2,
		},
		{
			// Two sessions of two values each, joined by an event: the
			// joined session keeps two.
			name:    "session merge",
			spec:    Spec{Kind: Session, Gap: 5 * time.Second},
			steps:   []step{ev("a", 0, S("x")), ev("a", 1, S("y")), ev("a", 10, S("z")), ev("a", 11, S("w")), ev("a", 6, S("x")), wm(100)},
			want:    []string{"emit a [0,16) n=5 [2] ev=e0,e1,e4,e2,e3"},
			dropped: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := mustNew(t, Config{Window: c.spec, Measures: distinctOnly(), MaxDistinct: 2})
			diffLines(t, run(t, a, nil, c.steps), c.want)
			if s := a.Stats(); s.DroppedDistinct != c.dropped {
				t.Errorf("dropped %d distinct values, want %d", s.DroppedDistinct, c.dropped)
			}
			checkBytes(t, a)
		})
	}
	if _, err := New(Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: distinctOnly(), MaxDistinct: -1}); err == nil {
		t.Error("a negative MaxDistinct was accepted")
	}
}

// TestBytesCountEvidenceAndValues: the estimate grows with the events kept
// as evidence and the distinct values kept, and falls to nothing when the
// windows close.
func TestBytesCountEvidenceAndValues(t *testing.T) {
	a := mustNew(t, Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: distinctOnly()})
	raw := []byte(`{"user":"u1","card":"c-000000000001"}`)
	fs, err := wire.Fields(raw)
	if err != nil {
		t.Fatal(err)
	}
	e := &event.Event{Stream: "s", ID: "e1", Time: sec, Raw: raw, Fields: fs}
	a.Add("u1", sec, []Arg{S("c-000000000001")}, nil)
	before := a.Bytes()
	a.Add("u1", 2*sec, []Arg{S("c-000000000002")}, e)
	if got, least := a.Bytes()-before, wire.MemSize(e); got < least {
		t.Errorf("an event kept as evidence and a new value added %d bytes, want at least %d", got, least)
	}
	before = a.Bytes()
	for i := range 30 {
		a.Add("u1", 3*sec, []Arg{S(fmt.Sprintf("c-%012d", 3+i))}, nil)
	}
	if got, least := a.Bytes()-before, 30*(distinctEntryBytes+14); got < least {
		t.Errorf("30 new values of 14 bytes added %d bytes, want at least %d", got, least)
	}
	if a.KeyBytes("u1") != a.Bytes() || a.KeyBytes("nobody") != 0 {
		t.Errorf("key bytes %d of %d", a.KeyBytes("u1"), a.Bytes())
	}
	checkBytes(t, a)
	a.Advance(time.Hour.Nanoseconds(), func(*Result) {}, nil)
	if a.Bytes() != 0 {
		t.Errorf("%d bytes left after the windows closed", a.Bytes())
	}
}

// TestShedTiesInKeyOrder sheds, among keys whose windows close at the
// same time, those first in key order, whatever order they came in: a
// restored checkpoint queues its keys anew, and must shed what the run
// that took it would have.
func TestShedTiesInKeyOrder(t *testing.T) {
	keys := []string{"k3", "k0", "k5", "k1", "k4", "k2"}
	var lefts [][]string
	for _, order := range [][]int{{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {2, 5, 0, 3, 1, 4}} {
		a := mustNew(t, Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: countOnly()})
		for i, j := range order {
			// Every key's one window closes at the minute.
			a.Add(keys[j], int64(i)*sec, []Arg{{}}, nil)
		}
		full := a.Bytes()
		if n := a.Shed(full / 2); n != 3 {
			t.Fatalf("order %v: shed %d keys, want 3", order, n)
		}
		var left []string
		for k := range a.keys {
			left = append(left, k)
		}
		slices.Sort(left)
		lefts = append(lefts, left)
		// The keys left still close when they are due.
		var closed []string
		a.Advance(time.Minute.Nanoseconds(), func(r *Result) { closed = append(closed, r.Key) }, nil)
		if !slices.Equal(closed, left) {
			t.Errorf("order %v: closed %q, want the keys left %q", order, closed, left)
		}
	}
	if want := []string{"k3", "k4", "k5"}; !slices.Equal(lefts[0], want) {
		t.Errorf("keys left %q, want the last in key order %q", lefts[0], want)
	}
	for _, left := range lefts[1:] {
		if !slices.Equal(left, lefts[0]) {
			t.Errorf("keys left %q for another order, %q for the first", left, lefts[0])
		}
	}
}

// TestShedKeys drops whole keys for the memory budget, those whose next
// deadline comes first, and counts them; the others go on.
func TestShedKeys(t *testing.T) {
	for _, spec := range []Spec{
		{Kind: Tumbling, Size: 10 * time.Second},
		{Kind: Session, Gap: 10 * time.Second},
		{Kind: Sliding, Size: 10 * time.Second},
		{Kind: Length, Length: 3},
	} {
		t.Run(spec.Kind.String(), func(t *testing.T) {
			a := mustNew(t, Config{Window: spec, Measures: countOnly()})
			for i := range 8 {
				a.Add(fmt.Sprint("k", i), int64(i)*2*sec, []Arg{{}}, nil)
			}
			full := a.Bytes()
			if n := a.Shed(full / 2); n != 4 {
				t.Fatalf("shed %d keys, want 4", n)
			}
			s := a.Stats()
			if s.Keys != 4 || s.ShedKeys != 4 || s.Bytes > full/2 || s.ShedBytes != uint64(full-s.Bytes) {
				t.Fatalf("after shedding: %+v (had %d bytes)", s, full)
			}
			checkBytes(t, a)
			var left []string
			for k := range a.keys {
				left = append(left, k)
			}
			slices.Sort(left)
			if want := []string{"k4", "k5", "k6", "k7"}; !slices.Equal(left, want) {
				t.Errorf("keys left %q, want the newest %q", left, want)
			}
			if n := a.Shed(0); n != 4 || a.Bytes() != 0 {
				t.Errorf("shedding all: %d keys, %d bytes left", n, a.Bytes())
			}
		})
	}
}
