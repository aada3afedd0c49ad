package event

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// DefaultTimeFields are tried in order when a stream names no time field.
var DefaultTimeFields = []string{"@timestamp", "timestamp", "ts", "time"}

// DefaultIDField is the id field used when a stream names none.
const DefaultIDField = "id"

// DefaultEarliestTime is the earliest event time a Decoder accepts unless
// told otherwise. Telemetry from before 1970 is a broken clock or a field
// that is not a time, and one such event would hold a stream's event time
// back for nothing.
var DefaultEarliestTime = time.Unix(0, 0).UTC()

// clampNS is t in Unix nanoseconds, def for the zero time, and never
// beyond what an event time can hold.
func clampNS(t, def time.Time) int64 {
	if t.IsZero() {
		t = def
	}
	switch {
	case t.Before(MinTime):
		t = MinTime
	case t.After(MaxTime):
		t = MaxTime
	}
	return t.UnixNano()
}

// maxDepth bounds the nesting of objects and arrays, so a hostile line cannot
// exhaust the stack.
const maxDepth = 64

// Error is a line that could not be decoded into an event. Column is 1-based
// and 0 when the problem is not at one place (a missing time field).
type Error struct {
	Column int
	Msg    string
}

func (e *Error) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("column %d: %s", e.Column, e.Msg)
	}
	return e.Msg
}

// Decoder decodes JSON lines into events of one stream. A Decoder keeps
// scratch buffers between calls, so it is not safe for concurrent use; use
// one per input.
type Decoder struct {
	// Stream names the stream of every event decoded.
	Stream string
	// TimeField is the dotted path of the event-time field; empty means the
	// first present of DefaultTimeFields.
	TimeField string
	// IDField is the dotted path of the id field; empty means DefaultIDField.
	// Events without it get a stable hash of their line.
	IDField string
	// EarliestTime and LatestTime bound the event times accepted; an event
	// outside them is malformed. The zero value means DefaultEarliestTime
	// and MaxTime. A time int64 nanoseconds cannot hold is malformed
	// whatever the bounds.
	EarliestTime, LatestTime time.Time

	minNS   int64
	maxNS   int64
	seq     uint64
	hint    int
	esc     []byte
	timeKey []string
	idKey   []string
	ready   bool
}

func (d *Decoder) init() {
	if d.TimeField != "" {
		d.timeKey = strings.Split(d.TimeField, ".")
	}
	id := d.IDField
	if id == "" {
		id = DefaultIDField
	}
	d.idKey = strings.Split(id, ".")
	d.minNS, d.maxNS = clampNS(d.EarliestTime, DefaultEarliestTime), clampNS(d.LatestTime, MaxTime)
	d.ready = true
}

// Decode decodes one JSON line into an event. The line is copied; the caller
// may reuse it. Line numbers are the caller's to set.
func (d *Decoder) Decode(line []byte) (*Event, error) {
	if !d.ready {
		d.init()
	}
	raw := trimSpace(line)
	if len(raw) == 0 {
		return nil, &Error{Column: 1, Msg: "empty line"}
	}
	owned := make([]byte, len(raw))
	copy(owned, raw)
	p := parser{buf: owned, d: d}
	p.skipSpace()
	if p.pos >= len(p.buf) || p.buf[p.pos] != '{' {
		return nil, p.errorf("an event must be a JSON object")
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.buf) {
		return nil, p.errorf("unexpected %s after the object", quoteByte(p.buf[p.pos]))
	}
	ev := &Event{Stream: d.Stream, Raw: owned, Fields: v.sub()}
	if err := d.stamp(ev); err != nil {
		return nil, err
	}
	d.seq++
	ev.Seq = d.seq
	return ev, nil
}

func (d *Decoder) stamp(ev *Event) error {
	var (
		name string
		v    Value
		ok   bool
	)
	if d.timeKey != nil {
		name = d.TimeField
		if v, ok = ev.Path(d.timeKey...); !ok {
			return &Error{Msg: fmt.Sprintf("no event time: field %q is missing", d.TimeField)}
		}
	} else {
		for _, k := range DefaultTimeFields {
			if v, ok = ev.Get(k); ok {
				name = k
				break
			}
		}
		if !ok {
			return &Error{Msg: "no event time: none of the fields @timestamp, timestamp, ts, time is present (set time_field for this stream)"}
		}
	}
	t, err := ParseTime(v)
	if err != nil {
		return &Error{Msg: fmt.Sprintf("field %q: %v", name, err)}
	}
	if t < d.minNS || t > d.maxNS {
		return &Error{Msg: fmt.Sprintf("field %q: event time %s is outside the accepted range %s to %s", name,
			formatNS(t), formatNS(d.minNS), formatNS(d.maxNS))}
	}
	ev.Time = t
	if v, ok := ev.Path(d.idKey...); ok && (v.kind == String || v.kind == Number) && v.Text() != "" {
		ev.ID = v.Text()
	} else {
		ev.ID = hashID(ev.Raw)
	}
	return nil
}

