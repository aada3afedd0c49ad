package window

import (
	"math"
	"strings"

	"github.com/cep-project/cep/event"
)

// slideKey is one key's sliding or length window: a FIFO of its events'
// times and arguments, running sums that events leave as they entered, and
// a monotonic deque per min or max measure.
type slideKey struct {
	// Fields every event touches come first, to share cache lines.
	q      fifo
	newest int64
	timing
	memo
	fired bool
	// inline holds nums for the common single numeric measure, sparing a
	// key an allocation and the event a cache miss.
	inline [1]numAcc
	nums   []numAcc
	dq     []deque
	sets   []distinct
	ev     evidence
	// evBytes is the memory of the events in ev.
	evBytes int64
}

func (k *slideKey) timer() *timing { return &k.timing }

// Current is a key's sliding or length window as it stands at the event
// just added. It belongs to the aggregator and is valid until its next call.
type Current struct {
	Key string
	// Start and End are as in Result: (Start, End] for sliding windows, the
	// first and last event times for length windows.
	Start, End int64
	Count      int64
	Values     []float64

	a *Aggregator
	k *slideKey
}

// Fire records the outcome of the rule's `having` on Values and answers
// whether to alert: when having turns true, and again only after it has
// been false. A key whose window empties starts over, armed.
func (c *Current) Fire(having bool) bool {
	if !having {
		c.k.fired = false
		return false
	}
	if c.k.fired {
		return false
	}
	c.k.fired = true
	return true
}

// Result returns the window as a Result to alert with, evidence included.
func (c *Current) Result() *Result {
	r := &Result{Key: c.Key, Start: c.Start, End: c.End, Count: c.Count, Values: append([]float64(nil), c.Values...)}
	n := min(len(c.k.ev), c.k.q.n)
	for _, ev := range c.k.ev[len(c.k.ev)-n:] {
		if c.a.kind == Sliding && ev.Time <= c.Start {
			continue
		}
		r.Evidence = append(r.Evidence, ev)
	}
	return r
}

func (a *Aggregator) addSliding(key string, t int64, args []Arg, ev *event.Event) (*Current, Status) {
	var k *slideKey
	if ks, ok := a.keys[key]; ok {
		k = ks.(*slideKey)
		key = k.key
		if t < k.newest {
			a.stats.Late++
			return nil, Late
		}
	} else {
		if t < a.wm {
			// The key's window may have held events that were forgotten
			// when the watermark passed; evaluating without them would be
			// wrong.
			a.stats.Late++
			return nil, Late
		}
		if !a.newKey() {
			return nil, DroppedKey
		}
		k = a.newSlideKey()
		key = a.insert(key, k)
	}
	p := a.plan
	if a.kind == Sliding {
		for k.q.n > 0 && k.q.time(0) <= t-a.size {
			k.evict(p)
		}
	} else if int64(k.q.n) >= a.length {
		k.evict(p)
	}
	if k.q.n == 0 {
		// Re-arm here rather than only when Advance drops the key, so that
		// alerts do not depend on how often the engine advances.
		k.fired = false
	}
	if a.cfg.MaxEventsPerKey > 0 && k.q.n >= a.cfg.MaxEventsPerKey {
		a.stats.DroppedEvents++
		a.account(key, k)
		return nil, DroppedEvent
	}
	a.stats.DroppedDistinct += k.push(p, t, args, ev)
	switch {
	case a.kind == Sliding:
		a.schedule(key, &k.timing, t+a.size)
	case a.expire > 0:
		a.schedule(key, &k.timing, t+a.expire)
	}
	a.account(key, k)

	c := &a.cur
	c.Key, c.End, c.Count, c.k = key, t, int64(k.q.n), k
	if a.kind == Sliding {
		c.Start = t - a.size
	} else {
		c.Start = k.q.time(0)
	}
	c.Values = k.values(p, c.Values[:0])
	return c, Applied
}

