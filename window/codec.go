package window

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/axiomhq/hyperloglog"

	"github.com/cep-project/cep/internal/wire"
)

// The snapshot format: "CEPW", a version byte, the fingerprint of the
// configuration (window and measures; a snapshot only loads into an
// aggregator that computes the same thing), the watermark, the counters,
// then every key in key order. Sliding windows store only their events and
// are rebuilt by replaying them, which gives back bit-identical sums. The
// same state always encodes to the same bytes, except that HyperLogLog
// sketches write their sparse part in map order.
//
// Version 2 added the counters of the memory limits (DroppedDistinct,
// ShedKeys, ShedBytes); this build reads versions 1 and 2.
const (
	codecMagic   = "CEPW"
	codecVersion = 2
)

// ErrSnapshot is wrapped by every UnmarshalBinary error.
var ErrSnapshot = errors.New("window: bad snapshot")

// MarshalBinary encodes the aggregator's state: every key's windows, the
// watermark and the counters.
func (a *Aggregator) MarshalBinary() ([]byte, error) {
	return MarshalParts([]*Aggregator{a})
}

// MarshalParts encodes aggregators of one configuration that each hold
// some of a rule's keys, as an engine splitting keys among cores keeps
// them, into the snapshot one aggregator holding every key would write:
// the keys in order, the counters summed, the latest watermark. So a
// snapshot loads into any number of parts (UnmarshalParts).
func MarshalParts(parts []*Aggregator) ([]byte, error) {
	a := parts[0]
	e := &enc{Enc: wire.Enc{B: append([]byte(nil), codecMagic...)}}
	e.B = append(e.B, codecVersion)
	a.fingerprint(e)
	wm := MinTime
	sum := make([]uint64, len(a.counters(codecVersion)))
	owner := map[string]*Aggregator{}
	for _, p := range parts {
		wm = max(wm, p.wm)
		for i, c := range p.counters(codecVersion) {
			sum[i] += *c
		}
		for key := range p.keys {
			owner[key] = p
		}
	}
	e.Varint(wm)
	for _, c := range sum {
		e.Uvarint(c)
	}
	keys := slices.Sorted(maps.Keys(owner))
	e.Uvarint(uint64(len(keys)))
	for _, key := range keys {
		e.Str(key)
		a := owner[key]
		switch k := a.keys[key].(type) {
		case *slideKey:
			a.encSlide(e, k)
		case *paneKey:
			e.Varint(k.done)
			e.Uvarint(uint64(len(k.panes)))
			for i := range k.panes {
				e.Varint(k.panes[i].start)
				a.encAcc(e, &k.panes[i].acc)
			}
			e.results(k.prev)
			e.Uvarint(uint64(len(k.redo)))
			for _, x := range k.redo {
				e.Varint(x)
			}
		case *sessKey:
			e.Uvarint(uint64(len(k.sess)))
			for i := range k.sess {
				s := &k.sess[i]
				e.Varint(s.start)
				e.Varint(s.last)
				e.Bool(s.emitted)
				e.Bool(s.dirty)
				a.encAcc(e, &s.acc)
				e.results(s.prev)
			}
		}
	}
	if e.Err != nil {
		return nil, fmt.Errorf("window: snapshot: %w", e.Err)
	}
	return e.B, nil
}

// UnmarshalBinary replaces the aggregator's state with a snapshot taken by
// MarshalBinary from an aggregator with the same window and measures.
func (a *Aggregator) UnmarshalBinary(data []byte) error {
	return UnmarshalParts(data, []*Aggregator{a}, nil)
}