func formatNS(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// hashID is the id of an event without an id field: 16 hex digits of the
// xxhash of its line, stable across runs and machines.
func hashID(raw []byte) string {
	const hexdigits = "0123456789abcdef"
	h := xxhash.Sum64(raw)
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexdigits[h&0xf]
		h >>= 4
	}
	return string(b[:])
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

type parser struct {
	buf []byte // owned by the event; strings without escapes point into it
	pos int
	d   *Decoder
}

func (p *parser) errorf(format string, args ...any) error {
	return &Error{Column: p.pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.buf) && isSpace(p.buf[p.pos]) {
		p.pos++
	}
}

func (p *parser) value(depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, p.errorf("nesting deeper than %d", maxDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.buf) {
		return Value{}, p.errorf("unexpected end of line")
	}
	switch c := p.buf[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		return Value{kind: String, str: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return Value{kind: Bool, num: 1}, p.literal("true")
	case c == 'f':
		return Value{kind: Bool}, p.literal("false")
	case c == 'n':
		return Value{}, p.literal("null")
	default:
		return Value{}, p.errorf("unexpected %s", quoteByte(c))
	}
}

func (p *parser) literal(word string) error {
	if len(p.buf)-p.pos < len(word) || string(p.buf[p.pos:p.pos+len(word)]) != word {
		return p.errorf("invalid literal, expected %s", word)
	}
	p.pos += len(word)
	return nil
}

// object parses members straight into the object's own slice. The
// decoder remembers how many members the last top-level object had: events
// of a stream share a shape, so that slice is allocated once at the right
// size and never copied.
func (p *parser) object(depth int) (Value, error) {
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.buf) && p.buf[p.pos] == '}' {
		p.pos++
		return composite(Object, nil), nil
	}
	hint := 4
	if depth == 0 && p.d.hint > 0 {
		hint = p.d.hint
	}
	fs := make([]Field, 0, hint)
	for {
		p.skipSpace()
		if p.pos >= len(p.buf) {
			return Value{}, p.errorf("unexpected end of line inside an object")
		}
		if p.buf[p.pos] != '"' {
			return Value{}, p.errorf("expected a member name in quotes, found %s", quoteByte(p.buf[p.pos]))
		}
		key, err := p.str()
		if err != nil {
			return Value{}, err
		}
		p.skipSpace()
		if p.pos >= len(p.buf) || p.buf[p.pos] != ':' {
			return Value{}, p.errorf("expected ':' after member name %q", key)
		}
		p.pos++
		v, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		fs = append(fs, Field{Key: key, Value: v})
		p.skipSpace()
		if p.pos >= len(p.buf) {
			return Value{}, p.errorf("unexpected end of line inside an object")
		}
		switch p.buf[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			if depth == 0 {
				p.d.hint = len(fs)
			}
			return composite(Object, fs), nil
		default:
			return Value{}, p.errorf("expected ',' or '}' after a member, found %s", quoteByte(p.buf[p.pos]))
		}
	}
}

func (p *parser) array(depth int) (Value, error) {
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.buf) && p.buf[p.pos] == ']' {
		p.pos++
		return composite(Array, nil), nil
	}
	fs := make([]Field, 0, 4)
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		fs = append(fs, Field{Value: v})
		p.skipSpace()
		if p.pos >= len(p.buf) {
			return Value{}, p.errorf("unexpected end of line inside an array")
		}
		switch p.buf[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return composite(Array, fs), nil
		default:
			return Value{}, p.errorf("expected ',' or ']' after an element, found %s", quoteByte(p.buf[p.pos]))
		}
	}
}

// str parses a string. Without escapes the result shares the event's owned
// line (no allocation); the line is never written after decoding.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	ascii := true
	for p.pos < len(p.buf) {
		c := p.buf[p.pos]
		switch {
		case c == '"':
			s := p.buf[start:p.pos]
			p.pos++
			if !ascii && !utf8.Valid(s) {
				return string(validUTF8(nil, s)), nil
			}
			return unsafe.String(unsafe.SliceData(s), len(s)), nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", p.errorf("control character %s in a string", quoteByte(c))
		case c >= 0x80:
			ascii = false
		}
		p.pos++
	}
	return "", &Error{Column: start, Msg: "unterminated string"}
}