func (a *Aggregator) newSlideKey() *slideKey {
	p := a.plan
	k := &slideKey{}
	k.q.init(p.nNum, p.nSet)
	switch {
	case p.nNum == 1:
		k.nums = k.inline[:]
	case p.nNum > 1:
		k.nums = make([]numAcc, p.nNum)
	}
	if p.nSet > 0 {
		k.sets = make([]distinct, p.nSet)
	}
	if len(p.minmax) > 0 {
		k.dq = make([]deque, len(p.minmax))
	}
	return k
}

// close runs when the window of a key must have emptied: a sliding window
// size after its newest event, a length window once it has expired.
func (k *slideKey) close(a *Aggregator, _ string, wm int64) (int64, bool) {
	var end int64
	if a.kind == Sliding {
		end = k.newest + a.size
	} else {
		end = k.newest + a.expire
	}
	if end <= wm {
		return 0, false
	}
	return end, true
}

// push adds an event; it returns how many count_distinct values it could
// not keep (MaxDistinct).
func (k *slideKey) push(p *plan, t int64, args []Arg, ev *event.Event) (dropped uint64) {
	i := k.q.push(t)
	k.newest = t
	dqi := 0
	for mi := range p.measures {
		m := &p.measures[mi]
		s := p.slot[mi]
		switch {
		case s < 0:
		case m.Func == CountDistinct:
			a := args[mi]
			// A value left out at the limit is stored as missing, so
			// that its eviction takes nothing from the set.
			kept := !a.Missing && k.sets[s].add(m, a.Str, p.maxDistinct)
			if !a.Missing && !kept {
				dropped++
			}
			// The ring keeps its own copy, for the eviction: a.Str may
			// be in an event's line, which its decoder reuses once the
			// event is released.
			o := optStr{ok: kept}
			if kept {
				o.s = strings.Clone(a.Str)
			}
			*k.q.str(i, s) = o
		default:
			x, ok := args[mi].num()
			if !ok {
				x = math.NaN()
			}
			k.q.setNum(i, s, x)
			if m.Func == Min || m.Func == Max {
				if ok {
					k.dq[dqi].push(k.q.last(), x, m.Func == Min)
				}
				dqi++
			} else if ok {
				k.nums[s].add(m.Func, x)
			}
		}
	}
	k.evBytes += k.ev.add(ev, p.evidence)
	return dropped
}

// evict removes the oldest event of the window.
func (k *slideKey) evict(p *plan) {
	i := k.q.head
	for mi := range p.measures {
		m := &p.measures[mi]
		s := p.slot[mi]
		switch {
		case s < 0, m.Func == Min, m.Func == Max:
		case m.Func == CountDistinct:
			if o := k.q.str(i, s); o.ok {
				k.sets[s].remove(o.s)
			}
		default:
			if x := k.q.num(i, s); !math.IsNaN(x) {
				k.nums[s].remove(m.Func, x)
			}
		}
	}
	k.q.pop()
	for j := range k.dq {
		k.dq[j].expire(k.q.first)
	}
}

func (k *slideKey) values(p *plan, dst []float64) []float64 {
	dqi := 0
	for mi := range p.measures {
		m := &p.measures[mi]
		s := p.slot[mi]
		switch {
		case s < 0:
			dst = append(dst, float64(k.q.n))
		case m.Func == CountDistinct:
			dst = append(dst, k.sets[s].value())
		case m.Func == Min || m.Func == Max:
			dst = append(dst, k.dq[dqi].front())
			dqi++
		default:
			dst = append(dst, k.nums[s].value(m.Func))
		}
	}
	return dst
}

type optStr struct {
	s  string
	ok bool
}

// fifo is a ring of the window's events. Each slot holds the event time
// and its numeric arguments side by side in buf, so that reading an
// event's time and value touches one cache line; count_distinct arguments
// are in a parallel ring. Positions count events since the key's first, so
// deques can tell what has left.
type fifo struct {
	buf        []uint64 // per slot: time, then nNum float64 bits
	nNum, nSet int32
	cap        int32 // slots, a power of two
	head, n    int
	first      uint64 // position of the oldest event
	strs       []optStr
}