// UnmarshalParts replaces the state of parts, aggregators of one
// configuration, with a snapshot taken by MarshalBinary or MarshalParts:
// each key goes to the part partOf names (nil: the first), every part
// takes the watermark, and the first takes the counters, so that their
// sums are the snapshot's.
func UnmarshalParts(data []byte, parts []*Aggregator, partOf func(key string) int) error {
	a := parts[0]
	d := &dec{Dec: wire.Dec{B: data}, hold: a.cfg.Hold}
	if string(d.Next(len(codecMagic))) != codecMagic {
		return fmt.Errorf("%w: not a window snapshot", ErrSnapshot)
	}
	version := d.Byte()
	if version < 1 || version > codecVersion {
		return fmt.Errorf("%w: version %d, this build reads versions 1 to %d", ErrSnapshot, version, codecVersion)
	}
	want := &enc{}
	a.fingerprint(want)
	if got := d.Next(len(want.B)); d.Err == nil && string(got) != string(want.B) {
		return fmt.Errorf("%w: taken with a different window or measures", ErrSnapshot)
	}
	b := a.blank()
	b.wm = d.Varint()
	for _, c := range b.counters(version) {
		*c = d.Uvarint()
	}
	n := d.Count(1)
	prev := ""
	for i := 0; i < n && d.Err == nil; i++ {
		key := d.Str()
		if i > 0 && key <= prev {
			d.Fail("keys out of order")
		}
		prev = key
		var ks keyState
		switch a.kind {
		case Sliding, Length:
			ks = b.decSlide(d)
		case Session:
			k := &sessKey{}
			m := d.Count(3)
			for j := 0; j < m && d.Err == nil; j++ {
				s := session{start: d.Time(), last: d.Time(), emitted: d.Bool(), dirty: d.Bool()}
				s.acc = b.decAcc(d)
				s.prev = d.results(1)
				if s.last < s.start || j > 0 && s.start < k.sess[j-1].last+a.gap {
					d.Fail("sessions overlap")
				}
				k.sess = append(k.sess, s)
			}
			if m == 0 {
				d.Fail("empty key")
			}
			ks = k
		default:
			k := &paneKey{done: d.Varint()}
			if k.done > b.wm {
				d.Fail("key ahead of the watermark")
			}
			m := d.Count(2)
			for j := 0; j < m && d.Err == nil; j++ {
				p := pane{start: d.Time()}
				p.acc = b.decAcc(d)
				if p.start != alignDown(p.start, a.pane) || j > 0 && p.start <= k.panes[j-1].start {
					d.Fail("panes out of order")
				}
				k.panes = append(k.panes, p)
			}
			k.prev = d.results(1)
			for j, m := 0, d.Count(1); j < m && d.Err == nil; j++ {
				k.redo = append(k.redo, d.Time())
			}
			if !slices.IsSortedFunc(k.prev, func(x, y *Result) int { return cmpInt(x.End, y.End) }) || !slices.IsSorted(k.redo) {
				d.Fail("results out of order")
			}
			if len(k.panes) == 0 && len(k.prev) == 0 {
				d.Fail("empty key")
			}
			ks = k
		}
		if d.Err == nil {
			ks.kept().key = key
			b.keys[key] = ks
		}
	}
	if d.Err == nil && len(d.B) > 0 {
		d.Fail("trailing bytes")
	}
	if d.Err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, d.Err)
	}
	// Each part starts over with its share of the keys; the counters stay
	// with the first.
	bs := make([]*Aggregator, len(parts))
	for i := range parts {
		bs[i] = a.blank()
		bs[i].wm = b.wm
	}
	bs[0].stats = b.stats
	keys := slices.Sorted(maps.Keys(b.keys))
	for _, key := range keys {
		ks := b.keys[key]
		i := 0
		if partOf != nil {
			i = partOf(key)
		}
		p := bs[i]
		p.keys[key] = ks
		p.account(key, ks)
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
			at = k.deadline(p, p.wm)
		case *sessKey:
			at = k.deadline(p)
		}
		p.schedule(key, ks.timer(), at)
	}
	for i, p := range parts {
		q := bs[i]
		p.wm, p.keys, p.tq, p.stats, p.bytes = q.wm, q.keys, q.tq, q.stats, q.bytes
	}
	return nil
}

// blank is an aggregator of a's configuration with no state.
func (a *Aggregator) blank() *Aggregator {
	b := &Aggregator{cfg: a.cfg, plan: a.plan, kind: a.kind, top: a.top, size: a.size, slide: a.slide, pane: a.pane,
		gap: a.gap, expire: a.expire, length: a.length, lateness: a.lateness, wm: MinTime, keys: map[string]keyState{}}
	b.tq.TiesInAnyOrder()
	return b
}

// counters are the counters a snapshot of version v holds, in order.
func (a *Aggregator) counters(v byte) []*uint64 {
	s := &a.stats
	cs := []*uint64{&s.Late, &s.LateCorrected, &s.Corrections, &s.DroppedKeys, &s.DroppedEvents, &s.DroppedWindows}
	if v >= 2 {
		cs = append(cs, &s.DroppedDistinct, &s.ShedKeys, &s.ShedBytes)
	}
	return cs
}

func (a *Aggregator) fingerprint(e *enc) {
	e.Uvarint(uint64(a.kind))
	for _, x := range []int64{a.size, a.slide, a.gap, a.length, a.expire, a.lateness, int64(a.plan.evidence)} {
		e.Varint(x)
	}
	e.Uvarint(uint64(len(a.plan.measures)))
	for _, m := range a.plan.measures {
		e.B = append(e.B, byte(m.Func), m.Precision)
		e.Bool(m.Approx)
	}
}

