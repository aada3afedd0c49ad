package event

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Decoding a line takes two steps. The parser first builds every value in
// scratch memory: the members of an open object or array on a stack, and
// those of a closed one, contiguous, on a tape, with the composite's value
// holding its offset on the tape in num. Strings point into the caller's
// line, or, when escapes or invalid UTF-8 force a copy, into text chunks.
// Then build allocates the event's memory once at its exact size (one
// slice of Field for every value at every level, one byte slice for the
// line and the copied strings), copies the scratch into it and points
// every value there. A decoded event thus costs the same few allocations
// however wide or deep it is, and its size is known before it is built.

// scratch is what decoding one line needs until its event is built. A
// Decoder keeps one; Full takes one from a pool.
type scratch struct {
	stack  []Field  // members of the composites being parsed
	tape   []Field  // members of closed composites, each contiguous
	tmp    []byte   // the string being unescaped
	chunks [][]byte // copied strings; a chunk never grows, so strings into it stay valid
	used   int      // chunks in use
	text   int      // bytes in use over all chunks
}

func (s *scratch) reset() {
	s.stack, s.tape = s.stack[:0], s.tape[:0]
	for i := range s.used {
		s.chunks[i] = s.chunks[i][:0]
	}
	s.used, s.text = 0, 0
}

// Scratch beyond these sizes is dropped after a line, so that one large
// line does not pin its buffers in every decoder for good. Stale entries
// in the scratch point only into lines and chunks, never into an event, so
// they pin nothing else.
const (
	keepFields = 1 << 12
	keepBytes  = 1 << 16
)

func (s *scratch) trim() {
	if cap(s.stack) > keepFields {
		s.stack = nil
	}
	if cap(s.tape) > keepFields {
		s.tape = nil
	}
	if cap(s.tmp) > keepBytes {
		s.tmp = nil
	}
	total := 0
	for i, c := range s.chunks {
		total += cap(c)
		if total > keepBytes {
			s.chunks = s.chunks[:i]
			break
		}
	}
}

// store copies b into the chunks and returns a string over the copy.
// Chunks are filled in order; used counts those touched since reset.
func (s *scratch) store(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	i := max(s.used-1, 0)
	for ; i < len(s.chunks); i++ {
		if c := s.chunks[i]; cap(c)-len(c) >= len(b) {
			break
		}
	}
	if i == len(s.chunks) {
		size := 4096
		if n := len(s.chunks); n > 0 {
			size = 2 * cap(s.chunks[n-1])
		}
		s.chunks = append(s.chunks, make([]byte, 0, max(size, len(b))))
	}
	s.used = i + 1
	c := s.chunks[i]
	start := len(c)
	c = append(c, b...)
	s.chunks[i] = c
	s.text += len(b)
	return unsafe.String(&c[start], len(b))
}

type parser struct {
	line   []byte // the line being decoded, trimmed
	pos    int
	s      *scratch
	lim    *Limits
	values int // values so far, against lim.MaxValues
	bytes  int // memory of the event so far, against lim.MaxBytes
}

func (p *parser) errorf(format string, args ...any) error {
	return &Error{Column: p.pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.line) && isSpace(p.line[p.pos]) {
		p.pos++
	}
}

// count adds one value to the event's account.
func (p *parser) count() error {
	p.values++
	p.bytes += ValueSize
	if p.values > p.lim.MaxValues {
		return p.errorf("event has more than %d values (object members and array elements at every level)", p.lim.MaxValues)
	}
	if p.bytes > p.lim.MaxBytes {
		return p.errorf("event takes more than %d bytes decoded (its line, %d bytes per value and copied strings)", p.lim.MaxBytes, ValueSize)
	}
	return nil
}

// copied accounts for a string that could not point into the line.
func (p *parser) copied(n int) error {
	p.bytes += n
	if p.bytes > p.lim.MaxBytes {
		return p.errorf("event takes more than %d bytes decoded (its line, %d bytes per value and copied strings)", p.lim.MaxBytes, ValueSize)
	}
	return nil
}

