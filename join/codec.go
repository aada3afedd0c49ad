package join

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/timerq"
	"github.com/cep-project/cep/internal/wire"
)

// The snapshot format: "CEPJ", a version byte, the join's fingerprint
// (within, type, number of sides), the watermark, the counters, then every
// key in key order with its buffered events per side. Version 2 added the
// counters of the memory limits (FanoutDropped, ShedEvents, ShedBytes);
// this build reads versions 1 and 2.
const (
	codecMagic   = "CEPJ"
	codecVersion = 2
)

// ErrSnapshot is wrapped by every UnmarshalBinary error.
var ErrSnapshot = errors.New("join: bad snapshot")

// MarshalBinary encodes the joiner's buffers, watermark and counters.
func (j *Joiner) MarshalBinary() ([]byte, error) {
	return MarshalParts([]*Joiner{j})
}

// MarshalParts encodes joiners of one configuration that each hold some
// of a rule's keys, as an engine splitting keys among cores keeps them,
// into the snapshot one joiner holding every key would write: the keys in
// order, the counters summed, the latest watermark. So a snapshot loads
// into any number of parts (UnmarshalParts).
func MarshalParts(parts []*Joiner) ([]byte, error) {
	j := parts[0]
	e := &wire.Enc{B: append([]byte(codecMagic), codecVersion)}
	j.fingerprint(e)
	wm := MinTime
	sum := make([]uint64, len(j.counters(codecVersion)))
	owner := map[string]*keyState{}
	for _, p := range parts {
		wm = max(wm, p.wm)
		for i, c := range p.counters(codecVersion) {
			sum[i] += *c
		}
		for key, k := range p.keys {
			owner[key] = k
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
		for _, es := range owner[key].sides {
			e.Uvarint(uint64(len(es)))
			for _, x := range es {
				e.B = append(e.B, flags(x))
				e.Event(x.ev)
			}
		}
	}
	if e.Err != nil {
		return nil, fmt.Errorf("join: snapshot: %w", e.Err)
	}
	return e.B, nil
}

func flags(x *entry) byte {
	var f byte
	if x.matched {
		f |= 1
	}
	if x.covered {
		f |= 2
	}
	return f
}

// UnmarshalBinary replaces the joiner's state with a snapshot taken by
// MarshalBinary from a joiner with the same within, type and sides.
func (j *Joiner) UnmarshalBinary(data []byte) error {
	return UnmarshalParts(data, []*Joiner{j}, nil)
}

// UnmarshalParts replaces the state of parts, joiners of one
// configuration, with a snapshot taken by MarshalBinary or MarshalParts:
// each key goes to the part partOf names (nil: the first), every part
// takes the watermark, and the first takes the counters, so that their
// sums are the snapshot's.
func UnmarshalParts(data []byte, parts []*Joiner, partOf func(key string) int) error {
	j := parts[0]
	d := &dec{Dec: wire.Dec{B: data}}
	if string(d.Next(len(codecMagic))) != codecMagic {
		return fmt.Errorf("%w: not a join snapshot", ErrSnapshot)
	}
	version := d.Byte()
	if version < 1 || version > codecVersion {
		return fmt.Errorf("%w: version %d, this build reads versions 1 to %d", ErrSnapshot, version, codecVersion)
	}
	want := &wire.Enc{}
	j.fingerprint(want)
	if got := d.Next(len(want.B)); d.Err == nil && string(got) != string(want.B) {
		return fmt.Errorf("%w: taken with a different within, type or sides", ErrSnapshot)
	}
	wm := d.Varint()
	var stats Stats
	for _, c := range stats.counters(version) {
		*c = d.Uvarint()
	}
	keys := map[string]*keyState{}
	var order []string
	n := d.Count(1 + len(j.cfg.Sides))
	for i := 0; i < n && d.Err == nil; i++ {
		key := d.Str()
		if i > 0 && key <= order[i-1] {
			d.Fail("keys out of order")
		}
		order = append(order, key)
		k := &keyState{key: key, sides: make([][]*entry, len(j.cfg.Sides))}
		for s := range k.sides {
			m := d.Count(1 + wire.EventMinBytes)
			for x := 0; x < m && d.Err == nil; x++ {
				f := d.Byte()
				if f > 3 {
					d.Fail("bad flags")
				}
				ev := d.event()
				if ev != nil && (ev.Time < -wire.MaxTime || ev.Time > wire.MaxTime) {
					d.Fail("time out of range")
				}
				if x > 0 && ev != nil && ev.Before(k.sides[s][x-1].ev) {
					d.Fail("events out of order")
				}
				if ev != nil && j.cfg.Hold != nil {
					// Held as a buffered event is when it arrives.
					ev = j.cfg.Hold(ev)
				}
				k.sides[s] = append(k.sides[s], &entry{ev: ev, matched: f&1 != 0, covered: f&2 != 0})
			}
		}
		if k.empty() {
			d.Fail("empty key")
		}
		keys[key] = k
	}
	if d.Err == nil && len(d.B) > 0 {
		d.Fail("trailing bytes")
	}
	if d.Err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, d.Err)
	}
	for i, p := range parts {
		p.wm, p.stats, p.keys, p.tq, p.bytes = wm, Stats{}, map[string]*keyState{}, timerq.Queue[string]{}, 0
		if i == 0 {
			p.stats = stats
		}
	}
	for _, key := range order {
		p := j
		if partOf != nil {
			p = parts[partOf(key)]
		}
		k := keys[key]
		p.keys[key] = k
		p.charge(k, p.keyBytes(key))
		for _, es := range k.sides {
			for _, e := range es {
				p.charge(k, entryBytes(e.ev))
			}
		}
		p.schedule(key, k, k.deadline(p.keep))
	}
	return nil
}

// counters are the counters a snapshot of version v holds, in order.
func (j *Joiner) counters(v byte) []*uint64 { return j.stats.counters(v) }

func (s *Stats) counters(v byte) []*uint64 {
	cs := []*uint64{&s.Late, &s.Unbuffered, &s.DroppedKeys}
	if v >= 2 {
		cs = append(cs, &s.FanoutDropped, &s.ShedEvents, &s.ShedBytes)
	}
	return cs
}

func (j *Joiner) fingerprint(e *wire.Enc) {
	e.Varint(j.within)
	e.Uvarint(uint64(j.cfg.Type))
	e.Uvarint(uint64(len(j.cfg.Sides)))
}

// dec reads a snapshot; event reads a buffered event and checks it.
type dec struct{ wire.Dec }

func (d *dec) event() *event.Event {
	ev := d.Event("event")
	if d.Err != nil {
		return nil
	}
	return ev
}