func (a *Aggregator) encSlide(e *enc, k *slideKey) {
	e.Varint(k.newest)
	e.Bool(k.fired)
	e.Uvarint(k.q.first)
	e.Uvarint(uint64(k.q.n))
	q := &k.q
	for j := 0; j < q.n; j++ {
		i := q.slot(j)
		e.Varint(q.time(j))
		for s := range int(q.nNum) {
			e.Float(q.num(i, s))
		}
		for s := range int(q.nSet) {
			o := q.str(i, s)
			e.Bool(o.ok)
			e.Str(o.s)
		}
	}
	e.events(k.ev)
}

func (a *Aggregator) decSlide(d *dec) *slideKey {
	k := a.newSlideKey()
	newest, fired := d.Time(), d.Bool()
	k.q.first = d.Uvarint()
	n := d.Count(1 + a.plan.nNum*8 + a.plan.nSet*2)
	if a.kind == Length && int64(n) > a.length {
		d.Fail("length window over its size")
	}
	if n == 0 {
		d.Fail("empty key")
	}
	args := make([]Arg, len(a.plan.measures))
	last := int64(math.MinInt64)
	for j := 0; j < n && d.Err == nil; j++ {
		t := d.Time()
		if t < last {
			d.Fail("events out of order")
		}
		last = t
		nums := make([]float64, a.plan.nNum)
		for s := range nums {
			nums[s] = d.Float()
		}
		strs := make([]optStr, a.plan.nSet)
		for s := range strs {
			strs[s] = optStr{ok: d.Bool(), s: d.Str()}
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
	if d.Err == nil && newest != last {
		d.Fail("newest time disagrees with the events")
	}
	k.newest, k.fired = newest, fired
	k.ev = d.events()
	k.evBytes = eventsMem(k.ev)
	return k
}

func (a *Aggregator) encAcc(e *enc, c *acc) {
	e.Uvarint(uint64(c.n))
	for _, x := range c.nums {
		e.Uvarint(uint64(x.n))
		e.Float(x.s1)
		e.Float(x.c1)
		e.Float(x.s2)
		e.Float(x.c2)
	}
	for i := range c.sets {
		s := &c.sets[i]
		if s.hll != nil {
			b, err := s.hll.MarshalBinary()
			if err != nil && e.Err == nil {
				e.Err = err
			}
			e.Bytes(b)
			continue
		}
		type kv struct {
			k string
			n int32
		}
		vals := make([]kv, 0, s.exact.len())
		s.exact.each(func(k string, n int32) { vals = append(vals, kv{k, n}) })
		slices.SortFunc(vals, func(x, y kv) int { return strings.Compare(x.k, y.k) })
		e.Uvarint(uint64(len(vals)))
		for _, v := range vals {
			e.Str(v.k)
			e.Uvarint(uint64(v.n))
		}
	}
	e.events(c.ev)
}

func (a *Aggregator) decAcc(d *dec) acc {
	c := newAcc(a.plan)
	c.n = int64(d.Uvarint())
	for i := range c.nums {
		c.nums[i] = numAcc{n: int64(d.Uvarint()), s1: d.Float(), c1: d.Float(), s2: d.Float(), c2: d.Float()}
		if c.nums[i].n < 0 || c.nums[i].n > c.n {
			d.Fail("measure counts more values than events")
		}
	}
	for mi, slot := range a.plan.slot {
		m := &a.plan.measures[mi]
		if slot < 0 || m.Func != CountDistinct {
			continue
		}
		s := &c.sets[slot]
		if m.Approx {
			b := d.Bytes()
			if d.Err != nil {
				break
			}
			sk := &hyperloglog.Sketch{}
			if err := sk.UnmarshalBinary(b); err != nil {
				d.Fail("count_distinct sketch: " + err.Error())
				break
			}
			// Merging into a sketch of the measure's precision is how a
			// sketch of another precision shows itself.
			if err := newSketch(m.Precision).Merge(sk); err != nil {
				d.Fail("count_distinct sketch: " + err.Error())
				break
			}
			s.hll = sk
			// The encoding is about the size of the sketch in memory.
			s.bytes = min(int64(len(b))*2, sketchBytes(m.Precision))
			continue
		}
		n := d.Count(2)
		for j := 0; j < n && d.Err == nil; j++ {
			k, v := d.Str(), d.Uvarint()
			if v == 0 || v > math.MaxInt32 {
				d.Fail("bad distinct count")
				break
			}
			if had, _ := s.exact.add(k, int32(v), true); had {
				d.Fail("repeated distinct value")
			}
		}
	}
	c.ev = d.events()
	c.evBytes = eventsMem(c.ev)
	if len(c.ev) > max(a.plan.evidence, 0) {
		d.Fail("more evidence than configured")
	}
	return c
}
