package event

import (
	"math/bits"
	"unicode/utf8"
)

// A projected decode builds the values of the projection's paths and steps
// over the rest. Stepping over is still a full validation, so that a line
// is malformed with or without a projection, with the same error: the
// grammar of JSON (structure, literals, numbers, strings with their escapes
// and \u digits, no control characters), numbers beyond float64, nesting
// depth, and the value and byte accounts, which count what a full decode
// would build (decoding escaped strings into scratch to learn their
// length). What it saves is building: no Field, no copied string, no
// number conversion outside the projection.

// projValue parses a value at a projection node that is not read whole:
// an object is projected further; anything else is built whole, since
// the node's paths go through it.
func (p *parser) projValue(node *projNode, depth int) (sval, error) {
	if depth > p.lim.MaxDepth {
		return sval{}, p.errorf("nesting deeper than %d", p.lim.MaxDepth)
	}
	p.skipSpace()
	if p.pos < len(p.line) && p.line[p.pos] == '{' {
		return p.projObject(node, depth)
	}
	return p.value(depth)
}

// projObject parses an object keeping the members that node names.
func (p *parser) projObject(node *projNode, depth int) (sval, error) {
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.line) && p.line[p.pos] == '}' {
		p.pos++
		return sval{kind: Object}, nil
	}
	mark := len(p.s.stack)
	part := false
	var sh *shape
	if depth == 0 {
		sh = p.s.shapeFor(node)
	}
	for i := 0; ; i++ {
		at := -1
		if p.index && depth == 0 {
			p.skipSpace()
			at = p.pos
		}
		var (
			key   sref
			kid   *projNode
			known bool
			err   error
		)
		if sh != nil && i < len(sh.members) && sh.members[i].ok {
			m := &sh.members[i]
			if m.at(p.line, p.pos) {
				// The name as the shape has it, quote and colon:
				// here, not in knownMember, whose call and three
				// results cost as much as the comparison.
				known = true
				if !p.count() {
					err = p.overLimit()
				} else {
					key = sref{off: uint32(p.pos + 1), n: uint32(len(m.pat) - 3)}
					p.pos += len(m.pat)
				}
			} else {
				key, known, err = p.knownMember(m)
			}
			kid = m.kid
		}
		if !known {
			key, err = p.member()
			if err == nil {
				kid = node.child(p.view(key))
				if sh != nil {
					sh.learn(i, p.view(key), key.n&textBit == 0, kid)
				}
			}
		}
		if err != nil {
			return sval{}, err
		}
		if at >= 0 {
			p.noteMember(key, at)
		}
		var v sval
		switch {
		case kid == nil:
			p.drop(key)
			if _, ok := p.plainStr(depth + 1); !ok {
				err = p.skip(depth + 1)
			}
		case kid.all:
			if r, ok := p.plainStr(depth + 1); ok {
				v = sval{kind: String, ref: r}
			} else {
				v, err = p.value(depth + 1)
			}
		default:
			v, err = p.projValue(kid, depth+1)
		}
		if err != nil {
			return sval{}, err
		}
		// An object is partial when it, or an object inside it, left
		// out a member.
		part = part || kid == nil || v.part
		if kid != nil {
			key.off, key.n = kid.id, key.n&^textBit|nameBit
			p.s.stack = append(p.s.stack, sfield{key: key, val: v})
			if kid.stamp != 0 && depth == 0 {
				p.noteStamp(kid.stamp, int32(len(p.s.stack)-mark))
			}
		}
		if p.comma() {
			continue
		}
		if done, err := p.next('}', "a member", "object"); err != nil {
			return sval{}, err
		} else if done {
			v := p.closeComposite(Object, mark)
			v.part = part
			return v, nil
		}
	}
}

// noteStamp notes that the at'th top-level member (from 1) is the time
// keys and the id that stamp tells.
func (p *parser) noteStamp(stamp uint16, at int32) {
	if stamp&stampID != 0 {
		p.noted.id = at
	}
	for m := uint8(stamp); m != 0; m &= m - 1 {
		p.noted.time[bits.TrailingZeros8(m)] = at
	}
}

// plainStr is str for a string at p.pos, at depth, that is all ASCII
// with no escape; false, having consumed nothing, for anything else. Most
// values of a line are such strings: taken here, a member a projection
// leaves out or keeps whole costs one call, not two or three through skip
// or value to scanString.
func (p *parser) plainStr(depth int) (sref, bool) {
	if depth > p.lim.MaxDepth || p.pos >= len(p.line) || p.line[p.pos] != '"' {
		return sref{}, false
	}
	start := p.pos + 1
	i, high := scanString(p.line, start)
	if high || i >= len(p.line) || p.line[i] != '"' {
		return sref{}, false
	}
	p.pos = i + 1
	return sref{off: uint32(start), n: uint32(i - start)}, true
}

