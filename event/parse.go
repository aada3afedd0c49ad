package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Decoding a line takes two steps. The parser first builds every value in
// scratch memory that holds no pointers (so the garbage collector neither
// scans it nor makes writes to it pay a barrier): the members of an open
// object or array on a stack, and those of a closed one, contiguous, on a
// tape; strings as offsets into the line, or, when escapes or invalid
// UTF-8 force a decoded copy, into a text buffer; composites as an offset
// on the tape and a count. Then build allocates the event's memory once at
// its exact size (one slice of Field for every value at every level, one
// byte slice for the line, the decoded strings and the id), and turns the
// scratch into Fields there. A decoded event thus costs the same few
// allocations however wide or deep it is, and its size is known before it
// is built.

// sref is a string in scratch: n bytes at off in the line, or in the text
// when n has textBit, or the shared name of id off when n has nameBit.
type sref struct{ off, n uint32 }

const textBit = 1 << 31

// nameBit marks the name of a member that a projection named: off is the
// id of the projection's copy of the name (see Name), which the member's
// Field takes as its Key. (A field more in sfield, for the id, grew the
// scratch that every decode copies and cost a decode 5–10%.)
const nameBit = 1 << 30

// sval is a value in scratch. For a String ref is the string; for an
// Object or Array, ref.off is the offset of its members on the tape and
// ref.n their count.
type sval struct {
	num  float64
	ref  sref
	kind Kind
	part bool // an object that left out members (Value.part)
}

type sfield struct {
	key sref
	val sval
}

// scratch is what decoding one line needs until its event is built. A
// Decoder keeps one; Full takes one from a pool.
type scratch struct {
	stack []sfield // members of the composites being parsed
	tape  []sfield // members of closed composites, each contiguous
	text  []byte   // decoded strings
	ents  []byte   // the line index being made (parser.index)
	// shapes are the last top-level shapes of the projections decoded
	// with (see shape).
	shapes [2]shape
	// p is the line's parser (see parserFor).
	p parser
}

// parserFor returns s's parser, set to parse line under lim. It is set
// in place, field by field: a parser built as a value on the stack was
// built there and then copied, sixteen bytes at a time over its fields'
// eight-byte stores, loads the processor cannot forward from its store
// buffer and waits on (a twelfth of a screened line's decode).
func (s *scratch) parserFor(line []byte, lim *Limits) *parser {
	p := &s.p
	p.line, p.pos, p.s, p.lim, p.values, p.bytes = line, 0, s, lim, 0, len(line)
	p.index, p.room = false, nil
	// Zeroed in place: noted{} assigned was a zero copied from the stack,
	// its last load across two of the stores that zeroed it.
	clear(p.noted.time[:])
	p.noted.id = 0
	return p
}

func (s *scratch) reset() {
	s.stack, s.tape, s.text, s.ents = s.stack[:0], s.tape[:0], s.text[:0], s.ents[:0]
}

// Scratch beyond these sizes is dropped after a line, so that one large
// line does not pin its buffers in every decoder for good.
const (
	keepFields = 1 << 12
	keepBytes  = 1 << 16
)

func (s *scratch) trim() {
	// Nor does the parser keep the line, or the slab it built into.
	s.p.line, s.p.room = nil, nil
	if cap(s.stack) > keepFields {
		s.stack = nil
	}
	if cap(s.tape) > keepFields {
		s.tape = nil
	}
	if cap(s.text) > keepBytes {
		s.text = nil
	}
	if cap(s.ents) > keepFields {
		s.ents = nil
	}
}

type parser struct {
	line   []byte // the line being decoded, trimmed
	pos    int
	s      *scratch
	lim    *Limits
	values int // values so far, against lim.MaxValues
	bytes  int // memory of the event so far, against lim.MaxBytes
	// index, when set, has projObject note each top-level member in
	// s.ents (see lineIndex).
	index bool
	// room, when its capacity is enough, is where build copies the
	// event's bytes (a slab's; see slabs.event).
	room []byte
	// noted is where the members whose node has a stamp are.
	noted noted
}

// noted is where projObject found a Decoder's time keys and id among the
// top-level members (see projNode.stamp): time[i] is 1 + the index of the
// last member that is time key i, id that of the id; 0 for none.
type noted struct {
	time [8]int32
	id   int32
}

func (p *parser) errorf(format string, args ...any) error {
	return &Error{Column: p.pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.line) && isSpace(p.line[p.pos]) {
		p.pos++
	}
}

