package event

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Projection is the set of field paths that the readers of a stream's
// events can read: every path any loaded rule's conditions, keys, alert
// fields or scores name, such as ["user"] and ["geo", "country"]. A
// Decoder given one builds only those values and skips the rest of each
// line without building anything (see Decoder.Project). A Projection is
// immutable once built and may be shared by decoders.
type Projection struct {
	root  projNode
	paths [][]string
	// held is the node of events Hold made with this projection: it keeps
	// nothing, and its thaw is root.
	held projNode
	// heldLazy is what the events held with this projection share in
	// place of their own lazyFields, for the limits they were decoded
	// with (one stream's, as a rule: a detector holds one stream's
	// events with one projection); packedLazy the same for those whose
	// lines a Packer packed.
	heldLazy, packedLazy atomic.Pointer[lazyFields]
}

// projNode is one level of a projection: either the whole value is read
// (all), or the named members are, each with its own node.
type projNode struct {
	all bool
	// id is the id of the node's member name in its parent (see Name),
	// which names that member in projected events.
	id    uint32
	names []string
	kids  []*projNode
	// head[sig(name)] is 1 + the index of the first name with that
	// signature, next[i] that of the name after name i with the same
	// one; 0 ends a chain. Most members of a wide event are not
	// projected, and most are turned away by one load, without comparing
	// or hashing their names; a projected one costs one comparison.
	head [256]uint16
	next []uint16
	// thaw, on the node of a held event only, is the projection Thaw
	// decodes (see Event.Hold); pack is the Packer that packed its line,
	// if one did, and then unpacked is what the held events of the line
	// unpacked share (see Event.Unpacked).
	thaw     *projNode
	pack     *Packer
	unpacked *lazyFields
	// stamp, on a top-level member's node of a Decoder's own projection,
	// tells which of its time keys (bit i: timeNames[i]) and whether its
	// id (stampID) the member is: the parse notes where they are (see
	// parser.noted), so that stamp need not look for them.
	stamp uint16
}

// stampID is projNode.stamp's bit for the id.
const stampID = 1 << 8

// sig is a name's signature: its length, its first and its last byte.
func sig(name string) uint8 {
	if name == "" {
		return 0
	}
	return uint8(len(name)*31) ^ name[len(name)-1] ^ name[0]<<3
}

// NewProjection returns the projection of paths. An empty path means the
// whole event: the projection then decodes every field, as no projection
// does.
func NewProjection(paths [][]string) *Projection {
	p := newProjection()
	for _, path := range paths {
		p.add(path)
	}
	return p
}

func newProjection() *Projection {
	p := &Projection{}
	p.held.thaw = &p.root
	return p
}

// ProjectAll is the projection of the whole event.
var ProjectAll = NewProjection([][]string{{}})

// maxNames bounds the members one level of a projection names, so that
// chains fit their indexes.
const maxNames = 1<<16 - 1

func (p *Projection) add(path []string) {
	p.paths = append(p.paths, slices.Clone(path))
	n := &p.root
	for _, name := range path {
		if n.all {
			return
		}
		kid := n.child(name)
		if kid == nil {
			if len(n.names) == maxNames {
				// Beyond any real event: read this level whole.
				break
			}
			var id uint32
			name, id = nameID(name)
			kid = &projNode{id: id}
			b := sig(name)
			n.names = append(n.names, name)
			n.kids = append(n.kids, kid)
			n.next = append(n.next, n.head[b])
			n.head[b] = uint16(len(n.names))
		}
		n = kid
	}
	n.all, n.names, n.kids, n.next, n.head = true, nil, nil, nil, [256]uint16{}
}

// keeps reports whether an object at n keeps its member name when it has
// one.
func (n *projNode) keeps(name string) bool { return n != nil && (n.all || n.child(name) != nil) }