func (q *fifo) init(nNum, nSet int) { q.nNum, q.nSet = int32(nNum), int32(nSet) }

func (q *fifo) stride() int { return 1 + int(q.nNum) }

// slot is the ring index of the i-th oldest event.
func (q *fifo) slot(i int) int { return (q.head + i) & (int(q.cap) - 1) }

func (q *fifo) time(i int) int64 { return int64(q.buf[q.slot(i)*q.stride()]) }

func (q *fifo) num(slot, s int) float64 {
	return math.Float64frombits(q.buf[slot*q.stride()+1+s])
}

func (q *fifo) setNum(slot, s int, x float64) {
	q.buf[slot*q.stride()+1+s] = math.Float64bits(x)
}

func (q *fifo) str(slot, s int) *optStr { return &q.strs[slot*int(q.nSet)+s] }

// last is the position of the newest event.
func (q *fifo) last() uint64 { return q.first + uint64(q.n) - 1 }

// push appends an event with time t and returns its ring index.
func (q *fifo) push(t int64) int {
	if q.n == int(q.cap) {
		q.resize(max(2*int(q.cap), 2))
	}
	i := q.slot(q.n)
	q.buf[i*q.stride()] = uint64(t)
	q.n++
	return i
}

func (q *fifo) pop() {
	if q.nSet > 0 {
		i := q.head * int(q.nSet)
		clear(q.strs[i : i+int(q.nSet)]) // let the strings go
	}
	q.head = q.slot(1)
	q.n--
	q.first++
	// Shrinking after a burst gives the memory back; the factor 4 keeps a
	// key that hovers around a size from reallocating on every event.
	if c := int(q.cap); c > 8 && q.n < c/4 {
		q.resize(c / 2)
	}
}

func (q *fifo) resize(c int) {
	w, ns := q.stride(), int(q.nSet)
	buf := make([]uint64, c*w)
	var strs []optStr
	if ns > 0 {
		strs = make([]optStr, c*ns)
	}
	for j := 0; j < q.n; j++ {
		i := q.slot(j)
		copy(buf[j*w:(j+1)*w], q.buf[i*w:(i+1)*w])
		copy(strs[j*ns:(j+1)*ns], q.strs[i*ns:(i+1)*ns])
	}
	q.buf, q.strs, q.head, q.cap = buf, strs, 0, int32(c)
}

// deque is a monotonic deque of (position, value): values increase from
// front to back for min and decrease for max, so the front is the extreme of
// the window and each event enters and leaves once.
type deque struct {
	pos     []uint64
	val     []float64
	head, n int
}

func (d *deque) push(pos uint64, x float64, isMin bool) {
	for d.n > 0 {
		b := d.val[(d.head+d.n-1)&(len(d.val)-1)]
		if isMin && b < x || !isMin && b > x {
			break
		}
		d.n--
	}
	if d.n == len(d.val) {
		d.resize(max(2*len(d.val), 2))
	}
	i := (d.head + d.n) & (len(d.val) - 1)
	d.pos[i], d.val[i] = pos, x
	d.n++
}

// expire drops entries older than position first.
func (d *deque) expire(first uint64) {
	for d.n > 0 && d.pos[d.head] < first {
		d.head = (d.head + 1) & (len(d.val) - 1)
		d.n--
	}
	if c := len(d.val); c > 8 && d.n < c/4 {
		d.resize(c / 2)
	}
}

func (d *deque) front() float64 {
	if d.n == 0 {
		return math.NaN()
	}
	return d.val[d.head]
}

func (d *deque) resize(c int) {
	pos := make([]uint64, c)
	val := make([]float64, c)
	for j := 0; j < d.n; j++ {
		i := (d.head + j) & (len(d.val) - 1)
		pos[j], val[j] = d.pos[i], d.val[i]
	}
	d.pos, d.val, d.head = pos, val, 0
}
