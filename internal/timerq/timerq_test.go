package timerq

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func TestQueue(t *testing.T) {
	// An op pushes its timer, or, with pop set, pops and expects it.
	type op struct {
		pop bool
		t   Timer[string]
	}
	push := func(at int64, key string) op { return op{t: Timer[string]{at, key}} }
	pop := func(at int64, key string) op { return op{pop: true, t: Timer[string]{at, key}} }
	for _, tc := range []struct {
		name string
		ops  []op
	}{
		{"one", []op{push(5, "a"), pop(5, "a")}},
		{"by deadline", []op{
			push(30, "a"), push(10, "b"), push(20, "c"),
			pop(10, "b"), pop(20, "c"), pop(30, "a"),
		}},
		{"then by key", []op{
			push(10, "c"), push(10, "a"), push(5, "z"), push(10, "b"),
			pop(5, "z"), pop(10, "a"), pop(10, "b"), pop(10, "c"),
		}},
		{"duplicates", []op{
			push(7, "k"), push(3, "k"), push(7, "k"),
			pop(3, "k"), pop(7, "k"), pop(7, "k"),
		}},
		{"negative deadlines", []op{
			push(0, "a"), push(-1<<62, "b"), push(1<<62, "c"), push(-1, "d"),
			pop(-1<<62, "b"), pop(-1, "d"), pop(0, "a"), pop(1<<62, "c"),
		}},
		{"interleaved", []op{
			push(50, "e"), push(20, "b"), pop(20, "b"),
			push(10, "a"), push(40, "d"), pop(10, "a"),
			push(30, "c"), push(30, "b"), pop(30, "b"), pop(30, "c"),
			push(5, "z"), pop(5, "z"), pop(40, "d"),
			push(60, "f"), pop(50, "e"), pop(60, "f"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q Queue[string]
			for i, o := range tc.ops {
				if !o.pop {
					q.Push(o.t)
					continue
				}
				if !q.Due(o.t.At) {
					t.Fatalf("op %d: not due at %d with %+v", i, o.t.At, q)
				}
				if q.Due(o.t.At - 1) {
					t.Fatalf("op %d: due before %d with %+v", i, o.t.At, q)
				}
				if p, ok := q.Peek(); !ok || p != o.t {
					t.Fatalf("op %d: peeked %v, want %v", i, p, o.t)
				}
				if got := q.Pop(); got != o.t {
					t.Fatalf("op %d: popped %v, want %v", i, got, o.t)
				}
			}
			if q.Len() != 0 {
				t.Errorf("left %v", q)
			}
			if q.Due(1 << 62) {
				t.Error("an empty queue is due")
			}
		})
	}
}

// TestQueueSorts pushes many timers in a scrambled order and checks that
// they come out sorted by deadline, then key.
func TestQueueSorts(t *testing.T) {
	var q Queue[string]
	var want []Timer[string]
	for i := range 1000 {
		tm := Timer[string]{At: int64(i * 7919 % 101), Key: strconv.Itoa(i * 104729 % 997)}
		q.Push(tm)
		want = append(want, tm)
	}
	slices.SortFunc(want, func(x, y Timer[string]) int {
		return cmp.Or(cmp.Compare(x.At, y.At), cmp.Compare(x.Key, y.Key))
	})
	for i, w := range want {
		if got := q.Pop(); got != w {
			t.Fatalf("pop %d: got %v, want %v", i, got, w)
		}
	}
}

// TestQueueAgainstSort drives a queue with random pushes, pops and
// retains, mostly in increasing order as deadlines come, and checks every
// pop against a sorted list.
func TestQueueAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 50 {
		var q Queue[uint32]
		var ref []Timer[uint32]
		less := func(x, y Timer[uint32]) int { return cmp.Or(cmp.Compare(x.At, y.At), cmp.Compare(x.Key, y.Key)) }
		at := int64(0)
		for step := range 3000 {
			switch x := r.IntN(100); {
			case x < 55:
				at += int64(r.IntN(3))
				tm := Timer[uint32]{At: at, Key: uint32(r.IntN(50))}
				if r.IntN(5) == 0 {
					tm.At -= int64(r.IntN(20)) // out of order: to the heap
				}
				q.Push(tm)
				ref = append(ref, tm)
			case x < 98:
				if len(ref) == 0 {
					if _, ok := q.Peek(); ok || q.Len() != 0 {
						t.Fatalf("round %d step %d: empty queue peeks", round, step)
					}
					continue
				}
				slices.SortFunc(ref, less)
				if got := q.Pop(); got != ref[0] {
					t.Fatalf("round %d step %d: popped %v, want %v", round, step, got, ref[0])
				}
				ref = ref[1:]
			default:
				// Drop odd keys and renumber the rest, as a store that
				// compacts its handles does.
				q.Retain(func(tm *Timer[uint32]) bool {
					if tm.Key%2 == 1 {
						return false
					}
					tm.Key = 100 - tm.Key
					return true
				})
				kept := ref[:0]
				for _, tm := range ref {
					if tm.Key%2 == 0 {
						tm.Key = 100 - tm.Key
						kept = append(kept, tm)
					}
				}
				ref = kept
			}
			if q.Len() != len(ref) {
				t.Fatalf("round %d step %d: %d queued, want %d", round, step, q.Len(), len(ref))
			}
		}
	}
}

// TestQueueTiesInAnyOrder checks a queue whose ties come in any order:
// deadlines in order, and every timer pushed given back once.
func TestQueueTiesInAnyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 50 {
		var q Queue[string]
		q.TiesInAnyOrder()
		pending := map[Timer[string]]int{}
		at, last := int64(0), int64(-1<<63)
		popped := 0
		for step := range 3000 {
			if r.IntN(100) < 55 {
				at += int64(r.IntN(3))
				tm := Timer[string]{At: at, Key: strconv.Itoa(r.IntN(50))}
				if r.IntN(5) == 0 {
					tm.At -= int64(r.IntN(20))
				}
				if tm.At < last {
					// Behind what was popped: as a timer due at once.
					tm.At = last
				}
				q.Push(tm)
				pending[tm]++
				continue
			}
			if q.Len() == 0 {
				continue
			}
			tm := q.Pop()
			if tm.At < last {
				t.Fatalf("round %d step %d: popped %v after a deadline of %d", round, step, tm, last)
			}
			if pending[tm] == 0 {
				t.Fatalf("round %d step %d: popped %v, never pushed or popped before", round, step, tm)
			}
			pending[tm]--
			last = tm.At
			popped++
		}
		for q.Len() > 0 {
			tm := q.Pop()
			if tm.At < last || pending[tm] == 0 {
				t.Fatalf("round %d: draining popped %v after %d", round, tm, last)
			}
			pending[tm]--
			last = tm.At
		}
		for tm, n := range pending {
			if n != 0 {
				t.Fatalf("round %d: %v pushed %d more times than popped", round, tm, n)
			}
		}
		if popped == 0 {
			t.Fatal("nothing popped")
		}
	}
}
