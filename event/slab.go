package event

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// Most events a screen turns away (see Screen) live only until the engine
// has passed them in event time, reaching no detector, and each took two
// allocations: its block and its copy of the line. Those two were a fifth
// of the CPU of a filter scenario with the collector's sweeping of them.
// A decoder with a screen takes both from slabs of its own instead: a
// block among 32, and the line's bytes beside the other lines'. An event
// the screen lets through is decoded again with the whole projection,
// and the room it took in the slabs is given back for the next line:
// Pass must not keep the event it is shown.
//
// Events a screen turns away hold few Fields (the time, the id and the
// router's fields); one with more than sixteen is allocated alone.
//
// A slab's line bytes are sized for its decoder's lines: room for
// slabBlocks lines as long as those of the decoder's last slab, a power
// of two from minSlabBytes to maxSlabBytes. At a fixed 8 KiB a Windows
// event of 3 KB never went into a slab (a line took at most a quarter
// of one), and each was an allocation of fresh memory: 3.2 KB per event
// of the OTRF recordings, which the collector swept and the kernel
// faulted in.
const (
	slabBlocks   = 32
	minSlabBytes = 8 << 10
	// slabSizes is the count of sizes, minSlabBytes doubled up to
	// maxSlabBytes.
	slabSizes    = 5
	maxSlabBytes = minSlabBytes << (slabSizes - 1)
)

// Most of those events are let go by their consumer as soon as it has
// passed them in event time, and it can say so: Release. A slab whose
// every event was released is taken again, whole, by the next decoder
// that needs one, instead of being left to the collector: the filter
// scenario's screened events then take no fresh memory, which must be
// zeroed and swept, and the slabs stay in the caches (571 → 12 bytes
// allocated per event, 3.0M → 3.4–3.7M events/s on two cores; a
// screened-out payment decoded in 363 ns instead of 440–447, go test
// -bench DecodeScreened). A slab with an event never released (one a
// consumer keeps, or a malformed request's) is simply collected.
//
// A slab counts its live events in one atomic: the decoder adds the
// number it handed out when it moves to another slab, each release
// takes one. The count falls below zero while the decoder still hands
// out (releases before the decoder's addition), so it reaches zero once:
// at the last release after the addition, or at the addition after the
// last release. Whoever brings it there puts the slab in its pool.

// slab is the blocks and line bytes of up to slabBlocks events.
type slab[A any] struct {
	ref    slabRef
	blocks [slabBlocks]lazyBlock[A]
	bytes  []byte
}

// slabRef is a slab's count of events not yet released, and how it goes
// back to its pool.
type slabRef struct {
	live atomic.Int32
	put  func()
	// fields is how many Fields each of the slab's blocks has, bytes its
	// lines' bytes: what Detach copies an event's from.
	fields int32
	bytes  []byte
	// aux is what a consumer keeps with the slab for its events (see
	// SetSlabAux).
	aux SlabAux
}

// blockFields is where a block's Fields start: after its event and its
// lazyFields, whatever their count.
const blockFields = unsafe.Offsetof(lazyBlock[[1]Field]{}.fs)

// done counts n events handed out (n > 0) or -n released (n < 0), and
// puts the slab back once every event handed out is released.
func (r *slabRef) done(n int32) {
	if r.live.Add(n) == 0 {
		r.put()
	}
}

// slabPools are the free slabs of each block and line size, for any
// decoder: a pool per size of lines keeps the slabs of a stream of short
// lines from holding the bytes of another's long ones.
var slabPools struct{ four, eight, sixteen [slabSizes]sync.Pool }

// blockSlab hands out blocks of one size, from its slab.
type blockSlab[A any] struct {
	pools *[slabSizes]sync.Pool
	cur   *slab[A]
	n     int // blocks handed out of cur
	used  int // bytes handed out of cur
	// asked is the bytes the events of cur asked for, those allocated
	// alone included: the next slab's size follows them (see slabSize).
	// size is cur's size, an index of pools.
	asked, size int
	// lastAsked and lastAt are what the last event asked for and where
	// its bytes would start, for giveBack.
	lastAsked, lastAt int
	// reused is whether cur's blocks held events before, to be cleared.
	reused bool
}