func (n *projNode) child(name string) *projNode {
	for i := n.head[sig(name)]; i != 0; i = n.next[i-1] {
		if n.names[i-1] == name {
			return n.kids[i-1]
		}
	}
	return nil
}

// with returns a copy of p that also holds paths.
func (p *Projection) with(paths ...[]string) *Projection {
	q := newProjection()
	for _, path := range p.paths {
		q.add(path)
	}
	for _, path := range paths {
		q.add(path)
	}
	return q
}

// All reports whether p reads the whole event.
func (p *Projection) All() bool { return p.root.all }

// Paths returns the dotted paths of p, sorted, for logs and diagnostics.
func (p *Projection) Paths() []string {
	out := make([]string, 0, len(p.paths))
	for _, path := range p.paths {
		out = append(out, strings.Join(path, "."))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// lazyFields is how a projected event finds its whole self: the line is
// decoded again, once, on the first call to Full.
type lazyFields struct {
	once sync.Once
	// n is the count of the projected fields, an int32 to sit in the
	// padding after once. (2³¹ Fields would take 120 GB.)
	n int32
	// full is what Full decoded, behind a pointer: few events are ever
	// read whole, and a slice here would take 16 bytes more of every
	// lazy event, which moves a block of four Fields from the allocator's
	// size class of 352 bytes to 384, and most others up a class too.
	full *[]Field
	lim  *Limits
	// node is the projection the event was decoded with, with its time
	// and id fields.
	node *projNode
	// What the decoder made: a copy of the event whose Raw or Fields was
	// replaced is no longer that projection, and Full returns its Fields.
	raw  *byte
	proj *Field
}

// Full returns every top-level member of the event in document order. For
// an event decoded with a projection, Fields holds only the projected
// paths and Full decodes the whole line on its first call; later calls,
// from any goroutine, return the same slice. The line was validated in full
// under the same limits when the event was decoded, so this decode cannot
// fail. For every other event (decoded in full, built by hand, or a copy
// whose Raw or Fields was replaced) Full returns Fields. A held event (see
// Hold) decodes its line on every call, so as not to keep what it was held
// without.
func (e *Event) Full() []Field {
	lz := e.lazy
	if lz == nil || !lz.owns(e) {
		return e.Fields
	}
	if lz.node.thaw != nil {
		return decodeFull(e.RawLine(), lz.lim)
	}
	lz.once.Do(func() {
		fs := decodeFull(e.Raw, lz.lim)
		lz.full = &fs
	})
	return *lz.full
}

// Projected reports whether Fields holds only a projection of the event,
// so that Full is not Fields.
func (e *Event) Projected() bool { return e.lazy != nil && e.lazy.owns(e) }

func (lz *lazyFields) owns(e *Event) bool {
	if lz.raw == nil {
		// Held events share their lazyFields (see Projection.heldFor).
		return lz.node.thaw != nil && len(e.Fields) == 0
	}
	return unsafe.SliceData(e.Raw) == lz.raw && unsafe.SliceData(e.Fields) == lz.proj && len(e.Fields) == int(lz.n)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// getScratch takes a scratch for a decode off the decoder's own path (a
// Full, a Thaw, a Stored line); putScratch gives it back trimmed.
func getScratch() *scratch {
	s := scratchPool.Get().(*scratch)
	s.reset()
	return s
}

func putScratch(s *scratch) {
	s.trim()
	scratchPool.Put(s)
}

// decodeFull decodes an event's own line in full; strings without escapes
// point into it.
func decodeFull(raw []byte, lim *Limits) []Field {
	s := getScratch()
	defer putScratch(s)
	p := s.parserFor(raw, lim)
	root, err := p.root()
	if err != nil {
		// The same parser accepted this line under the same limits.
		panic("event: a line accepted by the decoder fails to decode in full: " + err.Error())
	}
	top, _ := p.build(root, false, 0, make([]Field, len(s.tape)))
	return top
}

// Hold returns e for a consumer that keeps it long and seldom reads it,
// reading no more of it than p: a copy that keeps e's line and header
// (stream, id, time, sequence, line number) but none of its values. Thaw
// decodes p's paths from the line again when the consumer reads them, and
// Full, Get and Path answer as e's do. A twelve-hour sequence keyed by
// user keeps every login of the last twelve hours to compare its place
// with the next login's once or twice: a held login takes 128 bytes beside
// its line, where a copy of the six values it reads took 448.
//
// With a Packer, the copy's line is packed too (see Packer), once the
// Packer has its dictionary: its Raw is then not the line, which RawLine
// and Thaw unpack.
//
// It returns e itself when holding saves little or cannot be done: e was
// decoded in full (so no limits are known to decode it again with), p is
// nil or reads everything, or e has few values.
func (e *Event) Hold(p *Projection, pk *Packer) *Event { return e.hold(p, pk, minHoldSaving) }

// HoldPacked is Hold with e's line already packed by pk.Prepack, as
// packed, which the copy keeps instead of packing the line again.
func (e *Event) HoldPacked(p *Projection, pk *Packer, packed *Prepacked) *Event {
	return e.holdLine(p, pk, packed, minHoldSaving)
}

// hold is Hold with the least saving, in bytes, worth a copy.
func (e *Event) hold(p *Projection, pk *Packer, minSaving int) *Event {
	return e.holdLine(p, pk, nil, minSaving)
}

// holdLine is hold with what pk.Prepack made of e's line, if anything.
func (e *Event) holdLine(p *Projection, pk *Packer, prepacked *Prepacked, minSaving int) *Event {
	if p == nil || p.root.all || !e.Projected() {
		return e.Detach()
	}
	// An event with no values decoded yet (Stored) is held whatever it
	// saves: held, it is thawed to be read instead of keeping its Full.
	if n := countAll(e.Fields); n > 0 && heldSaving(n) < minSaving {
		return e.Detach()
	}
	// The copy's line and id are packed ones, or its own (ownLine): never
	// the event's, which may be its decoder's slab's.
	if pk != nil && prepacked != nil && len(prepacked.b) > len(e.ID) {
		h := &Event{Stream: e.Stream, Time: e.Time, Seq: e.Seq, Line: e.Line}
		// Prepack put the id after the packed line, as pack does.
		b := prepacked.b
		n := len(b) - len(e.ID)
		h.Raw, h.lazy = b[:n:n], p.packedFor(e.lazy.lim, pk)
		if n < len(b) {
			h.ID = unsafe.String(&b[n], len(e.ID))
		}
		pk.packed.Add(1)
		pk.ahead.Add(1)
		return h
	}
	if pk != nil {
		if raw, id, ok := pk.pack(e.Raw, e.ID); ok {
			return &Event{Stream: e.Stream, ID: id, Time: e.Time, Seq: e.Seq, Line: e.Line, Raw: raw, lazy: p.packedFor(e.lazy.lim, pk)}
		}
	}
	h := e.ownLine()
	h.Stream, h.Time, h.Seq, h.Line = e.Stream, e.Time, e.Seq, e.Line
	h.lazy = p.heldFor(e.lazy.lim)
	return h
}

// heldFor returns the lazyFields of events held with p that were decoded
// under lim. Its node keeps nothing, so that Get and Path look past a held
// event's empty Fields into the line; its thaw is what Thaw decodes. It
// has no line of its own (see lazyFields.owns), and a held event's Full
// does not keep what it decodes, so events can share it.
func (p *Projection) heldFor(lim *Limits) *lazyFields {
	// Each decoding goroutine has its limits, alike: compared by value,
	// one lazyFields serves them all.
	if lz := p.heldLazy.Load(); lz != nil && *lz.lim == *lim {
		return lz
	}
	lz := &lazyFields{lim: lim, node: &p.held}
	p.heldLazy.Store(lz)
	return lz
}

// packedFor is heldFor for the events whose lines pk packed: their node's
// pack is pk.
func (p *Projection) packedFor(lim *Limits, pk *Packer) *lazyFields {
	if lz := p.packedLazy.Load(); lz != nil && *lz.lim == *lim && lz.node.pack == pk {
		return lz
	}
	lz := &lazyFields{lim: lim, node: &projNode{thaw: &p.root, pack: pk, unpacked: p.heldFor(lim)}}
	p.packedLazy.Store(lz)
	return lz
}

// Unpacked returns a held event whose line was packed (see Hold) as the
// held event of its line, whose Raw an alert writes as it is; any other
// event as it is. Unlike Thaw it decodes nothing: a match's events go into
// its alert, and most alerts read none of their values.
func (e *Event) Unpacked() *Event {
	lz := e.lazy
	if lz == nil || lz.node.pack == nil || !lz.owns(e) {
		return e
	}
	return &Event{Stream: e.Stream, ID: e.ID, Time: e.Time, Seq: e.Seq, Line: e.Line, Raw: lz.node.pack.unpack(e.Raw), lazy: lz.node.unpacked}
}

// RawLine returns the event's line: Raw, unpacked when it was packed (see
// Hold), into a new slice.
func (e *Event) RawLine() []byte {
	if lz := e.lazy; lz != nil && lz.node != nil && lz.node.pack != nil && lz.owns(e) {
		return lz.node.pack.unpack(e.Raw)
	}
	return e.Raw
}

// heldSaving is what holding a projected event of n decoded values
// frees, in bytes: its values and what Full needs, which share the
// event's allocation (see newLazyEvent) and go with it; the held copy's
// header costs what the event's did. Counting the values alone, an
// aggregate's 5-field events were not held, and each kept 416 bytes
// where a held copy keeps 128.
func heldSaving(n int) int {
	return int(unsafe.Sizeof(lazyFields{})) + n*int(unsafe.Sizeof(Field{}))
}

// minHoldSaving is the least memory, in bytes, that Hold's copy must
// free: at least the copy's own header, which is also an allocation to
// make and, for the holder, a decode to redo when read. Holding the
// 4-value events of a 3-step sequence (232 bytes freed each) took a third
// off its live partial matches' memory, and no more CPU than keeping them
// whole did (cep bench --scenario sequence): the collector then had less
// to mark. (A threshold of 256 bytes, set when holding copied the values,
// kept them whole.)
const minHoldSaving = int(unsafe.Sizeof(Event{}))

// Held reports whether e is a copy made by Hold, whose Fields are empty
// until thawed.
func (e *Event) Held() bool {
	return e.lazy != nil && e.lazy.node.thaw != nil && e.lazy.owns(e)
}

// Thaw returns a held event (see Hold) with the values its holder reads
// decoded again from its line: a new event, to read and drop, sharing the
// line. Any other event is returned as it is.
func (e *Event) Thaw() *Event {
	if !e.Held() {
		return e
	}
	return e.thaw(e.lazy.node.thaw, nil)
}

// ThawIn is Thaw for a reader that reads no more of the event than p: it
// decodes only p's paths, which Fields then holds, and Get, Path and Full
// find the rest in the line, as for any projected event. A sequence's
// condition that compares a login's place with an earlier login's reads
// one object of the earlier one, where its holders read most of it. With
// p nil it is Thaw; with p empty it returns the held event itself, whose
// reads all go to the line.
func (e *Event) ThawIn(p *Projection) *Event { return e.ThawInto(nil, p) }

// A ThawBuf is the memory of a thawed event that its reader drops before
// it thaws the next one into the same ThawBuf. A sequence's guard thaws
// an earlier step's event for each partial match it tests, to read it
// once and drop it: a ThawBuf per step spares the allocator, and the
// collector, an event per test. The zero ThawBuf is ready to use.
//
// Only the event and its Fields are reused: the strings a thawed event
// decoded (those with escapes) get bytes of their own, as a reader may
// keep a string it read, such as a key it looked up in a cache.
type ThawBuf struct {
	ev Event
	lz lazyFields
	fs []Field
}

// ThawInto is ThawIn into b: the event it returns, when it thaws, is b's,
// and valid until the next thaw into b. With b nil it is ThawIn.
func (e *Event) ThawInto(b *ThawBuf, p *Projection) *Event {
	switch {
	case p == nil || p.root.all:
		if !e.Held() {
			return e
		}
		return e.thaw(e.lazy.node.thaw, b)
	case !e.Held() || len(p.paths) == 0:
		return e
	}
	return e.thaw(&p.root, b)
}

// thaw decodes node's paths of a held event's line into a new event, or
// into b's.
func (e *Event) thaw(node *projNode, b *ThawBuf) *Event {
	lz := e.lazy
	raw := e.RawLine()
	s := getScratch()
	defer putScratch(s)
	p := s.parserFor(raw, lz.lim)
	var (
		root sval
		err  error
	)
	if ents := e.lineIndex(len(raw)); ents != nil {
		root, err = p.rootAt(node, ents)
	} else {
		p.index = e.indexes(len(raw))
		root, err = p.rootIn(node)
		if err == nil && p.index {
			e.setLineIndex(len(raw), s.ents)
		}
	}
	if err != nil {
		// The decoder accepted this line under the same limits.
		panic("event: a held event's line fails to decode: " + err.Error())
	}
	var (
		ev  *Event
		tlz *lazyFields
		fs  []Field
	)
	if b == nil {
		ev, tlz, fs = newEvent(len(s.tape), true)
	} else {
		if n := len(s.tape); cap(b.fs) < n {
			b.fs = make([]Field, n, n+n/2)
		}
		fs = b.fs[:len(s.tape)]
		// build sets only the parts of a Field its value has.
		clear(fs)
		ev, tlz = &b.ev, &b.lz
		*ev = Event{}
	}
	top, _ := p.build(root, false, 0, fs)
	ev.Stream, ev.ID, ev.Time, ev.Seq, ev.Line, ev.Raw, ev.Fields = e.Stream, e.ID, e.Time, e.Seq, e.Line, raw, top
	*tlz = lazyFields{lim: lz.lim, node: node, raw: unsafe.SliceData(ev.Raw), proj: unsafe.SliceData(top), n: int32(len(top))}
	ev.lazy = tlz
	return ev
}

// Stored returns the event of a line that was decoded before and kept, as
// a checkpoint keeps the events that detectors hold: an event with Raw set
// to line and none of its values decoded. Full decodes them on first use,
// as for a projected event, and Hold takes it. Its limits are the
// defaults; the caller sets the rest of the header. It fails when line is
// not a JSON object within those limits.
func Stored(line []byte) (*Event, error) {
	lim := &storedLimits
	if len(line) > lim.MaxLineSize {
		return nil, &Error{Msg: fmt.Sprintf("line of %d bytes is longer than the limit of %d", len(line), lim.MaxLineSize)}
	}
	s := getScratch()
	defer putScratch(s)
	p := s.parserFor(line, lim)
	if _, err := p.rootIn(&keepNothing); err != nil {
		return nil, err
	}
	ev, lz, _ := newEvent(0, true)
	ev.Raw = line
	*lz = lazyFields{lim: lim, node: &keepNothing, raw: unsafe.SliceData(line)}
	ev.lazy = lz
	return ev, nil
}

// storedLimits are the limits of Stored events.
var storedLimits = Limits{}.WithDefaults()

// keepNothing is the projection node of Stored events.
var keepNothing projNode

// countAll counts the values of fs at every level.
func countAll(fs []Field) int {
	c := len(fs)
	for i := range fs {
		c += countAll(fs[i].sub())
	}
	return c
}
