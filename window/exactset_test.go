package window

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestExactSetAgainstMap runs random adds and removes on an exactSet and
// on a map, and compares them after every step: counts, the number of
// values, what each lists, and the estimate of the values' bytes.
func TestExactSetAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for round := range 200 {
		var x exactSet
		ref := map[string]int32{}
		universe := 5 + r.IntN(300)
		value := func() string {
			i := r.IntN(universe)
			if i%17 == 0 {
				return strings.Repeat("v", i%40) // the empty value too
			}
			return fmt.Sprint("value-", i)
		}
		for step := range 2000 {
			s := value()
			switch op := r.IntN(10); {
			case op < 6:
				room := r.IntN(8) != 0
				had, counted := x.add(s, 1, room)
				_, want := ref[s]
				if had != want || counted != (want || room) {
					t.Fatalf("round %d step %d: add(%q, room %v) = %v, %v; it was there: %v", round, step, s, room, had, counted, want)
				}
				if counted {
					ref[s]++
				}
			default:
				gone := x.remove(s)
				if n, ok := ref[s]; ok {
					if gone != (n == 1) {
						t.Fatalf("round %d step %d: remove(%q) of a count of %d: gone %v", round, step, s, n, gone)
					}
					if n == 1 {
						delete(ref, s)
					} else {
						ref[s] = n - 1
					}
				} else if gone {
					t.Fatalf("round %d step %d: remove(%q) of no value: gone", round, step, s)
				}
			}
			if x.len() != len(ref) || x.count(s) != ref[s] {
				t.Fatalf("round %d step %d: %d values, %q counted %d; want %d and %d", round, step, x.len(), s, x.count(s), len(ref), ref[s])
			}
			if step%7 == 0 {
				got := map[string]int32{}
				var bytes int
				x.each(func(v string, n int32) {
					if _, dup := got[v]; dup {
						t.Fatalf("round %d step %d: %q listed twice", round, step, v)
					}
					got[v] = n
					bytes += len(v)
				})
				if !maps.Equal(got, ref) {
					t.Fatalf("round %d step %d: lists %v, want %v", round, step, got, ref)
				}
				for v, n := range ref {
					if x.count(v) != n {
						t.Fatalf("round %d step %d: %q counted %d, want %d: a value probing no longer reaches", round, step, v, x.count(v), n)
					}
				}
				if x.mem() < int64(len(ref))*exactEntryBytes+int64(bytes) {
					t.Fatalf("round %d step %d: estimate %d for %d values of %d bytes", round, step, x.mem(), len(ref), bytes)
				}
			}
		}
	}
}

// BenchmarkExactSet adds a value to a set of ten, as an hour's window of
// a key does, and takes it out again.
func BenchmarkExactSet(b *testing.B) {
	var x exactSet
	for i := range 10 {
		x.add(fmt.Sprint("card-", i), 1, true)
	}
	b.ReportAllocs()
	for b.Loop() {
		x.add("card-3", 1, true)
		x.remove("card-3")
	}
}
