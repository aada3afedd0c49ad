package window

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/cep-project/cep/event"
)

// enc and dec are a minimal varint encoding; dec records the first error
// and returns zero values after it, so decoders read straight through.
type enc struct {
	b   []byte
	err error
}

func (e *enc) uvarint(x uint64) { e.b = binary.AppendUvarint(e.b, x) }
func (e *enc) varint(x int64)   { e.b = binary.AppendVarint(e.b, x) }
func (e *enc) float(x float64)  { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(x)) }
func (e *enc) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(b []byte)   { e.uvarint(uint64(len(b))); e.b = append(e.b, b...) }

func (e *enc) bool(x bool) {
	if x {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *enc) events(evs []*event.Event) {
	e.uvarint(uint64(len(evs)))
	for _, ev := range evs {
		e.str(ev.Stream)
		e.str(ev.ID)
		e.varint(ev.Time)
		e.uvarint(ev.Seq)
		e.varint(int64(ev.Line))
		e.bytes(ev.Raw)
	}
}

func (e *enc) results(rs []*Result) {
	e.uvarint(uint64(len(rs)))
	for _, r := range rs {
		e.str(r.Key)
		e.varint(r.Start)
		e.varint(r.End)
		e.uvarint(uint64(len(r.Values)))
		for _, v := range r.Values {
			e.float(v)
		}
		e.varint(r.Count)
		e.events(r.Evidence)
		e.uvarint(uint64(r.Revision))
		e.results(r.Corrects)
	}
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

// maxTime bounds the times a snapshot may hold (±146 years around 1970),
// so that adding a window size to one cannot overflow.
const maxTime = int64(1) << 62

// time reads an event or window time.
func (d *dec) time() int64 {
	t := d.varint()
	if t < -maxTime || t > maxTime {
		d.fail("time out of range")
		return 0
	}
	return t
}

func (d *dec) float() float64 {
	b := d.bytes(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

func (d *dec) str() string { return string(d.bytes(d.count(1))) }

func (d *dec) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad bool")
	return false
}

func (d *dec) events() []*event.Event {
	n := d.count(6)
	var out []*event.Event
	for i := 0; i < n && d.err == nil; i++ {
		ev := &event.Event{Stream: d.str(), ID: d.str(), Time: d.varint(), Seq: d.uvarint(), Line: int(d.varint())}
		if raw := d.bytes(d.count(1)); len(raw) > 0 {
			ev.Raw = append([]byte(nil), raw...)
			fs, err := fieldsOf(ev.Raw)
			if err != nil {
				d.fail("evidence event: " + err.Error())
			}
			ev.Fields = fs
		}
		if i > 0 && !out[i-1].Before(ev) {
			d.fail("evidence out of order")
		}
		out = append(out, ev)
	}
	return out
}

func (d *dec) results(depth int) []*Result {
	n := d.count(8)
	var out []*Result
	for i := 0; i < n && d.err == nil; i++ {
		r := &Result{Key: d.str(), Start: d.time(), End: d.time()}
		r.Values = make([]float64, d.count(8))
		for j := range r.Values {
			r.Values[j] = d.float()
		}
		r.Count = d.varint()
		r.Evidence = d.events()
		r.Revision = int(d.uvarint())
		if depth > 0 {
			r.Corrects = d.results(depth - 1)
		} else if d.count(8) != 0 {
			d.fail("corrections nested too deep")
		}
		out = append(out, r)
	}
	return out
}

// fieldsOf decodes an evidence event's fields from its raw JSON. The event
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
