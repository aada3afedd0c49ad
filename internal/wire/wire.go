// Package wire is the binary encoding that detector snapshots (sequences,
// windows, joins) are written in: varints, fixed-width floats,
// length-prefixed strings and bytes, and buffered events.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"unsafe"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/jsonx"
)

// Enc appends values to B. Err is the first value that could not be
// written; the encoder writes on after it, and the caller checks Err once.
type Enc struct {
	B   []byte
	Err error
}

func (e *Enc) Uvarint(x uint64) { e.B = binary.AppendUvarint(e.B, x) }
func (e *Enc) Varint(x int64)   { e.B = binary.AppendVarint(e.B, x) }
func (e *Enc) Float(x float64)  { e.B = binary.LittleEndian.AppendUint64(e.B, math.Float64bits(x)) }
func (e *Enc) Str(s string)     { e.Uvarint(uint64(len(s))); e.B = append(e.B, s...) }
func (e *Enc) Bytes(b []byte)   { e.Uvarint(uint64(len(b))); e.B = append(e.B, b...) }

func (e *Enc) Bool(x bool) {
	if x {
		e.B = append(e.B, 1)
	} else {
		e.B = append(e.B, 0)
	}
}

// Event writes an event's stream, id, time, sequence number, line number
// and raw JSON (its line unpacked, for a held event whose line was packed:
// a snapshot does not depend on the Packer); its fields are decoded again
// from the raw JSON (Dec.Event). An event without a raw line (one built in
// code rather than decoded) is written with a JSON rendering of its fields
// in its place, so its fields survive: the event comes back with that
// rendering as its raw line.
func (e *Enc) Event(ev *event.Event) {
	e.Str(ev.Stream)
	e.Str(ev.ID)
	e.Varint(ev.Time)
	e.Uvarint(ev.Seq)
	e.Varint(int64(ev.Line))
	if len(ev.Raw) > 0 || len(ev.Fields) == 0 {
		e.Bytes(ev.RawLine())
		return
	}
	js, err := jsonx.AppendFields(nil, ev.Fields)
	if err != nil && e.Err == nil {
		e.Err = fmt.Errorf("event %s: %w", ev.ID, err)
	}
	e.Bytes(js)
}

// Dec reads values from B. It records the first error in Err and returns
// zero values after it, so decoders read straight through and check Err
// once. It never reads past the end of B nor panics, whatever B holds.
type Dec struct {
	B   []byte // what is left to read
	Err error
}

// Fail records msg as the error, unless there is one already.
func (d *Dec) Fail(msg string) {
	if d.Err == nil {
		d.Err = errors.New(msg)
	}
}

// Next reads n bytes. The slice returned shares B's array, capped at n.
func (d *Dec) Next(n int) []byte {
	if d.Err != nil || n < 0 || n > len(d.B) {
		d.Fail("truncated")
		return nil
	}
	b := d.B[:n:n]
	d.B = d.B[n:]
	return b
}

func (d *Dec) Byte() byte {
	if b := d.Next(1); b != nil {
		return b[0]
	}
	return 0
}

// Uvarint reads what Enc.Uvarint wrote. A varint longer than its value
// needs (0x80 0x00 for 0) fails as Enc never writes one: bytes that
// decode alike would otherwise differ, and what is read would not be
// what writing it again gives.
func (d *Dec) Uvarint() uint64 {
	if d.Err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.B)
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	if n != uvarintLen(x) {
		d.Fail("varint longer than its value")
		return 0
	}
	d.B = d.B[n:]
	return x
}

// uvarintLen is the length of x's shortest encoding, the one
// binary.AppendUvarint writes.
func uvarintLen(x uint64) int { return max(1, (bits.Len64(x)+6)/7) }

func (d *Dec) Varint() int64 {
	if d.Err != nil {
		return 0
	}
	x, n := binary.Varint(d.B)
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	if n != uvarintLen(uint64(x)<<1^uint64(x>>63)) {
		d.Fail("varint longer than its value")
		return 0
	}
	d.B = d.B[n:]
	return x
}

