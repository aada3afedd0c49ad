package event

import "unsafe"

// Most events a screen turns away (see Screen) live only until the engine
// has passed them in event time, reaching no detector, and each took two
// allocations: its block and its copy of the line. Those two were a fifth
// of the CPU of a filter scenario with the collector's sweeping of them.
// A decoder with a screen takes both from slabs of its own instead: a
// block among a few dozen, the line's bytes among 16 KiB of lines, each
// slab taken in one allocation and freed by the collector once none of
// its events is left. An event the screen lets through is decoded again
// with the whole projection, and the room it took in the slabs is given
// back for the next line: Pass must not keep the event it is shown.
//
// Events a screen turns away hold few Fields (the time, the id and the
// router's fields); one with more than eight is allocated alone.

const (
	slabBlocks = 32
	slabBytes  = 16 << 10
)

// blockSlab hands out blocks of one size.
type blockSlab[A any] struct {
	blocks []lazyBlock[A]
	n      int // blocks handed out
}

func (b *blockSlab[A]) take() (*Event, *lazyFields, []Field) {
	if b.n == len(b.blocks) {
		b.blocks, b.n = make([]lazyBlock[A], slabBlocks), 0
	}
	k := &b.blocks[b.n]
	b.n++
	return &k.ev, &k.lz, unsafe.Slice((*Field)(unsafe.Pointer(&k.fs)), unsafe.Sizeof(k.fs)/unsafe.Sizeof(Field{}))
}

// giveBack clears the last block handed out and takes it back.
func (b *blockSlab[A]) giveBack() {
	b.n--
	b.blocks[b.n] = lazyBlock[A]{}
}

// slabs hands out screened events' blocks and line bytes: blocks of four
// Fields (the time, the id and two fields, a filter's common case) or of
// eight.
type slabs struct {
	four  blockSlab[[4]Field]
	eight blockSlab[[8]Field]
	bytes []byte
	// lastBlock is the Fields of the block of the event since mark (0
	// for none, or one of its own); lastBytes where its bytes start.
	lastBlock, lastBytes int
}

// mark notes where the next event starts, for giveBack.
func (s *slabs) mark() { s.lastBlock, s.lastBytes = 0, len(s.bytes) }

// event returns an event with room for n Fields, from a slab when n is
// at most eight.
func (s *slabs) event(n int) (*Event, *lazyFields, []Field) {
	var (
		ev *Event
		lz *lazyFields
		fs []Field
	)
	switch {
	case n <= 4:
		ev, lz, fs = s.four.take()
		s.lastBlock = 4
	case n <= 8:
		ev, lz, fs = s.eight.take()
		s.lastBlock = 8
	default:
		return newLazyEvent(n)
	}
	return ev, lz, fs[:n:n]
}

// alloc returns n bytes of capacity c, from the slab when c is small
// enough to leave it useful.
func (s *slabs) alloc(n, c int) []byte {
	if c > slabBytes/4 {
		return make([]byte, n, c)
	}
	if len(s.bytes)+c > cap(s.bytes) {
		s.bytes = make([]byte, 0, slabBytes)
		s.lastBytes = 0
	}
	at := len(s.bytes)
	s.bytes = s.bytes[:at+c]
	return s.bytes[at : at+n : at+c]
}

// giveBack returns what was handed out since mark to the slabs, the
// block cleared for the next event.
func (s *slabs) giveBack() {
	switch s.lastBlock {
	case 4:
		s.four.giveBack()
	case 8:
		s.eight.giveBack()
	}
	s.lastBlock = 0
	if s.lastBytes <= len(s.bytes) {
		s.bytes = s.bytes[:s.lastBytes]
	}
}
