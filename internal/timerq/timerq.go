// Package timerq is the deadline queue of the detector state libraries:
// sequences expire partial matches from it, windows close and joins
// forget their keys from it.
package timerq

import "cmp"

// Timer is a key's deadline.
type Timer[K cmp.Ordered] struct {
	At  int64
	Key K
}

// before orders timers by deadline, then key.
func (t Timer[K]) before(u Timer[K]) bool {
	return t.At < u.At || t.At == u.At && t.Key < u.Key
}

// Queue holds timers and gives them back in order of deadline, then key,
// so keys due at the same time come out in a fixed order (unless
// TiesInAnyOrder). The zero value is an empty queue.
//
// Deadlines mostly arrive in increasing order (a window opened by each new
// event closes after the windows before it), so a timer that sorts at or
// after the newest one queued goes to a FIFO at no cost; the others go to a
// 4-ary heap. Pop takes the lesser of the two fronts.
type Queue[K cmp.Ordered] struct {
	fifo []Timer[K]
	head int
	heap []Timer[K]
	// anyTies is set by TiesInAnyOrder.
	anyTies bool
}

// TiesInAnyOrder makes q give timers of one deadline back in no fixed
// order, for an owner that orders what they do itself: ties are then
// never compared by key. Tumbling windows of every key close at the same
// instant, and with string keys a heap of them compared keys' bytes, a
// cache miss or two each, at every step. Call it before the first Push.
func (q *Queue[K]) TiesInAnyOrder() { q.anyTies = true }

// less is t.before(u), or, with anyTies, t's deadline before u's.
func (q *Queue[K]) less(t, u Timer[K]) bool {
	if q.anyTies {
		return t.At < u.At
	}
	return t.before(u)
}

// Len returns the number of timers queued.
func (q *Queue[K]) Len() int { return len(q.fifo) - q.head + len(q.heap) }

// Push adds a timer.
func (q *Queue[K]) Push(t Timer[K]) {
	if n := len(q.fifo); n == q.head || !q.less(t, q.fifo[n-1]) {
		q.fifo = append(q.fifo, t)
		return
	}
	q.heap = append(q.heap, t)
	q.up(len(q.heap) - 1)
}

// Peek returns the first timer without removing it; false when the queue is
// empty.
func (q *Queue[K]) Peek() (Timer[K], bool) {
	switch {
	case q.head < len(q.fifo) && (len(q.heap) == 0 || !q.less(q.heap[0], q.fifo[q.head])):
		return q.fifo[q.head], true
	case len(q.heap) > 0:
		return q.heap[0], true
	}
	return Timer[K]{}, false
}

// Due reports whether the first deadline is at or before t.
func (q *Queue[K]) Due(t int64) bool {
	x, ok := q.Peek()
	return ok && x.At <= t
}

// Pop removes and returns the first timer: the earliest deadline, the least
// key among equal deadlines (any of them with TiesInAnyOrder). The queue
// must not be empty.
func (q *Queue[K]) Pop() Timer[K] {
	if q.head < len(q.fifo) && (len(q.heap) == 0 || !q.less(q.heap[0], q.fifo[q.head])) {
		t := q.fifo[q.head]
		q.fifo[q.head] = Timer[K]{}
		q.head++
		q.tidyFIFO()
		return t
	}
	t := q.heap[0]
	last := len(q.heap) - 1
	q.heap[0] = q.heap[last]
	q.heap[last] = Timer[K]{}
	q.heap = q.heap[:last]
	if last > 0 {
		q.down(0)
	}
	if cap(q.heap) > 4096 && len(q.heap) < cap(q.heap)/4 {
		q.heap = append(make([]Timer[K], 0, cap(q.heap)/2), q.heap...)
	}
	return t
}

// tidyFIFO reclaims the consumed front of the FIFO, and gives memory back
// after a burst.
func (q *Queue[K]) tidyFIFO() {
	switch {
	case q.head == len(q.fifo):
		q.fifo, q.head = q.fifo[:0], 0
		if cap(q.fifo) > 4096 {
			q.fifo = nil
		}
	case q.head >= 1024 && 2*q.head >= len(q.fifo):
		n := copy(q.fifo, q.fifo[q.head:])
		clear(q.fifo[n:])
		q.fifo, q.head = q.fifo[:n], 0
		if cap(q.fifo) > 4096 && n < cap(q.fifo)/4 {
			q.fifo = append(make([]Timer[K], 0, 2*n), q.fifo...)
		}
	}
}

// Retain keeps the timers for which keep returns true, in one pass over
// the queue in no particular order. keep may change a timer's Key (to
// renumber keys); the queue restores its order afterwards.
func (q *Queue[K]) Retain(keep func(t *Timer[K]) bool) {
	fifo := q.fifo[:0]
	for i := q.head; i < len(q.fifo); i++ {
		if t := q.fifo[i]; keep(&t) {
			fifo = append(fifo, t)
		}
	}
	clear(q.fifo[len(fifo):])
	heap := q.heap[:0]
	for i := range q.heap {
		if t := q.heap[i]; keep(&t) {
			heap = append(heap, t)
		}
	}
	clear(q.heap[len(heap):])
	q.fifo, q.head, q.heap = fifo, 0, heap
	for i := 1; i < len(q.fifo); i++ {
		if q.less(q.fifo[i], q.fifo[i-1]) {
			// Renumbered keys broke the FIFO's order: heap it all.
			q.heap = append(q.heap, q.fifo...)
			clear(q.fifo)
			q.fifo = q.fifo[:0]
			break
		}
	}
	if len(q.heap) > 1 {
		for i := (len(q.heap) - 2) / 4; i >= 0; i-- {
			q.down(i)
		}
	}
}

func (q *Queue[K]) up(i int) {
	h := q.heap
	t := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !q.less(t, h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = t
}

func (q *Queue[K]) down(i int) {
	h := q.heap
	n := len(h)
	t := h[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if q.less(h[k], h[m]) {
				m = k
			}
		}
		if !q.less(h[m], t) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = t
}
