// Package event holds the event value that flows through cep: the decoded
// fields of one JSON line, the stream it came from, its event time and its id.
//
// Events are immutable once decoded, so every stage (detectors, windows,
// alert evidence) may hold a pointer to the same event without copying it.
package event

import (
	"math"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"
)

// Kind is the JSON type of a Value.
type Kind uint8

// The kinds of JSON values.
const (
	Null Kind = iota
	Bool
	Number
	String
	Object
	Array
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "bool"
	case Number:
		return "number"
	case String:
		return "string"
	case Object:
		return "object"
	case Array:
		return "array"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one decoded JSON value. Numbers are float64, as in CEL's and
// protobuf's view of JSON, so a rule sees the same type whether the producer
// wrote 500 or 500.0.
type Value struct {
	// ptr is a string's bytes or the first of an object's members or an
	// array's elements; word is a string's length or a number's (or a
	// boolean's) bits. One pointer and one word for what used to be a
	// string, a float64 and a pointer keep a Value at 24 bytes and a Field
	// at 40: decoding writes many of them, and detectors hold the events.
	ptr  unsafe.Pointer
	word uint64
	n    uint32
	kind Kind
	// part marks an object of a projected event that holds only its
	// projected members: the line's object has more.
	part bool
}

func (v Value) sub() []Field {
	if v.kind < Object || v.ptr == nil {
		return nil
	}
	return unsafe.Slice((*Field)(v.ptr), v.n)
}

func composite(k Kind, fs []Field) Value {
	return Value{kind: k, ptr: unsafe.Pointer(unsafe.SliceData(fs)), n: uint32(len(fs))}
}

func stringValue(s string) Value {
	return Value{kind: String, ptr: unsafe.Pointer(unsafe.StringData(s)), word: uint64(len(s))}
}

func numberValue(k Kind, f float64) Value {
	return Value{kind: k, word: math.Float64bits(f)}
}

// Field is one member of a JSON object.
type Field struct {
	Key string
	Value
}

// Kind reports the JSON type of v.
func (v Value) Kind() Kind { return v.kind }

// Partial reports whether v is an object of a projected event that holds
// only the members its projection names: the event's line has more. Its
// size, its members' names and its rendering are then not the line's;
// Event.Path returns the whole value.
func (v Value) Partial() bool { return v.part }

// Str returns the string of a String value, and "" otherwise.
func (v Value) Str() string {
	if v.kind != String {
		return ""
	}
	return unsafe.String((*byte)(v.ptr), int(v.word))
}

// Num returns the number of a Number value, and 0 otherwise.
func (v Value) Num() float64 { return v.num() }

// num is the number of a Number or Bool value (1 for true).
func (v Value) num() float64 {
	if v.kind != Number && v.kind != Bool {
		return 0
	}
	return math.Float64frombits(v.word)
}

// Bool returns the boolean of a Bool value, and false otherwise.
func (v Value) Bool() bool { return v.kind == Bool && v.word != 0 }

// Fields returns the members of an Object value in document order.
func (v Value) Fields() []Field {
	if v.kind != Object {
		return nil
	}
	return v.sub()
}

// Len returns the number of members of an object or elements of an array.
func (v Value) Len() int { return len(v.sub()) }

// Index returns element i of an Array value.
func (v Value) Index(i int) Value { return v.sub()[i].Value }

// Elem returns a pointer to element i of an Array value, which shares the
// event's memory.
func (v *Value) Elem(i int) *Value { return &v.sub()[i].Value }

// Get returns the member key of an Object value. When a key repeats, the last
// one wins, as with encoding/json.
func (v Value) Get(key string) (Value, bool) {
	if v.kind != Object {
		return Value{}, false
	}
	return lookup(v.sub(), key)
}

// Interface converts v to the types encoding/json produces: nil, bool,
// float64, string, map[string]any and []any.
func (v Value) Interface() any {
	switch v.kind {
	case Bool:
		return v.word != 0
	case Number:
		return v.num()
	case String:
		return v.Str()
	case Object:
		m := make(map[string]any, len(v.sub()))
		for _, f := range v.sub() {
			m[f.Key] = f.Interface()
		}
		return m
	case Array:
		a := make([]any, len(v.sub()))
		for i, f := range v.sub() {
			a[i] = f.Interface()
		}
		return a
	}
	return nil
}

// Text renders a scalar as text: strings as they are, numbers in their
// shortest form, booleans as true/false, null as "". Composite values render
// as "". It is how key values and ids are printed.
func (v Value) Text() string {
	switch v.kind {
	case String:
		return v.Str()
	case Number:
		return strconv.FormatFloat(v.num(), 'f', -1, 64)
	case Bool:
		if v.word != 0 {
			return "true"
		}
		return "false"
	}
	return ""
}

// StringValue returns a String value; it is how code outside this package
// builds events (tests, generators).
func StringValue(s string) Value { return stringValue(s) }

// NumberValue returns a Number value.
func NumberValue(n float64) Value { return numberValue(Number, n) }

// BoolValue returns a Bool value.
func BoolValue(b bool) Value {
	if b {
		return numberValue(Bool, 1)
	}
	return Value{kind: Bool}
}

// ObjectValue returns an Object value with the given members.
func ObjectValue(fields []Field) Value { return composite(Object, fields) }

// ArrayValue returns an Array value with the given elements.
func ArrayValue(elems []Value) Value {
	fs := make([]Field, len(elems))
	for i, e := range elems {
		fs[i].Value = e
	}
	return composite(Array, fs)
}

// ValueAt returns the value of fs's last member named key (a duplicate
// name's last value counts), in place, or nil. Path, walk and the native
// forms of rule conditions read through it: copying each member's value out took a third of the time of a Path
// of a projected event's top-level member (24.5 -> 16.7 ns).
func ValueAt(fs []Field, key string) *Value {
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].Key == key {
			return &fs[i].Value
		}
	}
	return nil
}

