package window

// timing is a key's place in the timer queue: the deadline of its live
// queue entry. A key has at most one live entry; when its deadline moves
// later the entry stays, and firing it early just reschedules.
type timing struct {
	at  int64
	set bool
}

func (a *Aggregator) schedule(key string, st *timing, at int64) {
	if st.set && st.at <= at {
		return
	}
	st.at, st.set = at, true
	a.tq.push(timer{at: at, key: key})
}

type timer struct {
	at  int64
	key string
}

// timerQueue is a binary min-heap by deadline, then key, so that keys due
// at the same time are closed in a fixed order.
type timerQueue []timer

func (q timerQueue) less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].key < q[j].key
}

func (q *timerQueue) push(t timer) {
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

func (q *timerQueue) pop() timer {
	h := *q
	t := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = timer{}
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