// count adds one value to the event's account, and reports whether it
// is within the limits (overLimit words why not). Small enough to be
// inlined into the parse's loops, which call it for every value.
func (p *parser) count() bool {
	p.values++
	p.bytes += ValueSize
	l := p.lim
	return p.values <= l.MaxValues && p.bytes <= l.MaxBytes
}

// overLimit is count's error.
func (p *parser) overLimit() error {
	if p.values > p.lim.MaxValues {
		return p.errorf("event has more than %d values (object members and array elements at every level)", p.lim.MaxValues)
	}
	return p.errorf("event takes more than %d bytes decoded (its line, %d bytes per value and copied strings)", p.lim.MaxBytes, ValueSize)
}

// copied accounts for a string that could not point into the line.
func (p *parser) copied(n int) error {
	p.bytes += n
	if p.bytes > p.lim.MaxBytes {
		return p.errorf("event takes more than %d bytes decoded (its line, %d bytes per value and copied strings)", p.lim.MaxBytes, ValueSize)
	}
	return nil
}

// root parses the line as one JSON object, every value of it.
func (p *parser) root() (sval, error) { return p.rootIn(nil) }

// rootIn parses the line as one JSON object, building only the values of
// node's paths when node is not nil.
func (p *parser) rootIn(node *projNode) (sval, error) {
	if p.bytes > p.lim.MaxBytes {
		return sval{}, &Error{Msg: fmt.Sprintf("event takes more than %d bytes decoded: its line alone has %d", p.lim.MaxBytes, p.bytes)}
	}
	p.skipSpace()
	if p.pos >= len(p.line) || p.line[p.pos] != '{' {
		return sval{}, p.errorf("an event must be a JSON object")
	}
	var (
		v   sval
		err error
	)
	if node != nil {
		v, err = p.projObject(node, 0)
	} else {
		v, err = p.value(0)
	}
	if err != nil {
		return sval{}, err
	}
	p.skipSpace()
	if p.pos != len(p.line) {
		return sval{}, p.errorf("unexpected %s after the object", quoteByte(p.line[p.pos]))
	}
	return v, nil
}

func (p *parser) value(depth int) (sval, error) {
	if depth > p.lim.MaxDepth {
		return sval{}, p.errorf("nesting deeper than %d", p.lim.MaxDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.line) {
		return sval{}, p.errorf("unexpected end of line")
	}
	switch c := p.line[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		r, err := p.str()
		return sval{kind: String, ref: r}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return sval{kind: Bool, num: 1}, p.literal("true")
	case c == 'f':
		return sval{kind: Bool}, p.literal("false")
	case c == 'n':
		return sval{}, p.literal("null")
	default:
		return sval{}, p.errorf("unexpected %s", quoteByte(c))
	}
}

func (p *parser) literal(word string) error {
	if len(p.line)-p.pos < len(word) || string(p.line[p.pos:p.pos+len(word)]) != word {
		return p.errorf("invalid literal, expected %s", word)
	}
	p.pos += len(word)
	return nil
}

// closeComposite moves the members above mark from the stack to the tape.
func (p *parser) closeComposite(k Kind, mark int) sval {
	s := p.s
	n := len(s.stack) - mark
	if n == 0 {
		return sval{kind: k}
	}
	off := len(s.tape)
	s.tape = append(s.tape, s.stack[mark:]...)
	s.stack = s.stack[:mark]
	return sval{kind: k, ref: sref{off: uint32(off), n: uint32(n)}}
}

func (p *parser) object(depth int) (sval, error) {
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.line) && p.line[p.pos] == '}' {
		p.pos++
		return sval{kind: Object}, nil
	}
	mark := len(p.s.stack)
	for {
		key, err := p.member()
		if err != nil {
			return sval{}, err
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return sval{}, err
		}
		p.s.stack = append(p.s.stack, sfield{key: key, val: v})
		if p.comma() {
			continue
		}
		if done, err := p.next('}', "a member", "object"); err != nil {
			return sval{}, err
		} else if done {
			return p.closeComposite(Object, mark), nil
		}
	}
}

// member parses a member name and its colon, and counts the member.
func (p *parser) member() (sref, error) {
	p.skipSpace()
	if p.pos >= len(p.line) {
		return sref{}, p.errorf("unexpected end of line inside an object")
	}
	if p.line[p.pos] != '"' {
		return sref{}, p.errorf("expected a member name in quotes, found %s", quoteByte(p.line[p.pos]))
	}
	if !p.count() {
		return sref{}, p.overLimit()
	}
	key, err := p.str()
	if err != nil {
		return sref{}, err
	}
	p.skipSpace()
	if p.pos >= len(p.line) || p.line[p.pos] != ':' {
		return sref{}, p.errorf("expected ':' after member name %q", p.view(key))
	}
	p.pos++
	return key, nil
}

