package event

import (
	"bytes"
	"sync/atomic"
	"unsafe"
)

// A held event's line index says where each of the line's top-level
// members starts, so that a thaw parses the members its reader keeps and
// steps over no others: a sequence over Windows events compares each new
// event with the same host's earlier ones, thawing each of those again
// and again for two or three of its sixty members. The first thaw of the
// event notes the places as it parses the whole line. The index is the
// members' count and the line's length, two bytes each, then three bytes
// a member: the signature of its name (see sig), which turns most members
// away without looking at the line, and its place.
//
// Only lines of minIndexed to maxIndexed bytes, not packed, have one. A
// short line is scanned about as fast as its index is read, and its index
// would be an eighth of its size, where a packed line is kept small on
// purpose, and is unpacked, which costs more than the scan, to be read.
const (
	minIndexed = 512
	maxIndexed = 1<<16 - 1
)

// indexes reports whether a held event's line of n bytes gets an index.
func (e *Event) indexes(n int) bool {
	return n >= minIndexed && n <= maxIndexed && e.lazy.node.pack == nil
}

// indexEntry is the size of a member's entry in a line index.
const indexEntry = 3

// lineIndex returns the members' entries of the index of e's line (of
// length n), or nil when it has no index yet.
func (e *Event) lineIndex(n int) []byte {
	at := atomic.LoadPointer(&e.at)
	if at == nil {
		return nil
	}
	head := unsafe.Slice((*byte)(at), 4)
	k, m := int(head[0])|int(head[1])<<8, int(head[2])|int(head[3])<<8
	if m != n {
		// Not this line's (a copy of the header with another line).
		return nil
	}
	return unsafe.Slice((*byte)(at), 4+k*indexEntry)[4:]
}

// setLineIndex keeps ents, the members' entries of the index of e's line
// of length n. Two goroutines thawing the event at once store alike
// indexes.
func (e *Event) setLineIndex(n int, ents []byte) {
	k := len(ents) / indexEntry
	idx := make([]byte, 4+len(ents))
	idx[0], idx[1], idx[2], idx[3] = byte(k), byte(k>>8), byte(n), byte(n>>8)
	copy(idx[4:], ents)
	atomic.StorePointer(&e.at, unsafe.Pointer(&idx[0]))
}

// IndexBytes is the most memory the index of a held event's line can
// take, so that the detectors that hold the event charge it from the
// start (see wire.MemSize); it does not change once the index is made, so
// that what they release is what they charged. Other events have none.
func (e *Event) IndexBytes() int {
	if !e.Held() || !e.indexes(len(e.Raw)) {
		return 0
	}
	// Every member has a colon after its name.
	return 4 + indexEntry*bytes.Count(e.Raw, colon)
}

var colon = []byte{':'}

// noteMember adds to the index being made the entry of the member whose
// name, key, starts at off.
func (p *parser) noteMember(key sref, off int) {
	p.s.ents = append(p.s.ents, sig(p.view(key)), byte(off), byte(off>>8))
}

// rootAt is rootIn for a line whose index has the entries ents: it
// parses the members node keeps and steps over the others without
// reading them.
func (p *parser) rootAt(node *projNode, ents []byte) (sval, error) {
	mark := len(p.s.stack)
	part := false
	for i := 0; i+indexEntry <= len(ents); i += indexEntry {
		off := int(ents[i+1]) | int(ents[i+2])<<8
		// Members node does not keep are turned away by their name's
		// signature, or by the name as it stands in the line when it has
		// no escapes and is ASCII (else the decoder's reading of it, which
		// replaces invalid UTF-8, is what the projection names).
		if node.head[ents[i]] == 0 {
			part = true
			continue
		}
		if end, high := scanString(p.line, off+1); !high && end < len(p.line) && p.line[end] == '"' &&
			!node.keeps(unsafe.String(&p.line[off+1], end-off-1)) {
			part = true
			continue
		}
		p.pos = off
		key, err := p.member()
		if err != nil {
			return sval{}, err
		}
		kid := node.child(p.view(key))
		if kid == nil {
			p.drop(key)
			part = true
			continue
		}
		var v sval
		if kid.all {
			v, err = p.value(1)
		} else {
			v, err = p.projValue(kid, 1)
		}
		if err != nil {
			return sval{}, err
		}
		part = part || v.part
		key.off, key.n = kid.id, key.n&^textBit|nameBit
		p.s.stack = append(p.s.stack, sfield{key: key, val: v})
	}
	v := p.closeComposite(Object, mark)
	v.part = part
	return v, nil
}