// take returns a block and c bytes for its event's line (nil when they
// would take more than half a slab: a slab is left useful for the lines
// after a long one). A slab without room for them is done with: the
// event takes the next one, and no line of a fitting size is allocated
// alone. (At a quarter of a slab, and with a line that overflowed its
// slab allocated alone, the OTRF recordings' PowerShell script blocks of
// 16–32 KB, their text decoded beside them, took 0.9 KB an event.)
func (b *blockSlab[A]) take(c int) (*Event, *lazyFields, []Field, []byte) {
	if b.cur == nil || b.n == slabBlocks || c <= len(b.cur.bytes)/2 && b.used+c > len(b.cur.bytes) {
		b.next()
	}
	k := &b.cur.blocks[b.n]
	b.n++
	if b.reused {
		*k = lazyBlock[A]{}
	}
	k.ev.at = unsafe.Pointer(&b.cur.ref)
	b.asked += c
	b.lastAsked, b.lastAt = c, b.used
	var room []byte
	if c <= len(b.cur.bytes)/2 && b.used+c <= len(b.cur.bytes) {
		room = b.cur.bytes[b.used : b.used : b.used+c]
		b.used += c
	}
	return &k.ev, &k.lz, unsafe.Slice((*Field)(unsafe.Pointer(&k.fs)), unsafe.Sizeof(k.fs)/unsafe.Sizeof(Field{})), room
}

// next moves to a free slab, or a new one, of the size the last one's
// lines ask for.
func (b *blockSlab[A]) next() {
	if b.cur != nil && b.n > 0 {
		b.size = slabSize(b.asked / b.n)
	}
	b.seal()
	pool := &b.pools[b.size]
	s, _ := pool.Get().(*slab[A])
	// With none of its size free, a larger free one does: when a
	// stream's lines grow shorter (the OTRF recordings' differ by file)
	// the slabs of the longer ones are idle, and a new slab is memory
	// new to the process, which the kernel faults in page by page.
	for larger := b.size + 1; s == nil && larger < slabSizes; larger++ {
		s, _ = b.pools[larger].Get().(*slab[A])
	}
	b.reused = s != nil
	if b.reused && s.ref.aux != nil {
		s.ref.aux.Reuse()
	}
	if s == nil {
		s = &slab[A]{bytes: make([]byte, minSlabBytes<<b.size)}
		s.ref.put = func() {
			if poisonReleased {
				s.poison()
			}
			pool.Put(s)
		}
		s.ref.fields = int32(unsafe.Sizeof(s.blocks[0].fs) / unsafe.Sizeof(Field{}))
		s.ref.bytes = s.bytes
	}
	b.cur, b.n, b.used, b.asked = s, 0, 0, 0
}

// poison overwrites what the slab's events held, once every one of them
// is released: their lines and text with 'Z's, their headers and Fields
// with zeros. A reader that kept one past its release (or a string of
// its line) then reads garbage or crashes instead of, now and then,
// another event's bytes.
func (s *slab[A]) poison() {
	for i := range s.bytes {
		s.bytes[i] = 'Z'
	}
	clear(s.blocks[:])
	if p, ok := s.ref.aux.(interface{ Poison() }); ok {
		p.Poison()
	}
}

// slabSize is the size, an index of slabPools' pools, of a slab for lines
// that ask for per bytes each.
func slabSize(per int) int {
	size := 0
	for minSlabBytes<<size < maxSlabBytes && minSlabBytes<<size < per*slabBlocks {
		size++
	}
	return size
}

// seal counts the events handed out of the current slab, which hands out
// no more.
func (b *blockSlab[A]) seal() {
	switch {
	case b.cur == nil:
	case b.n > 0:
		b.cur.ref.done(int32(b.n))
	default:
		// Every event it held was let through and given back.
		b.cur.ref.put()
	}
	b.cur = nil
}

// giveBack clears the last block handed out and takes it back, with its
// bytes.
func (b *blockSlab[A]) giveBack() {
	b.n--
	b.cur.blocks[b.n] = lazyBlock[A]{}
	b.used = min(b.used, b.lastAt)
	b.asked -= b.lastAsked
	b.lastAsked = 0
}

// SlabEvents is the most events a decoder's slab holds.
const SlabEvents = slabBlocks

// A SlabAux is memory a consumer keeps with a decoder's slab for what it
// works out about the slab's events, such as correlate's prepared
// blocks: it goes back to its pool with the slab, whose every event is
// released by then, and is used again with it, where memory of its own
// for each slab's events would be left to the collector.
type SlabAux interface {
	// Reuse is called on the decoding goroutine that takes the slab
	// again: nothing reads what the slab's earlier events were given.
	// An aux that also has a method Poison() has it called where the
	// slab is poisoned (see poisonReleased), when its last event is
	// released.
	Reuse()
}