// escaped finishes a string that has escapes, decoding it into a new buffer.
func (p *parser) escaped(start int) (string, error) {
	out := validUTF8(p.d.esc[:0], p.buf[start:p.pos])
	for p.pos < len(p.buf) {
		c := p.buf[p.pos]
		switch {
		case c == '"':
			p.pos++
			p.d.esc = out
			return string(out), nil
		case c < 0x20:
			return "", p.errorf("control character %s in a string", quoteByte(c))
		case c == '\\':
			if p.pos+1 >= len(p.buf) {
				return "", p.errorf("unterminated escape")
			}
			e := p.buf[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if p.pos+1 < len(p.buf) && p.buf[p.pos] == '\\' && p.buf[p.pos+1] == 'u' {
						save := p.pos
						p.pos += 2
						lo, err := p.hex4()
						if err != nil {
							return "", err
						}
						if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
							r2 = d
						} else {
							p.pos = save
						}
					}
					r = r2
				}
				out = utf8.AppendRune(out, r)
			default:
				p.pos--
				return "", p.errorf("invalid escape %s", quoteByte(e))
			}
		default:
			// Copy a run of ordinary bytes, replacing invalid UTF-8 as
			// encoding/json does.
			j := p.pos
			for j < len(p.buf) && p.buf[j] != '"' && p.buf[j] != '\\' && p.buf[j] >= 0x20 {
				j++
			}
			out = validUTF8(out, p.buf[p.pos:j])
			p.pos = j
		}
	}
	return "", &Error{Column: start, Msg: "unterminated string"}
}

func (p *parser) hex4() (rune, error) {
	if len(p.buf)-p.pos < 4 {
		return 0, p.errorf("invalid \\u escape")
	}
	var r rune
	for _, c := range p.buf[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, p.errorf("invalid \\u escape")
		}
	}
	p.pos += 4
	return r, nil
}

// validUTF8 appends s to dst with every invalid byte replaced by U+FFFD.
func validUTF8(dst, s []byte) []byte {
	for len(s) > 0 {
		if s[0] < utf8.RuneSelf {
			dst = append(dst, s[0])
			s = s[1:]
			continue
		}
		r, n := utf8.DecodeRune(s)
		dst = utf8.AppendRune(dst, r)
		s = s[n:]
	}
	return dst
}

// number parses a JSON number. Integers of up to 15 digits, the common case
// of ids, counts and amounts in cents, skip strconv.
func (p *parser) number() (Value, error) {
	start := p.pos
	if p.buf[p.pos] == '-' {
		p.pos++
	}
	if p.pos >= len(p.buf) || p.buf[p.pos] < '0' || p.buf[p.pos] > '9' {
		return Value{}, p.errorf("invalid number")
	}
	simple := true
	if p.buf[p.pos] == '0' {
		p.pos++
	} else {
		for p.pos < len(p.buf) && p.buf[p.pos] >= '0' && p.buf[p.pos] <= '9' {
			p.pos++
		}
	}
	if p.pos < len(p.buf) && p.buf[p.pos] == '.' {
		simple = false
		p.pos++
		d := p.pos
		for p.pos < len(p.buf) && p.buf[p.pos] >= '0' && p.buf[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == d {
			return Value{}, p.errorf("invalid number: digits expected after '.'")
		}
	}
	if p.pos < len(p.buf) && (p.buf[p.pos] == 'e' || p.buf[p.pos] == 'E') {
		simple = false
		p.pos++
		if p.pos < len(p.buf) && (p.buf[p.pos] == '+' || p.buf[p.pos] == '-') {
			p.pos++
		}
		d := p.pos
		for p.pos < len(p.buf) && p.buf[p.pos] >= '0' && p.buf[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == d {
			return Value{}, p.errorf("invalid number: digits expected in exponent")
		}
	}
	text := p.buf[start:p.pos]
	if simple && len(text) <= 16 {
		neg := text[0] == '-'
		if neg {
			text = text[1:]
		}
		if len(text) <= 15 {
			var n int64
			for _, c := range text {
				n = n*10 + int64(c-'0')
			}
			f := float64(n)
			if neg {
				f = -f
			}
			return Value{kind: Number, num: f}, nil
		}
		text = p.buf[start:p.pos]
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(text), len(text)), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange && !math.IsInf(f, 0) {
			// Underflow to zero is not an error for JSON.
			return Value{kind: Number, num: f}, nil
		}
		return Value{}, &Error{Column: start + 1, Msg: "number out of range"}
	}
	return Value{kind: Number, num: f}, nil
}
