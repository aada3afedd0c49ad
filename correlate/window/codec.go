package window

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/axiomhq/hyperloglog"
)

// The snapshot format: "CEPW", a version byte, the fingerprint of the
// configuration (window and measures; a snapshot only loads into an
// aggregator that computes the same thing), the watermark, the counters,
// then every key in key order. Sliding windows store only their events and
// are rebuilt by replaying them, which gives back bit-identical sums. The
// same state always encodes to the same bytes, except that HyperLogLog
// sketches write their sparse part in map order.
const (
	codecMagic   = "CEPW"
	codecVersion = 1
)

// ErrSnapshot is wrapped by every UnmarshalBinary error.
var ErrSnapshot = errors.New("window: bad snapshot")

// MarshalBinary encodes the aggregator's state: every key's windows, the
// watermark and the counters.
func (a *Aggregator) MarshalBinary() ([]byte, error) {
	e := &enc{b: append([]byte(nil), codecMagic...)}
	e.b = append(e.b, codecVersion)
	a.fingerprint(e)
	e.varint(a.wm)
	for _, c := range a.counters() {
		e.uvarint(*c)
	}
	keys := make([]string, 0, len(a.keys))
	for k := range a.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uvarint(uint64(len(keys)))
	for _, key := range keys {
		e.str(key)
		switch k := a.keys[key].(type) {
		case *slideKey:
			a.encSlide(e, k)
		case *paneKey:
			e.varint(k.done)
			e.uvarint(uint64(len(k.panes)))
			for i := range k.panes {
				e.varint(k.panes[i].start)
				a.encAcc(e, &k.panes[i].acc)
			}
			e.results(k.prev)
			e.uvarint(uint64(len(k.redo)))
			for _, x := range k.redo {
				e.varint(x)
			}
		case *sessKey:
			e.uvarint(uint64(len(k.sess)))
			for i := range k.sess {
				s := &k.sess[i]
				e.varint(s.start)
				e.varint(s.last)
				e.bool(s.emitted)
				e.bool(s.dirty)
				a.encAcc(e, &s.acc)
				e.results(s.prev)
			}
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.b, nil
}

// UnmarshalBinary replaces the aggregator's state with a snapshot taken by
// MarshalBinary from an aggregator with the same window and measures.
func (a *Aggregator) UnmarshalBinary(data []byte) error {
	d := &dec{b: data}
	if string(d.bytes(len(codecMagic))) != codecMagic {
		return fmt.Errorf("%w: not a window snapshot", ErrSnapshot)
	}
	if v := d.byte(); v != codecVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrSnapshot, v, codecVersion)
	}
	want := &enc{}
	a.fingerprint(want)
	if got := d.bytes(len(want.b)); d.err == nil && string(got) != string(want.b) {
		return fmt.Errorf("%w: taken with a different window or measures", ErrSnapshot)
	}
	b := &Aggregator{cfg: a.cfg, plan: a.plan, kind: a.kind, top: a.top, size: a.size, slide: a.slide, pane: a.pane,
		gap: a.gap, expire: a.expire, length: a.length, lateness: a.lateness, keys: map[string]keyState{}}
	b.wm = d.varint()
	for _, c := range b.counters() {
		*c = d.uvarint()
	}
	n := d.count(1)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		key := d.str()
		if i > 0 && key <= prev {
			d.fail("keys out of order")
		}
		prev = key
		var ks keyState
		switch a.kind {
		case Sliding, Length:
			ks = b.decSlide(d)
		case Session:
			k := &sessKey{}
			m := d.count(3)
			for j := 0; j < m && d.err == nil; j++ {
				s := session{start: d.time(), last: d.time(), emitted: d.bool(), dirty: d.bool()}
				s.acc = b.decAcc(d)
				s.prev = d.results(1)
				if s.last < s.start || j > 0 && s.start < k.sess[j-1].last+a.gap {
					d.fail("sessions overlap")
				}
				k.sess = append(k.sess, s)
			}
			if m == 0 {
				d.fail("empty key")
			}
			ks = k
		default:
			k := &paneKey{done: d.varint()}
			if k.done > b.wm {
				d.fail("key ahead of the watermark")
			}
			m := d.count(2)
			for j := 0; j < m && d.err == nil; j++ {
				p := pane{start: d.time()}
				p.acc = b.decAcc(d)
				if p.start != alignDown(p.start, a.pane) || j > 0 && p.start <= k.panes[j-1].start {
					d.fail("panes out of order")
				}
				k.panes = append(k.panes, p)
			}
			k.prev = d.results(1)
			for j, m := 0, d.count(1); j < m && d.err == nil; j++ {
				k.redo = append(k.redo, d.time())
			}
			if !slices.IsSortedFunc(k.prev, func(x, y *Result) int { return cmpInt(x.End, y.End) }) || !slices.IsSorted(k.redo) {
				d.fail("results out of order")
			}
			if len(k.panes) == 0 && len(k.prev) == 0 {
				d.fail("empty key")
			}
			ks = k
		}
		if d.err == nil {
			b.keys[key] = ks
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, d.err)
	}
	keys := make([]string, 0, len(b.keys))
	for k := range b.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		ks := b.keys[key]
		var at int64
		switch k := ks.(type) {
		case *slideKey:
			at = k.newest + a.size
			if a.kind == Length {
				if a.expire == 0 {
					continue
				}
				at = k.newest + a.expire
			}
		case *paneKey:
			at = k.deadline(b, b.wm)
		case *sessKey:
			at = k.deadline(b)
		}
		b.schedule(key, ks.timer(), at)
	}
	a.wm, a.keys, a.tq, a.stats = b.wm, b.keys, b.tq, b.stats
	return nil
}