// SlabAuxOf returns what SetSlabAux left with the slab of ev, and
// whether ev is a slab's own, not yet released.
func SlabAuxOf(ev *Event) (SlabAux, bool) {
	if !inSlab(ev) {
		return nil, false
	}
	return (*slabRef)(ev.at).aux, true
}

// SetSlabAux leaves aux with the slab of ev, a slab's own event not yet
// released. Only the goroutine that decoded ev may call it, before it
// hands ev on: the slab is then its own.
func SetSlabAux(ev *Event, aux SlabAux) {
	if inSlab(ev) {
		(*slabRef)(ev.at).aux = aux
	}
}

// Release tells the decoder that made ev that nothing reads ev again, so
// that its memory may hold a later event of one of its slabs (see
// Screen). Only the last reader of an event that nobody keeps may call
// it, once: correlate.Engine does for the events a screen turned away,
// which reach no detector. It does nothing for any other event, or a
// copy of one.
func Release(ev *Event) {
	if r := take(ev); r != nil {
		r.done(-1)
	}
}

// take returns the slab of ev, once, or nil when ev is not a slab's own.
func take(ev *Event) *slabRef {
	if !inSlab(ev) {
		return nil
	}
	r := (*slabRef)(ev.at)
	// Nor does it keep what was prepared of it (a block its slab gives
	// out again; see SlabAux).
	ev.at, ev.Prepared = nil, nil
	return r
}

// inSlab reports whether ev is a slab's own and not yet released: its
// block holds its lazyFields, and its at its slab's count. (A held
// event's at is its line index, but its lazyFields are shared.)
func inSlab(ev *Event) bool {
	lz := ev.lazy
	return ev.at != nil && lz != nil && lz.raw != nil && unsafe.Pointer(ev) == unsafe.Add(unsafe.Pointer(lz), -int(unsafe.Offsetof(lazyBlock[struct{}]{}.lz)))
}

// InSlab reports whether e is in a decoder's slab and not yet released:
// its memory holds a later event once it is (see Release), so a reader
// that keeps e past that keeps a copy (Detach, or a held copy).
func (e *Event) InSlab() bool { return inSlab(e) }

