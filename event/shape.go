package event

import (
	"bytes"
	"encoding/binary"
)

// The lines of one stream mostly name the same members in the same order,
// and a projected decode spends a fifth of its time reading member names
// and finding them among the projection's (scanning the string, then
// hashing it into the node). A shape remembers, for the top-level object
// of the last line decoded with a node, each member's name in order and
// the node's child for it; the next line's member at the same place is
// first compared with that name as bytes. A name found so is the same
// string the scan would have found (it holds no quote, backslash or
// control byte, and its bytes were valid UTF-8 before), so the decode and
// its errors are those of the scan. A line of another shape costs a
// failed comparison per member, and teaches the shape its names.

// maxShape bounds the members a shape remembers: wider objects read the
// rest by scanning.
const maxShape = 64

type shapeMember struct {
	// pat is the member's name as the line had it, quoted, with the
	// colon after it: one comparison reads a member written without
	// space around its colon, as most JSON encoders write them.
	pat []byte
	// lo and hi are pat's first sixteen bytes, as two words, and loMask
	// and hiMask the bytes of them pat fills, for a pat of at most 16
	// bytes (words); at compares them.
	lo, hi, loMask, hiMask uint64
	words                  bool
	kid                    *projNode
	ok                     bool // the name is a plain string of the line (no escapes)
}

// at reports whether line holds m's pat at pos. Patterns are short (the
// fraud example's are 5 to 11 bytes): compared as two words in place,
// not with a call to bytes.Equal, for each member of every line.
func (m *shapeMember) at(line []byte, pos int) bool {
	if m.words && pos+16 <= len(line) {
		w := line[pos : pos+16]
		return binary.LittleEndian.Uint64(w)&m.loMask == m.lo && binary.LittleEndian.Uint64(w[8:])&m.hiMask == m.hi
	}
	return pos+len(m.pat) <= len(line) && bytes.Equal(line[pos:pos+len(m.pat)], m.pat)
}

// name is the member's name.
func (m *shapeMember) name() []byte { return m.pat[1 : len(m.pat)-2] }

type shape struct {
	node    *projNode
	members []shapeMember
}

// shapeFor returns the shape of node, taking over the one least recently
// asked for when neither is node's: a screened decoder alternates between
// its screen's node and its projection's.
func (s *scratch) shapeFor(node *projNode) *shape {
	switch node {
	case s.shapes[0].node:
		return &s.shapes[0]
	case s.shapes[1].node:
		s.shapes[0], s.shapes[1] = s.shapes[1], s.shapes[0]
		return &s.shapes[0]
	}
	s.shapes[1] = s.shapes[0]
	s.shapes[0] = shape{node: node, members: s.shapes[1].members[:0:0]}
	return &s.shapes[0]
}

// knownMember is member for a member expected to be m, whose pat the
// line does not have at p.pos (projObject compares that first): it
// reports false, having consumed nothing but space, when the line's next
// member is not m's name with space around it.
func (p *parser) knownMember(m *shapeMember) (sref, bool, error) {
	name := m.name()
	p.skipSpace()
	start := p.pos + 1
	end := start + len(name)
	if end >= len(p.line) || p.line[p.pos] != '"' || p.line[end] != '"' || !bytes.Equal(p.line[start:end], name) {
		return sref{}, false, nil
	}
	if !p.count() {
		return sref{}, true, p.overLimit()
	}
	p.pos = end + 1
	p.skipSpace()
	if p.pos >= len(p.line) || p.line[p.pos] != ':' {
		return sref{}, true, p.errorf("expected ':' after member name %q", name)
	}
	p.pos++
	return sref{off: uint32(start), n: uint32(len(name))}, true, nil
}

// learn records the ith member's name and child.
func (sh *shape) learn(i int, name string, plain bool, kid *projNode) {
	if i >= maxShape {
		return
	}
	for len(sh.members) <= i {
		sh.members = append(sh.members, shapeMember{})
	}
	m := &sh.members[i]
	m.pat = append(append(append(m.pat[:0], '"'), name...), '"', ':')
	var w [16]byte
	n := copy(w[:], m.pat)
	m.words = len(m.pat) <= len(w)
	m.lo, m.hi = binary.LittleEndian.Uint64(w[:]), binary.LittleEndian.Uint64(w[8:])
	m.loMask, m.hiMask = maskOf(n), maskOf(n-8)
	m.kid, m.ok = kid, plain
}

// maskOf is the mask of a word's first n bytes (none below 1, all from 8).
func maskOf(n int) uint64 {
	switch {
	case n <= 0:
		return 0
	case n >= 8:
		return ^uint64(0)
	}
	return 1<<(8*n) - 1
}
