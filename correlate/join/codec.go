package join

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cep-project/cep/event"
)

// The snapshot format: "CEPJ", a version byte, the join's fingerprint
// (within, type, number of sides), the watermark, the counters, then every
// key in key order with its buffered events per side.
const (
	codecMagic   = "CEPJ"
	codecVersion = 1
)

// ErrSnapshot is wrapped by every UnmarshalBinary error.
var ErrSnapshot = errors.New("join: bad snapshot")

// MarshalBinary encodes the joiner's buffers, watermark and counters.
func (j *Joiner) MarshalBinary() ([]byte, error) {
	e := &enc{b: append([]byte(codecMagic), codecVersion)}
	j.fingerprint(e)
	e.varint(j.wm)
	e.uvarint(j.stats.Late)
	e.uvarint(j.stats.Unbuffered)
	e.uvarint(j.stats.DroppedKeys)
	keys := make([]string, 0, len(j.keys))
	for k := range j.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uvarint(uint64(len(keys)))
	for _, key := range keys {
		e.str(key)
		for _, es := range j.keys[key].sides {
			e.uvarint(uint64(len(es)))
			for _, x := range es {
				e.b = append(e.b, flags(x))
				e.event(x.ev)
			}
		}
	}
	return e.b, nil
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
	d := &dec{b: data}
	if string(d.bytes(len(codecMagic))) != codecMagic {
		return fmt.Errorf("%w: not a join snapshot", ErrSnapshot)
	}
	if v := d.byte(); v != codecVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrSnapshot, v, codecVersion)
	}
	want := &enc{}
	j.fingerprint(want)
	if got := d.bytes(len(want.b)); d.err == nil && string(got) != string(want.b) {
		return fmt.Errorf("%w: taken with a different within, type or sides", ErrSnapshot)
	}
	wm := d.varint()
	stats := Stats{Late: d.uvarint(), Unbuffered: d.uvarint(), DroppedKeys: d.uvarint()}
	keys := map[string]*keyState{}
	var order []string
	n := d.count(1 + len(j.cfg.Sides))
	for i := 0; i < n && d.err == nil; i++ {
		key := d.str()
		if i > 0 && key <= order[i-1] {
			d.fail("keys out of order")
		}
		order = append(order, key)
		k := &keyState{sides: make([][]*entry, len(j.cfg.Sides))}
		for s := range k.sides {
			m := d.count(7)
			for x := 0; x < m && d.err == nil; x++ {
				f := d.byte()
				if f > 3 {
					d.fail("bad flags")
				}
				ev := d.event()
				if ev != nil && (ev.Time < -maxTime || ev.Time > maxTime) {
					d.fail("time out of range")
				}
				if x > 0 && ev != nil && ev.Before(k.sides[s][x-1].ev) {
					d.fail("events out of order")
				}
				k.sides[s] = append(k.sides[s], &entry{ev: ev, matched: f&1 != 0, covered: f&2 != 0})
			}
		}
		if k.empty() {
			d.fail("empty key")
		}
		keys[key] = k
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, d.err)
	}
	j.wm, j.stats, j.keys, j.tq = wm, stats, keys, nil
	for _, key := range order {
		k := keys[key]
		j.schedule(key, k, k.deadline(j.within))
	}
	return nil
}

// maxTime bounds a snapshot's event times (±146 years around 1970), so that
// adding within cannot overflow.
const maxTime = int64(1) << 62

func (j *Joiner) fingerprint(e *enc) {
	e.varint(j.within)
	e.uvarint(uint64(j.cfg.Type))
	e.uvarint(uint64(len(j.cfg.Sides)))
}

type enc struct{ b []byte }

func (e *enc) uvarint(x uint64) { e.b = binary.AppendUvarint(e.b, x) }
func (e *enc) varint(x int64)   { e.b = binary.AppendVarint(e.b, x) }
func (e *enc) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }

func (e *enc) event(ev *event.Event) {
	e.str(ev.Stream)
	e.str(ev.ID)
	e.varint(ev.Time)
	e.uvarint(ev.Seq)
	e.varint(int64(ev.Line))
	e.str(string(ev.Raw))
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg)
	}
}

func (d *dec) bytes(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *dec) byte() byte {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *dec) varint() int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return x
}

// count reads a length and checks it against the bytes left, each element
// taking at least min bytes, so a corrupt length cannot make us allocate.
func (d *dec) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/max(min, 1)) {
		d.fail("length past the end")
		return 0
	}
	return int(n)
}

func (d *dec) str() string { return string(d.bytes(d.count(1))) }

func (d *dec) event() *event.Event {
	ev := &event.Event{Stream: d.str(), ID: d.str(), Time: d.varint(), Seq: d.uvarint()}
	line := d.varint()
	if line < 0 || line > math.MaxInt32 {
		d.fail("bad line number")
	}
	ev.Line = int(line)
	if raw := d.bytes(d.count(1)); len(raw) > 0 {
		ev.Raw = append([]byte(nil), raw...)
		fs, err := fieldsOf(ev.Raw)
		if err != nil {
			d.fail("event: " + err.Error())
		}
		ev.Fields = fs
	}
	if d.err != nil {
		return nil
	}
	return ev
}

// fieldsOf decodes a buffered event's fields from its raw JSON. The event
// time and id were stored beside it, so the line is wrapped in an object
// that only supplies a time for the decoder to find.
func fieldsOf(raw []byte) ([]event.Field, error) {
	line := make([]byte, 0, len(raw)+16)
	line = append(line, `{"t":0,"v":`...)
	line = append(line, raw...)
	line = append(line, '}')
	dec := event.Decoder{TimeField: "t"}
	ev, err := dec.Decode(line)
	if err != nil {
		return nil, err
	}
	v, _ := ev.Get("v")
	if v.Kind() != event.Object {
		return nil, errors.New("not a JSON object")
	}
	return v.Fields(), nil
}