func (a *Aggregator) counters() []*uint64 {
	s := &a.stats
	return []*uint64{&s.Late, &s.LateCorrected, &s.Corrections, &s.DroppedKeys, &s.DroppedEvents, &s.DroppedWindows}
}

func (a *Aggregator) fingerprint(e *enc) {
	e.uvarint(uint64(a.kind))
	for _, x := range []int64{a.size, a.slide, a.gap, a.length, a.expire, a.lateness, int64(a.plan.evidence)} {
		e.varint(x)
	}
	e.uvarint(uint64(len(a.plan.measures)))
	for _, m := range a.plan.measures {
		e.b = append(e.b, byte(m.Func), m.Precision)
		e.bool(m.Approx)
	}
}

func (a *Aggregator) encSlide(e *enc, k *slideKey) {
	e.varint(k.newest)
	e.bool(k.fired)
	e.uvarint(k.q.first)
	e.uvarint(uint64(k.q.n))
	q := &k.q
	for j := 0; j < q.n; j++ {
		i := q.slot(j)
		e.varint(q.time(j))
		for s := range int(q.nNum) {
			e.float(q.num(i, s))
		}
		for s := range int(q.nSet) {
			o := q.str(i, s)
			e.bool(o.ok)
			e.str(o.s)
		}
	}
	e.events(k.ev)
}

func (a *Aggregator) decSlide(d *dec) *slideKey {
	k := a.newSlideKey()
	newest, fired := d.time(), d.bool()
	k.q.first = d.uvarint()
	n := d.count(1 + a.plan.nNum*8 + a.plan.nSet*2)
	if a.kind == Length && int64(n) > a.length {
		d.fail("length window over its size")
	}
	if n == 0 {
		d.fail("empty key")
	}
	args := make([]Arg, len(a.plan.measures))
	last := int64(math.MinInt64)
	for j := 0; j < n && d.err == nil; j++ {
		t := d.time()
		if t < last {
			d.fail("events out of order")
		}
		last = t
		nums := make([]float64, a.plan.nNum)
		for s := range nums {
			nums[s] = d.float()
		}
		strs := make([]optStr, a.plan.nSet)
		for s := range strs {
			strs[s] = optStr{ok: d.bool(), s: d.str()}
		}
		for mi, s := range a.plan.slot {
			switch {
			case s < 0:
			case a.plan.measures[mi].Func == CountDistinct:
				args[mi] = Arg{Str: strs[s].s, Missing: !strs[s].ok}
			default:
				args[mi] = Arg{Num: nums[s]}
			}
		}
		k.push(a.plan, t, args, nil)
	}
	if d.err == nil && newest != last {
		d.fail("newest time disagrees with the events")
	}
	k.newest, k.fired = newest, fired
	k.ev = d.events()
	return k
}

func (a *Aggregator) encAcc(e *enc, c *acc) {
	e.uvarint(uint64(c.n))
	for _, x := range c.nums {
		e.uvarint(uint64(x.n))
		e.float(x.s1)
		e.float(x.c1)
		e.float(x.s2)
		e.float(x.c2)
	}
	for i := range c.sets {
		s := &c.sets[i]
		if s.hll != nil {
			b, err := s.hll.MarshalBinary()
			if err != nil && e.err == nil {
				e.err = err
			}
			e.bytes(b)
			continue
		}
		keys := make([]string, 0, len(s.exact))
		for k := range s.exact {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		e.uvarint(uint64(len(keys)))
		for _, k := range keys {
			e.str(k)
			e.uvarint(uint64(s.exact[k]))
		}
	}
	e.events(c.ev)
}

func (a *Aggregator) decAcc(d *dec) acc {
	c := newAcc(a.plan)
	c.n = int64(d.uvarint())
	for i := range c.nums {
		c.nums[i] = numAcc{n: int64(d.uvarint()), s1: d.float(), c1: d.float(), s2: d.float(), c2: d.float()}
		if c.nums[i].n < 0 || c.nums[i].n > c.n {
			d.fail("measure counts more values than events")
		}
	}
	for mi, slot := range a.plan.slot {
		m := &a.plan.measures[mi]
		if slot < 0 || m.Func != CountDistinct {
			continue
		}
		s := &c.sets[slot]
		if m.Approx {
			b := d.bytes(int(d.count(1)))
			if d.err != nil {
				break
			}
			sk := &hyperloglog.Sketch{}
			if err := sk.UnmarshalBinary(b); err != nil {
				d.fail("count_distinct sketch: " + err.Error())
				break
			}
			// Merging into a sketch of the measure's precision is how a
			// sketch of another precision shows itself.
			if err := newSketch(m.Precision).Merge(sk); err != nil {
				d.fail("count_distinct sketch: " + err.Error())
				break
			}
			s.hll = sk
			continue
		}
		n := d.count(2)
		if n > 0 {
			s.exact = make(map[string]int32, n)
		}
		for j := 0; j < n && d.err == nil; j++ {
			k, v := d.str(), d.uvarint()
			if v == 0 || v > math.MaxInt32 {
				d.fail("bad distinct count")
			}
			s.exact[k] = int32(v)
		}
		if len(s.exact) != n && d.err == nil {
			d.fail("repeated distinct value")
		}
	}
	c.ev = d.events()
	if len(c.ev) > a.plan.evidence {
		d.fail("more evidence than configured")
	}
	return c
}