func lookup(fs []Field, key string) (Value, bool) {
	if v := ValueAt(fs, key); v != nil {
		return *v, true
	}
	return Value{}, false
}

// Event is one decoded event.
type Event struct {
	// Stream is the name of the input stream the event came from.
	Stream string
	// ID identifies the event: the id field when present, else a stable hash
	// of the line.
	ID string
	// Time is the event time in Unix nanoseconds.
	Time int64
	// Seq is the arrival order of the event in its stream, from 1. It breaks
	// ties between events with equal time so that replays are deterministic.
	Seq uint64
	// Line is the line number in the source the event was read from, or 0.
	Line int
	// Raw is the JSON text of the event as it was read. Alerts carry it
	// verbatim as evidence.
	Raw []byte
	// Fields are the top-level members in document order. For an event
	// decoded with a projection, only the projected ones, each object
	// holding only its projected members; Full has them all.
	Fields []Field
	// Prepared is what a consumer had worked out about the event before
	// it reached that consumer, on the goroutine that decoded it (see
	// Prepared); nil is nothing. A pointer, not a Prepared, keeps the
	// event's allocation in its size class. It is for the event's
	// dispatch: a copy (Detach, Hold) and a released event keep none.
	Prepared *Prepared

	lazy *lazyFields // for a projected event
	// at is a held event's index of its line's members (see lineIndex),
	// set by its first thaw; read and set atomically, since the shards
	// that share a held copy thaw it each on its own goroutine. An event
	// in a decoder's slab is never held: its at is the slab's count (see
	// Release). The header stays in the allocator's 128-byte size class.
	at unsafe.Pointer
}