// Detach returns e itself, or a copy of it when e is in a decoder's
// slab (see Screen.Releases): the copy has its own block and bytes, none
// of the slab's memory, and so outlives e's release. A consumer that
// keeps such an event keeps the copy: a filter's alert, whose key and
// fields hold strings of the event's line, is built from it. The copy
// is the block and the event's bytes moved: every pointer into them is
// moved by the same distance (decoding the line again took a thirteenth
// of the engine's time at 10,000 rules, where one event in eighteen
// alerts).
func (e *Event) Detach() *Event {
	if !inSlab(e) {
		return e
	}
	ref := (*slabRef)(e.at)
	from := unsafe.Slice((*Field)(unsafe.Add(unsafe.Pointer(e), blockFields)), ref.fields)
	c, clz, fs := newLazyEvent(int(ref.fields))
	copy(fs, from)
	// The event's bytes, when the slab's bytes hold them, run from its
	// line to the end of the last of its strings there: its decoded
	// text and its id follow the line.
	lo, hi := uintptr(unsafe.Pointer(unsafe.SliceData(ref.bytes))), uintptr(0)
	start := uintptr(unsafe.Pointer(unsafe.SliceData(e.Raw)))
	if start >= lo && start < lo+uintptr(len(ref.bytes)) {
		hi = lo + uintptr(len(ref.bytes))
		lo = start
	} else {
		lo = 0 // its bytes are its own: nothing moves
	}
	in := func(p unsafe.Pointer, n int) bool {
		return n > 0 && uintptr(p) >= lo && uintptr(p) < hi
	}
	end := start + uintptr(len(e.Raw))
	note := func(p unsafe.Pointer, n int) {
		if in(p, n) {
			end = max(end, uintptr(p)+uintptr(n))
		}
	}
	note(unsafe.Pointer(unsafe.StringData(e.ID)), len(e.ID))
	for i := range from {
		f := &from[i]
		note(unsafe.Pointer(unsafe.StringData(f.Key)), len(f.Key))
		if f.kind == String {
			note(f.ptr, int(f.word))
		}
	}
	var buf []byte
	if lo != 0 {
		buf = make([]byte, end-lo)
		copy(buf, unsafe.Slice(unsafe.SliceData(e.Raw), end-lo))
	}
	moved := func(p unsafe.Pointer, n int) unsafe.Pointer {
		if !in(p, n) {
			return p
		}
		return unsafe.Pointer(&buf[uintptr(p)-lo])
	}
	movedString := func(s string) string {
		if p := moved(unsafe.Pointer(unsafe.StringData(s)), len(s)); p != unsafe.Pointer(unsafe.StringData(s)) {
			return unsafe.String((*byte)(p), len(s))
		}
		return s
	}
	oldFs, newFs := uintptr(unsafe.Pointer(&from[0])), unsafe.Pointer(&fs[0])
	for i := range fs {
		f := &fs[i]
		f.Key = movedString(f.Key)
		switch f.kind {
		case String:
			f.ptr = moved(f.ptr, int(f.word))
		case Object, Array:
			if f.ptr != nil {
				f.ptr = unsafe.Add(newFs, uintptr(f.ptr)-oldFs)
			}
		}
	}
	// What was prepared of e is for its dispatch, which reads e; a copy
	// outlives it without (see take).
	*c = Event{Stream: e.Stream, ID: movedString(e.ID), Time: e.Time, Seq: e.Seq, Line: e.Line}
	c.Raw = unsafe.Slice((*byte)(moved(unsafe.Pointer(unsafe.SliceData(e.Raw)), len(e.Raw))), len(e.Raw))
	if len(e.Fields) > 0 {
		c.Fields = unsafe.Slice((*Field)(unsafe.Add(newFs, uintptr(unsafe.Pointer(&e.Fields[0]))-oldFs)), len(e.Fields))
	}
	lz := e.lazy
	clz.lim, clz.node, clz.n = lz.lim, lz.node, lz.n
	clz.raw, clz.proj = unsafe.SliceData(c.Raw), unsafe.SliceData(c.Fields)
	c.lazy = clz
	return c
}

// ownLine returns e's line and id, copied out of its slab when its slab's
// bytes hold them, so that a held copy of e, which keeps nothing else of
// it, outlives its release. An id in the line is found in the copy. A line
// too long for its slab has an allocation of its own, with its decoded
// text and id, and is not copied.
//
// The copy is made in the same allocation as the held copy's header
// (newHeld) while both fit a small size class: it takes one allocation
// and one object for the collector to mark where the two took two.
func (e *Event) ownLine() *Event {
	size, inLine, inBytes := e.lineCopy()
	if size == 0 {
		h := new(Event)
		h.Raw, h.ID = e.Raw, e.ID
		return h
	}
	h, buf := newHeld(size)
	n := len(e.Raw)
	copy(buf, e.Raw)
	h.Raw, h.ID = buf[:n:n], e.ID
	switch {
	case inLine:
		at := uintptr(unsafe.Pointer(unsafe.StringData(e.ID))) - uintptr(unsafe.Pointer(unsafe.SliceData(e.Raw)))
		h.ID = unsafe.String(&buf[at], len(e.ID))
	case inBytes:
		copy(buf[n:], e.ID)
		h.ID = unsafe.String(&buf[n], len(e.ID))
	}
	return h
}

// lineCopy returns the bytes a copy of e's line takes, with its id when
// the slab's bytes hold the id past the line (inBytes), or 0 when e's line
// is its own; inLine is an id within the line.
func (e *Event) lineCopy() (size int, inLine, inBytes bool) {
	if !inSlab(e) {
		return 0, false, false
	}
	ref := (*slabRef)(e.at)
	n := len(e.Raw)
	within := func(p, lo uintptr, size int) bool { return p >= lo && p < lo+uintptr(size) }
	slab := uintptr(unsafe.Pointer(unsafe.SliceData(ref.bytes)))
	line := uintptr(unsafe.Pointer(unsafe.SliceData(e.Raw)))
	if n == 0 || !within(line, slab, len(ref.bytes)) {
		return 0, false, false
	}
	at := uintptr(unsafe.Pointer(unsafe.StringData(e.ID)))
	inLine = len(e.ID) > 0 && within(at, line, n)
	inBytes = len(e.ID) > 0 && !inLine && within(at, slab, len(ref.bytes))
	size = n
	if inBytes {
		size += len(e.ID)
	}
	return size, inLine, inBytes
}