// comma consumes a comma right after a member or element, most values'
// end, and reports whether there was one: inlined where they end, where
// next, which also takes space and errors, was a call for every value (a
// twentieth of a screened decode).
func (p *parser) comma() bool {
	if p.pos < len(p.line) && p.line[p.pos] == ',' {
		p.pos++
		return true
	}
	return false
}

// next consumes the ',' or closing bracket after a member or element and
// reports whether it was the closing one.
func (p *parser) next(end byte, what, inside string) (bool, error) {
	p.skipSpace()
	if p.pos >= len(p.line) {
		return false, p.errorf("unexpected end of line inside an %s", inside)
	}
	switch p.line[p.pos] {
	case ',':
		p.pos++
		return false, nil
	case end:
		p.pos++
		return true, nil
	}
	return false, p.errorf("expected ',' or '%c' after %s, found %s", end, what, quoteByte(p.line[p.pos]))
}

func (p *parser) array(depth int) (sval, error) {
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.line) && p.line[p.pos] == ']' {
		p.pos++
		return sval{kind: Array}, nil
	}
	mark := len(p.s.stack)
	for {
		p.skipSpace()
		if !p.count() {
			return sval{}, p.overLimit()
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return sval{}, err
		}
		p.s.stack = append(p.s.stack, sfield{val: v})
		if p.comma() {
			continue
		}
		if done, err := p.next(']', "an element", "array"); err != nil {
			return sval{}, err
		} else if done {
			return p.closeComposite(Array, mark), nil
		}
	}
}

// str parses a string: a reference into the line or, when escapes or
// invalid UTF-8 force a decoded copy, into the text, where the copy is
// appended and accounted.
func (p *parser) str() (sref, error) {
	p.pos++ // opening quote
	start := p.pos
	i, high := scanString(p.line, start)
	p.pos = i
	if i == len(p.line) {
		return sref{}, &Error{Column: start, Msg: "unterminated string"}
	}
	mark := len(p.s.text)
	switch c := p.line[i]; c {
	case '"':
		b := p.line[start:i]
		p.pos++
		if !high || utf8.Valid(b) {
			return sref{off: uint32(start), n: uint32(len(b))}, nil
		}
		p.s.text = validUTF8(p.s.text, b)
	case '\\':
		out, err := p.unescape(p.s.text, start)
		p.s.text = out
		if err != nil {
			return sref{}, err
		}
	default:
		return sref{}, p.errorf("control character %s in a string", quoteByte(c))
	}
	n := len(p.s.text) - mark
	if err := p.copied(n); err != nil {
		return sref{}, err
	}
	return sref{off: uint32(mark), n: uint32(n) | textBit}, nil
}

// view is a scratch string, valid until the text grows.
func (p *parser) view(r sref) string {
	n := int(r.n &^ textBit)
	switch {
	case n == 0:
		return ""
	case r.n&textBit != 0:
		return unsafe.String(&p.s.text[r.off], n)
	}
	return unsafe.String(&p.line[r.off], n)
}

// drop forgets the text of a string that is not kept (its account stays:
// a full decode keeps it).
func (p *parser) drop(r sref) {
	if r.n&textBit != 0 {
		p.s.text = p.s.text[:r.off]
	}
}

// Bytes of a word, for scanString.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// scanString returns the index of the first '"', '\\' or control
// character at or after i, or len(b), and whether a byte of 0x80 or more
// comes before it. It reads eight bytes at a time: strings are most of a
// line, and most of what a projected decode does is step over them.
func scanString(b []byte, i int) (int, bool) {
	var high uint64
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		// A flag in the high bit of every byte that is a quote, a
		// backslash or below 0x20. Borrows only run upwards from a true
		// match, so the lowest flag is exact.
		m := zeroBytes(w^(ones*'"')) | zeroBytes(w^(ones*'\\')) | (w-ones*0x20)&^w&highs
		if m != 0 {
			high |= w & highs & (m&-m - 1)
			return i + bits.TrailingZeros64(m)>>3, high != 0
		}
		high |= w & highs
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c == '"' || c == '\\' || c < 0x20 {
			break
		}
		high |= uint64(c) & 0x80
	}
	return i, high != 0
}