// skip validates and accounts a value without building it. It mirrors
// value, error for error.
func (p *parser) skip(depth int) error {
	if depth > p.lim.MaxDepth {
		return p.errorf("nesting deeper than %d", p.lim.MaxDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.line) {
		return p.errorf("unexpected end of line")
	}
	switch c := p.line[p.pos]; {
	case c == '{':
		return p.skipObject(depth)
	case c == '[':
		return p.skipArray(depth)
	case c == '"':
		return p.skipStr()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.skipNumber()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	default:
		return p.errorf("unexpected %s", quoteByte(c))
	}
}

func (p *parser) skipObject(depth int) error {
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.line) && p.line[p.pos] == '}' {
		p.pos++
		return nil
	}
	for {
		key, err := p.member()
		if err != nil {
			return err
		}
		p.drop(key)
		if err := p.skip(depth + 1); err != nil {
			return err
		}
		if p.comma() {
			continue
		}
		if done, err := p.next('}', "a member", "object"); err != nil || done {
			return err
		}
	}
}

func (p *parser) skipArray(depth int) error {
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.line) && p.line[p.pos] == ']' {
		p.pos++
		return nil
	}
	for {
		p.skipSpace()
		if !p.count() {
			return p.overLimit()
		}
		if err := p.skip(depth + 1); err != nil {
			return err
		}
		if p.comma() {
			continue
		}
		if done, err := p.next(']', "an element", "array"); err != nil || done {
			return err
		}
	}
}

// skipNumber validates a number. Only an exponent, or more digits than
// any float64 needs, can take a number beyond float64, so only those are
// converted.
func (p *parser) skipNumber() error {
	start := p.pos
	exp, err := p.numberEnd()
	if err != nil {
		return err
	}
	if text := p.line[start:p.pos]; exp || len(text) > 300 {
		if _, err := parseFloat(text); err != nil {
			return &Error{Column: start + 1, Msg: "number out of range"}
		}
	}
	return nil
}

// skipStr validates a string and accounts the copy a full decode would
// make of it, counting its decoded length without writing it. It mirrors
// strTmp, error for error.
func (p *parser) skipStr() error {
	p.pos++ // opening quote
	start := p.pos
	i, high := scanString(p.line, start)
	p.pos = i
	if i == len(p.line) {
		return &Error{Column: start, Msg: "unterminated string"}
	}
	switch c := p.line[i]; c {
	case '"':
		p.pos++
		if b := p.line[start:i]; high && !utf8.Valid(b) {
			return p.copied(validLen(b))
		}
		return nil
	case '\\':
		n, err := p.escapedLen(start)
		if err != nil {
			return err
		}
		return p.copied(n)
	}
	return p.errorf("control character %s in a string", quoteByte(p.line[i]))
}

// escapedLen is the length unescape would produce, from the first escape
// at p.pos on. It mirrors unescape, error for error.
func (p *parser) escapedLen(start int) (int, error) {
	n := validLen(p.line[start:p.pos])
	for p.pos < len(p.line) {
		c := p.line[p.pos]
		switch {
		case c == '"':
			p.pos++
			return n, nil
		case c < 0x20:
			return n, p.errorf("control character %s in a string", quoteByte(c))
		case c == '\\':
			if p.pos+1 >= len(p.line) {
				return n, p.errorf("unterminated escape")
			}
			e := p.line[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				n++
			case 'u':
				r, err := p.escapedRune()
				if err != nil {
					return n, err
				}
				n += runeLen(r)
			default:
				p.pos--
				return n, p.errorf("invalid escape %s", quoteByte(e))
			}
		default:
			j, high := scanString(p.line, p.pos)
			if high {
				n += validLen(p.line[p.pos:j])
			} else {
				n += j - p.pos
			}
			p.pos = j
		}
	}
	return n, &Error{Column: start, Msg: "unterminated string"}
}

// validLen is len(validUTF8(nil, s)).
func validLen(s []byte) int {
	n := 0
	for len(s) > 0 {
		if s[0] < utf8.RuneSelf {
			n++
			s = s[1:]
			continue
		}
		r, size := utf8.DecodeRune(s)
		n += runeLen(r)
		s = s[size:]
	}
	return n
}

// runeLen is the length utf8.AppendRune gives r: invalid runes become
// U+FFFD.
func runeLen(r rune) int {
	if n := utf8.RuneLen(r); n > 0 {
		return n
	}
	return 3
}