// Prepared is work done on an event ahead of its consumer, such as the
// engine's stateless rule conditions evaluated on the decoding goroutines
// (correlate.Engine.Preparer). By names who did it, from NewPreparedBy, so
// that a consumer uses only its own results and falls back to working
// them out itself for any other event; Hits and Keys are the results, in
// a form only that consumer reads. It is not changed once set, so events
// may share one.
type Prepared struct {
	By   uint64
	Hits []int32
	Keys []PreparedKey
	// Packed is the event's line packed for the consumer to hold
	// (Packer.Prepack), or nil.
	Packed *Prepacked
	// Held is a held copy of the event (Hold) made for the consumer to
	// hold, or nil.
	Held *Event
}

// PreparedKey is work done ahead on an event for one of its consumer's
// keyed detectors, Det: the event's key there and verdicts on it, in the
// consumer's encodings.
type PreparedKey struct {
	Det     int32
	Decided uint64
	Key     []byte
}

var preparers atomic.Uint64

// NewPreparedBy returns a Prepared.By no other caller in the process has
// had, never 0.
func NewPreparedBy() uint64 { return preparers.Add(1) }

// Get returns the top-level field key, as a decode of the whole line
// would: for a projected event, a field the projection left out (or an
// object it kept only in part) is read from Full.
func (e *Event) Get(key string) (Value, bool) {
	v, ok := lookup(e.Fields, key)
	if !e.Projected() || (ok && !v.part) || (!ok && e.lazy.node.keeps(key)) {
		return v, ok
	}
	return lookup(e.Full(), key)
}

// Path returns the value at a dotted path of object members, such as
// "geo.lat", as a decode of the whole line would (see Get).
func (e *Event) Path(path ...string) (Value, bool) {
	if len(path) == 0 {
		return Value{}, false
	}
	if !e.Projected() {
		return walk(e.Fields, path)
	}
	n := e.lazy.node
	fs := e.Fields
	for i, k := range path {
		v := ValueAt(fs, k)
		if v == nil {
			if n.keeps(k) {
				return Value{}, false
			}
			break
		}
		if i == len(path)-1 {
			if !v.part {
				return *v, true
			}
			break
		}
		// Only a member on the way down needs its node: the last one's
		// value answers (or Full does).
		if n != nil && !n.all {
			n = n.child(k)
		}
		if v.kind != Object {
			// A projection keeps a scalar or an array on its paths
			// whole.
			return Value{}, false
		}
		if !v.part {
			return walk(v.sub(), path[i+1:])
		}
		fs = v.sub()
	}
	return walk(e.Full(), path)
}

// Keeps reports whether Fields holds the member at path whenever the
// event's line has it (whole or in part): always for an event that is not
// projected; for a projected one, when its projection names path or a
// path above it. A member missing from Fields that the event keeps is
// missing from the line.
func (e *Event) Keeps(path ...string) bool {
	if !e.Projected() {
		return true
	}
	n := e.lazy.node
	for _, k := range path[:max(len(path)-1, 0)] {
		if n.all {
			return true
		}
		if n = n.child(k); n == nil {
			return false
		}
	}
	return len(path) == 0 || n.keeps(path[len(path)-1])
}

func walk(fs []Field, path []string) (Value, bool) {
	if v := walkRef(fs, path); v != nil {
		return *v, true
	}
	return Value{}, false
}

// walkRef is walk's member itself, or nil.
func walkRef(fs []Field, path []string) *Value {
	v := ValueAt(fs, path[0])
	for _, k := range path[1:] {
		if v == nil || v.kind != Object {
			return nil
		}
		v = ValueAt(v.sub(), k)
	}
	return v
}

// Timestamp returns the event time as a time.Time in UTC.
func (e *Event) Timestamp() time.Time { return time.Unix(0, e.Time).UTC() }

// Before reports whether e comes before o in event-time order: by time, then
// stream name, then arrival order. Every merge of streams uses it, so that the
// same inputs always produce the same order.
func (e *Event) Before(o *Event) bool {
	if e.Time != o.Time {
		return e.Time < o.Time
	}
	if e.Stream != o.Stream {
		return e.Stream < o.Stream
	}
	return e.Seq < o.Seq
}