// heldWith is a held event's header with room for its line after it.
type heldWith[B any] struct {
	ev  Event
	buf B
}

// newHeld returns a header and size bytes for its line, in one object
// when the two fit the allocator's size classes up to 512 bytes (the
// header is 128; past 512 an object with pointers takes a header of its
// own). The arrays follow the size classes, so that what the line does
// not fill is what a separate allocation of it would round up to anyway.
func newHeld(size int) (*Event, []byte) {
	switch {
	case size <= 64:
		return held[[64]byte](size)
	case size <= 80:
		return held[[80]byte](size)
	case size <= 96:
		return held[[96]byte](size)
	case size <= 112:
		return held[[112]byte](size)
	case size <= 128:
		return held[[128]byte](size)
	case size <= 160:
		return held[[160]byte](size)
	case size <= 192:
		return held[[192]byte](size)
	case size <= 224:
		return held[[224]byte](size)
	case size <= 256:
		return held[[256]byte](size)
	case size <= 288:
		return held[[288]byte](size)
	case size <= 320:
		return held[[320]byte](size)
	case size <= 352:
		return held[[352]byte](size)
	case size <= 384:
		return held[[384]byte](size)
	}
	return new(Event), make([]byte, size)
}

func held[B any](size int) (*Event, []byte) {
	h := new(heldWith[B])
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&h.buf)), unsafe.Sizeof(h.buf))
	return &h.ev, buf[:size:size]
}

// A Releaser releases events as Release does, but tells a slab of its
// events once for each run of them: a slab's count sits in a cache line
// the decoder's core writes too, and one atomic addition per event was 2%
// of the filter scenario's CPU. The events of a slab come one after the
// other, so a run ends when an event of another slab comes, or at Flush.
// A run not flushed keeps its slab from being reused, no more.
type Releaser struct {
	ref *slabRef
	n   int32
}

// Release releases ev, as the function Release does, in the run of its
// slab.
func (r *Releaser) Release(ev *Event) {
	ref := take(ev)
	if ref == nil {
		return
	}
	if ref != r.ref {
		r.Flush()
		r.ref = ref
	}
	r.n++
}

// Flush tells the slab of the current run how many of its events were
// released.
func (r *Releaser) Flush() {
	if r.ref != nil {
		r.ref.done(-r.n)
		r.ref, r.n = nil, 0
	}
}

// slabs hands out screened events' blocks and line bytes: blocks of four
// Fields (the time, the id and two fields, a filter's common case), of
// eight, or of sixteen (a payment or a login whose every field some rule
// reads, decoded whole for the sequences and windows of its stream).
type slabs struct {
	four    blockSlab[[4]Field]
	eight   blockSlab[[8]Field]
	sixteen blockSlab[[16]Field]
	// last is the size of the block of the event since mark (0 for none,
	// or one of its own).
	last int
}

// mark notes where the next event starts, for giveBack.
func (s *slabs) mark() { s.last = 0 }

// event returns an event with room for n Fields and, as room, c bytes
// for its line, from a slab when n is at most sixteen and c fits (see
// blockSlab.take); room is nil otherwise.
func (s *slabs) event(n, c int) (ev *Event, lz *lazyFields, fs []Field, room []byte) {
	switch {
	case n <= 4:
		if s.four.pools == nil {
			s.four.pools = &slabPools.four
		}
		ev, lz, fs, room = s.four.take(c)
		s.last = 4
	case n <= 8:
		if s.eight.pools == nil {
			s.eight.pools = &slabPools.eight
		}
		ev, lz, fs, room = s.eight.take(c)
		s.last = 8
	case n <= 16:
		if s.sixteen.pools == nil {
			s.sixteen.pools = &slabPools.sixteen
		}
		ev, lz, fs, room = s.sixteen.take(c)
		s.last = 16
	default:
		ev, lz, fs = newLazyEvent(n)
		return ev, lz, fs, nil
	}
	return ev, lz, fs[:n:n], room
}

// giveBack returns what was handed out since mark to the slabs, the
// block cleared for the next event.
func (s *slabs) giveBack() {
	switch s.last {
	case 4:
		s.four.giveBack()
	case 8:
		s.eight.giveBack()
	case 16:
		s.sixteen.giveBack()
	}
	s.last = 0
}