// root parses the line as one JSON object.
func (p *parser) root() (Value, error) {
	if p.bytes > p.lim.MaxBytes {
		return Value{}, &Error{Msg: fmt.Sprintf("event takes more than %d bytes decoded: its line alone has %d", p.lim.MaxBytes, p.bytes)}
	}
	p.skipSpace()
	if p.pos >= len(p.line) || p.line[p.pos] != '{' {
		return Value{}, p.errorf("an event must be a JSON object")
	}
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.skipSpace()
	if p.pos != len(p.line) {
		return Value{}, p.errorf("unexpected %s after the object", quoteByte(p.line[p.pos]))
	}
	return v, nil
}

func (p *parser) value(depth int) (Value, error) {
	if depth > p.lim.MaxDepth {
		return Value{}, p.errorf("nesting deeper than %d", p.lim.MaxDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.line) {
		return Value{}, p.errorf("unexpected end of line")
	}
	switch c := p.line[p.pos]; {
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
	if len(p.line)-p.pos < len(word) || string(p.line[p.pos:p.pos+len(word)]) != word {
		return p.errorf("invalid literal, expected %s", word)
	}
	p.pos += len(word)
	return nil
}

// closeComposite moves the members above mark from the stack to the tape.
func (p *parser) closeComposite(k Kind, mark int) Value {
	s := p.s
	n := len(s.stack) - mark
	if n == 0 {
		return Value{kind: k}
	}
	off := len(s.tape)
	s.tape = append(s.tape, s.stack[mark:]...)
	s.stack = s.stack[:mark]
	return Value{kind: k, num: float64(off), n: uint32(n)}
}

func (p *parser) object(depth int) (Value, error) {
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.line) && p.line[p.pos] == '}' {
		p.pos++
		return Value{kind: Object}, nil
	}
	mark := len(p.s.stack)
	for {
		p.skipSpace()
		if p.pos >= len(p.line) {
			return Value{}, p.errorf("unexpected end of line inside an object")
		}
		if p.line[p.pos] != '"' {
			return Value{}, p.errorf("expected a member name in quotes, found %s", quoteByte(p.line[p.pos]))
		}
		if err := p.count(); err != nil {
			return Value{}, err
		}
		key, err := p.str()
		if err != nil {
			return Value{}, err
		}
		if err := p.colon(key); err != nil {
			return Value{}, err
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		p.s.stack = append(p.s.stack, Field{Key: key, Value: v})
		if done, err := p.next('}', "a member", "object"); err != nil {
			return Value{}, err
		} else if done {
			return p.closeComposite(Object, mark), nil
		}
	}
}

func (p *parser) colon(key string) error {
	p.skipSpace()
	if p.pos >= len(p.line) || p.line[p.pos] != ':' {
		return p.errorf("expected ':' after member name %q", key)
	}
	p.pos++
	return nil
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

func (p *parser) array(depth int) (Value, error) {
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.line) && p.line[p.pos] == ']' {
		p.pos++
		return Value{kind: Array}, nil
	}
	mark := len(p.s.stack)
	for {
		p.skipSpace()
		if err := p.count(); err != nil {
			return Value{}, err
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		p.s.stack = append(p.s.stack, Field{Value: v})
		if done, err := p.next(']', "an element", "array"); err != nil {
			return Value{}, err
		} else if done {
			return p.closeComposite(Array, mark), nil
		}
	}
}

// str parses a string. Without escapes and with valid UTF-8 the result
// points into the line; otherwise it is decoded into the text chunks.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	ascii := true
	for p.pos < len(p.line) {
		c := p.line[p.pos]
		switch {
		case c == '"':
			s := p.line[start:p.pos]
			p.pos++
			if !ascii && !utf8.Valid(s) {
				p.s.tmp = validUTF8(p.s.tmp[:0], s)
				if err := p.copied(len(p.s.tmp)); err != nil {
					return "", err
				}
				return p.s.store(p.s.tmp), nil
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

// escaped finishes a string that has escapes.
func (p *parser) escaped(start int) (string, error) {
	out, err := p.unescape(p.s.tmp[:0], start)
	p.s.tmp = out
	if err != nil {
		return "", err
	}
	if err := p.copied(len(out)); err != nil {
		return "", err
	}
	return p.s.store(out), nil
}

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
			j := p.pos
			for j < len(p.line) && p.line[j] != '"' && p.line[j] != '\\' && p.line[j] >= 0x20 {
				j++
			}
			out = validUTF8(out, p.line[p.pos:j])
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

// numberEnd scans a JSON number from p.pos and reports whether it is a
// plain integer (no fraction, no exponent).
func (p *parser) numberEnd() (simple bool, err error) {
	if p.line[p.pos] == '-' {
		p.pos++
	}
	if p.pos >= len(p.line) || p.line[p.pos] < '0' || p.line[p.pos] > '9' {
		return false, p.errorf("invalid number")
	}
	simple = true
	if p.line[p.pos] == '0' {
		p.pos++
	} else {
		for p.pos < len(p.line) && p.line[p.pos] >= '0' && p.line[p.pos] <= '9' {
			p.pos++
		}
	}
	if p.pos < len(p.line) && p.line[p.pos] == '.' {
		simple = false
		p.pos++
		d := p.pos
		for p.pos < len(p.line) && p.line[p.pos] >= '0' && p.line[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == d {
			return false, p.errorf("invalid number: digits expected after '.'")
		}
	}
	if p.pos < len(p.line) && (p.line[p.pos] == 'e' || p.line[p.pos] == 'E') {
		simple = false
		p.pos++
		if p.pos < len(p.line) && (p.line[p.pos] == '+' || p.line[p.pos] == '-') {
			p.pos++
		}
		d := p.pos
		for p.pos < len(p.line) && p.line[p.pos] >= '0' && p.line[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == d {
			return false, p.errorf("invalid number: digits expected in exponent")
		}
	}
	return simple, nil
}

// number parses a JSON number. Integers of up to 15 digits, the common case
// of ids, counts and amounts in cents, skip strconv.
func (p *parser) number() (Value, error) {
	start := p.pos
	simple, err := p.numberEnd()
	if err != nil {
		return Value{}, err
	}
	text := p.line[start:p.pos]
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
		text = p.line[start:p.pos]
	}
	f, err := parseFloat(text)
	if err != nil {
		return Value{}, &Error{Column: start + 1, Msg: "number out of range"}
	}
	return Value{kind: Number, num: f}, nil
}

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

// build allocates the event's memory and moves the scratch into it: one
// slice for every Field of the event, and, when copyLine, one byte slice
// holding the line, then the copied strings, then spare bytes for the id.
// Without copyLine the line is already the event's own (Full decodes an
// event's Raw) and only copied strings need new bytes. It returns the
// top-level members and the bytes.
func (p *parser) build(root Value, copyLine bool, spare int) ([]Field, []byte) {
	s := p.s
	var buf []byte
	base := 0
	if copyLine {
		buf = make([]byte, len(p.line)+s.text, len(p.line)+s.text+spare)
		copy(buf, p.line)
		base = len(p.line)
	} else if s.text > 0 {
		buf = make([]byte, s.text)
	}
	// Where each chunk's strings land in buf.
	var starts [8]int
	offs := starts[:0]
	for _, c := range s.chunks[:s.used] {
		offs = append(offs, base)
		base += copy(buf[base:], c)
	}
	fs := make([]Field, len(s.tape))
	copy(fs, s.tape)
	lineStart := uintptr(unsafe.Pointer(unsafe.SliceData(p.line)))
	rebase := func(str string) string {
		if len(str) == 0 {
			return ""
		}
		at := uintptr(unsafe.Pointer(unsafe.StringData(str)))
		if off := at - lineStart; off < uintptr(len(p.line)) {
			if !copyLine {
				return str
			}
			return unsafe.String(&buf[off], len(str))
		}
		for i, c := range s.chunks[:len(offs)] {
			if off := at - uintptr(unsafe.Pointer(unsafe.SliceData(c))); off < uintptr(cap(c)) {
				return unsafe.String(&buf[offs[i]+int(off)], len(str))
			}
		}
		panic("event: a decoded string points neither into its line nor into the decoder's text")
	}
	for i := range fs {
		f := &fs[i]
		f.Key = rebase(f.Key)
		switch f.kind {
		case String:
			f.str = rebase(f.str)
		case Object, Array:
			if f.n > 0 {
				f.p = &fs[int(f.num)]
			}
			f.num = 0
		}
	}
	if root.n == 0 {
		return nil, buf
	}
	off := int(root.num)
	return fs[off : off+int(root.n) : off+int(root.n)], buf
}
