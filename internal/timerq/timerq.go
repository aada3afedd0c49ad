// Package timerq is the deadline queue that windows and joins close their
// keys from.
package timerq

// Timer is a key's deadline.
type Timer struct {
	At  int64
	Key string
}

// Queue is a binary min-heap of timers by deadline, then key, so that keys
// due at the same time are closed in a fixed order. The zero value is an
// empty queue.
type Queue []Timer

func (q Queue) less(i, j int) bool {
	return q[i].At < q[j].At || q[i].At == q[j].At && q[i].Key < q[j].Key
}

// Due reports whether the earliest deadline is at or before t.
func (q Queue) Due(t int64) bool {
	return len(q) > 0 && q[0].At <= t
}

// Push adds a timer.
func (q *Queue) Push(t Timer) {
	*q = append(*q, t)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

// Pop removes and returns the timer with the earliest deadline, the least
// key among equal deadlines. The queue must not be empty.
func (q *Queue) Pop() Timer {
	h := *q
	t := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = Timer{}
	h = h[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r := l + 1; r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return t
}