// zeroBytes flags the zero bytes of x in their high bits (and, above a
// zero byte, maybe others).
func zeroBytes(x uint64) uint64 { return (x - ones) &^ x & highs }

// unescape appends the decoded string that starts at start (after its
// opening quote) to out, from the first escape at p.pos on, and leaves
// p.pos after the closing quote.
func (p *parser) unescape(out []byte, start int) ([]byte, error) {
	out = validUTF8(out, p.line[start:p.pos])
	for p.pos < len(p.line) {
		c := p.line[p.pos]
		switch {
		case c == '"':
			p.pos++
			return out, nil
		case c < 0x20:
			return out, p.errorf("control character %s in a string", quoteByte(c))
		case c == '\\':
			if p.pos+1 >= len(p.line) {
				return out, p.errorf("unterminated escape")
			}
			e := p.line[p.pos+1]
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
				r, err := p.escapedRune()
				if err != nil {
					return out, err
				}
				out = utf8.AppendRune(out, r)
			default:
				p.pos--
				return out, p.errorf("invalid escape %s", quoteByte(e))
			}
		default:
			// Copy a run of ordinary bytes, replacing invalid UTF-8 as
			// encoding/json does.
			j, high := scanString(p.line, p.pos)
			if high {
				out = validUTF8(out, p.line[p.pos:j])
			} else {
				out = append(out, p.line[p.pos:j]...)
			}
			p.pos = j
		}
	}
	return out, &Error{Column: start, Msg: "unterminated string"}
}

// escapedRune reads the hex digits of a \u escape, and a second escape
// when the first is a UTF-16 surrogate. An unpaired surrogate becomes
// U+FFFD, as in encoding/json.
func (p *parser) escapedRune() (rune, error) {
	r, err := p.hex4()
	if err != nil || !utf16.IsSurrogate(r) {
		return r, err
	}
	if p.pos+1 < len(p.line) && p.line[p.pos] == '\\' && p.line[p.pos+1] == 'u' {
		save := p.pos
		p.pos += 2
		lo, err := p.hex4()
		if err != nil {
			return 0, err
		}
		if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
			return d, nil
		}
		p.pos = save
	}
	return utf8.RuneError, nil
}