// Count reads a length and checks it against the bytes left, each element
// taking at least least bytes, so a corrupt length cannot make the caller
// allocate.
func (d *Dec) Count(least int) int {
	n := d.Uvarint()
	if d.Err == nil && n > uint64(len(d.B)/max(least, 1)) {
		d.Fail("length past the end")
		return 0
	}
	return int(n)
}

// Str reads what Enc.Str wrote.
func (d *Dec) Str() string { return string(d.Bytes()) }

// Bytes reads what Enc.Bytes wrote. The slice returned shares B's array.
func (d *Dec) Bytes() []byte { return d.Next(d.Count(1)) }

func (d *Dec) Float() float64 {
	b := d.Next(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

func (d *Dec) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail("bad bool")
	return false
}

// Raw reads the raw JSON that Enc.Event wrote, copied out of B, and the
// fields decoded from it. JSON that is not an object fails d with what,
// a colon and the reason.
func (d *Dec) Raw(what string) ([]byte, []event.Field) {
	b := d.Bytes()
	if len(b) == 0 {
		return nil, nil
	}
	raw := append([]byte(nil), b...)
	fs, err := Fields(raw)
	if err != nil {
		d.Fail(what + ": " + err.Error())
	}
	return raw, fs
}

// Event reads what Enc.Event wrote: an event whose values are decoded
// from its line when first read (event.Stored), so that a detector that
// holds it can hold it without them (event.Event.Hold). JSON that is not
// an object, or a negative line number, fails d with what, a colon and the
// reason; the event time is not range-checked, which is the caller's to do
// if it adds to it.
func (d *Dec) Event(what string) *event.Event {
	stream, id, t, seq := d.Str(), d.Str(), d.Varint(), d.Uvarint()
	line := d.Varint()
	if line < 0 || line > math.MaxInt32 {
		d.Fail(what + ": bad line number")
	}
	ev := &event.Event{}
	if b := d.Bytes(); len(b) > 0 && d.Err == nil {
		stored, err := event.Stored(append([]byte(nil), b...))
		if err != nil {
			d.Fail(what + ": " + err.Error())
		} else {
			ev = stored
		}
	}
	ev.Stream, ev.ID, ev.Time, ev.Seq, ev.Line = stream, id, t, seq, int(line)
	return ev
}

// EventMinBytes is the least an event takes in the encoding: five varints
// and a length.
const EventMinBytes = 6

// Memory estimates, in bytes, of what an event holds: the Event struct,
// and each decoded Field (a key and a 40-byte Value).
const (
	eventStructBytes = int64(unsafe.Sizeof(event.Event{}))
	fieldBytes       = int64(unsafe.Sizeof(event.Field{}))
)

// MemSize estimates the memory an event holds: its struct, its raw line
// and its decoded fields, the top level and the members of top-level
// objects and arrays (deeper members are left out: the estimate stays a
// short loop, as detectors charge it on their hot paths). Decoded strings
// share the raw line, so they are not counted again. Detector state
// libraries charge it to their state for each event they keep, so that
// state is bounded in bytes. A held event (event.Event.Hold) is charged
// for the index of its line that its first thaw makes, too.
func MemSize(ev *event.Event) int64 {
	n := int64(len(ev.Fields))
	for i := range ev.Fields {
		if k := ev.Fields[i].Kind(); k == event.Object || k == event.Array {
			n += int64(ev.Fields[i].Len())
		}
	}
	return eventStructBytes + int64(cap(ev.Raw)) + n*fieldBytes + int64(ev.IndexBytes())
}

// MaxTime bounds the times a snapshot may hold (±146 years around 1970),
// so that adding a window size or a join's within to one cannot overflow.
const MaxTime = int64(1) << 62

// Time reads an event or window time, failing past MaxTime.
func (d *Dec) Time() int64 {
	t := d.Varint()
	if t < -MaxTime || t > MaxTime {
		d.Fail("time out of range")
		return 0
	}
	return t
}

// Fields decodes a stored event's fields from its raw JSON. The event time
// and id were stored beside it, so the line is wrapped in an object that
// only supplies a time for the decoder to find.
func Fields(raw []byte) ([]event.Field, error) {
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
