package timerq

import (
	"cmp"
	"slices"
	"strconv"
	"testing"
)

func TestQueue(t *testing.T) {
	// An op pushes its timer, or, with pop set, pops and expects it.
	type op struct {
		pop bool
		t   Timer
	}
	push := func(at int64, key string) op { return op{t: Timer{at, key}} }
	pop := func(at int64, key string) op { return op{pop: true, t: Timer{at, key}} }
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
			var q Queue
			for i, o := range tc.ops {
				if !o.pop {
					q.Push(o.t)
					continue
				}
				if !q.Due(o.t.At) {
					t.Fatalf("op %d: not due at %d with %v", i, o.t.At, q)
				}
				if q.Due(o.t.At - 1) {
					t.Fatalf("op %d: due before %d with %v", i, o.t.At, q)
				}
				if got := q.Pop(); got != o.t {
					t.Fatalf("op %d: popped %v, want %v", i, got, o.t)
				}
			}
			if len(q) != 0 {
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
	var q Queue
	var want []Timer
	for i := range 1000 {
		tm := Timer{At: int64(i * 7919 % 101), Key: strconv.Itoa(i * 104729 % 997)}
		q.Push(tm)
		want = append(want, tm)
	}
	slices.SortFunc(want, func(x, y Timer) int {
		return cmp.Or(cmp.Compare(x.At, y.At), cmp.Compare(x.Key, y.Key))
	})
	for i, w := range want {
		if got := q.Pop(); got != w {
			t.Fatalf("pop %d: got %v, want %v", i, got, w)
		}
	}
}