func (p *parser) hex4() (rune, error) {
	if len(p.line)-p.pos < 4 {
		return 0, p.errorf("invalid \\u escape")
	}
	var r rune
	for _, c := range p.line[p.pos : p.pos+4] {
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

// numberEnd scans a JSON number from p.pos and reports whether it has an
// exponent.
func (p *parser) numberEnd() (exp bool, err error) {
	// Locals, not p.pos: the loops run over a line's longest numbers
	// (epoch times of thirteen digits), a tenth of a screened decode.
	b, i := p.line, p.pos
	if b[i] == '-' {
		i++
	}
	if i >= len(b) || b[i]-'0' > 9 {
		p.pos = i
		return false, p.errorf("invalid number")
	}
	if b[i] == '0' {
		i++
	} else {
		i = digitsEnd(b, i+1)
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		if i = digitsEnd(b, i); i == d {
			p.pos = i
			return false, p.errorf("invalid number: digits expected after '.'")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		exp = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		if i = digitsEnd(b, i); i == d {
			p.pos = i
			return false, p.errorf("invalid number: digits expected in exponent")
		}
	}
	p.pos = i
	return exp, nil
}

// digitsEnd returns where the run of ASCII digits from b[i] on ends,
// eight bytes at a time.
func digitsEnd(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		// A flag in the high bit of every byte that is not a digit: below
		// '0' the subtraction borrows, above '9' the addition reaches
		// 0x80 (or the byte had its high bit already). Borrows and carries
		// only run upwards from a flagged byte, so the lowest is exact.
		if m := ((w - ones*'0') | (w + ones*(0x80-'9'-1)) | w) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && b[i]-'0' <= 9 {
		i++
	}
	return i
}

// number parses a JSON number. Those of up to 15 digits without an
// exponent, the common case of ids, counts, amounts and coordinates, skip
// strconv (shortNumber).
func (p *parser) number() (sval, error) {
	start := p.pos
	exp, err := p.numberEnd()
	if err != nil {
		return sval{}, err
	}
	text := p.line[start:p.pos]
	if !exp && len(text) <= 17 {
		if f, ok := shortNumber(text); ok {
			return sval{kind: Number, num: f}, nil
		}
	}
	f, err := parseFloat(text)
	if err != nil {
		return sval{}, &Error{Column: start + 1, Msg: "number out of range"}
	}
	return sval{kind: Number, num: f}, nil
}

// shortNumber reads a valid number without an exponent of at most 15
// digits, such as 40.4168: its digits as an integer are exact in a
// float64, and so is the power of ten that places its point, so one
// division rounds as ParseFloat does (Clinger's fast path, which
// ParseFloat also takes, after a general scan that cost a thaw of a
// login's place a tenth of its time).
func shortNumber(text []byte) (float64, bool) {
	neg := text[0] == '-'
	if neg {
		text = text[1:]
	}
	// The integer part, then the fraction's digits: one loop with a test
	// for the point at each digit took a twentieth of a filter
	// scenario's decode.
	var m int64
	i := 0
	for ; i < len(text) && text[i] != '.'; i++ {
		m = m*10 + int64(text[i]-'0')
	}
	frac := 0
	if i < len(text) {
		for _, c := range text[i+1:] {
			m = m*10 + int64(c-'0')
		}
		frac = len(text) - i - 1
	}
	if i+frac > 15 {
		return 0, false
	}
	f := float64(m)
	if frac > 0 {
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

// pow10 are the powers of ten a float64 holds exactly that shortNumber
// divides by.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

func parseFloat(text []byte) (float64, error) {
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(text), len(text)), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange && !math.IsInf(f, 0) {
			// Underflow to zero is not an error for JSON.
			return f, nil
		}
		return 0, err
	}
	return f, nil
}

// build allocates the event's bytes and turns the scratch into Fields in
// fs, which has the tape's length. With copyLine the bytes hold the line,
// then the decoded strings, then spare bytes for the id; without it the
// line is already the event's own (Full decodes an event's Raw), strings
// without escapes point into it, and only decoded strings need new bytes.
// It returns the top-level members and the bytes.
func (p *parser) build(root sval, copyLine bool, spare int, fs []Field) ([]Field, []byte) {
	s := p.s
	byID := nameTable()
	var buf []byte
	lines := p.line // where the strings of the line end up
	textAt := 0     // where the text starts in buf
	if copyLine {
		if n := len(p.line) + len(s.text); cap(p.room) >= n+spare {
			buf = p.room[: n : n+spare]
		} else {
			buf = make([]byte, n, n+spare)
		}
		copy(buf, p.line)
		copy(buf[len(p.line):], s.text)
		lines, textAt = buf, len(p.line)
	} else if len(s.text) > 0 {
		buf = make([]byte, len(s.text))
		copy(buf, s.text)
	}
	str := func(r sref) string {
		n := int(r.n &^ (textBit | nameBit))
		switch {
		case n == 0:
			return ""
		case r.n&nameBit != 0:
			return byID[r.off-1]
		case r.n&textBit != 0:
			return unsafe.String(&buf[textAt+int(r.off)], n)
		}
		return unsafe.String(&lines[r.off], n)
	}
	for i := range s.tape {
		sf := &s.tape[i]
		f := &fs[i]
		if sf.key.n != 0 {
			f.Key = str(sf.key)
		}
		switch sf.val.kind {
		// Field by field: assigning a whole Value would copy it through
		// the runtime's typed move, a tenth of a decode.
		case String:
			s := str(sf.val.ref)
			f.ptr, f.word = unsafe.Pointer(unsafe.StringData(s)), uint64(len(s))
		case Number, Bool:
			f.word = math.Float64bits(sf.val.num)
		case Object, Array:
			if n := sf.val.ref.n; n > 0 {
				f.ptr, f.n = unsafe.Pointer(&fs[sf.val.ref.off]), n
			}
		}
		f.kind, f.part = sf.val.kind, sf.val.part
	}
	if root.ref.n == 0 {
		return nil, buf
	}
	off, n := int(root.ref.off), int(root.ref.n)
	return fs[off : off+n : off+n], buf
}

// tapePath looks up a path of member names before build.
func (p *parser) tapePath(v sval, path []string) (sval, bool) {
	var byID []string
	for _, name := range path {
		if v.kind != Object || v.ref.n == 0 {
			return sval{}, false
		}
		members := p.s.tape[v.ref.off : v.ref.off+v.ref.n]
		found := false
		// The last of repeated members wins, as in lookup.
		for i := len(members) - 1; i >= 0; i-- {
			k := members[i].key
			var s string
			if k.n&nameBit != 0 {
				if byID == nil {
					byID = nameTable()
				}
				s = byID[k.off-1]
			} else {
				s = p.view(k)
			}
			if s == name {
				v, found = members[i].val, true
				break
			}
		}
		if !found {
			return sval{}, false
		}
	}
	return v, true
}
