package event

import (
	"slices"
	"strings"
	"sync"
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
}

// projNode is one level of a projection: either the whole value is read
// (all), or the named members are, each with its own node.
type projNode struct {
	all   bool
	names []string
	kids  []*projNode
	// head[sig(name)] is 1 + the index of the first name with that
	// signature, next[i] that of the name after name i with the same
	// one; 0 ends a chain. Most members of a wide event are not
	// projected, and most are turned away by one load, without comparing
	// or hashing their names; a projected one costs one comparison.
	head [256]uint16
	next []uint16
}

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
	p := &Projection{}
	for _, path := range paths {
		p.add(path)
	}
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
			kid = &projNode{}
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
	q := &Projection{}
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
	// padding after once: a lazy event of four fields then fits the
	// allocator's size class of 416 bytes. (2³¹ Fields would take 120 GB.)
	n      int32
	fields []Field
	lim    *Limits
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
// whose Raw or Fields was replaced) Full returns Fields.
func (e *Event) Full() []Field {
	lz := e.lazy
	if lz == nil || !lz.owns(e) {
		return e.Fields
	}
	lz.once.Do(func() { lz.fields = decodeFull(e.Raw, lz.lim) })
	return lz.fields
}

// Projected reports whether Fields holds only a projection of the event,
// so that Full is not Fields.
func (e *Event) Projected() bool { return e.lazy != nil && e.lazy.owns(e) }

func (lz *lazyFields) owns(e *Event) bool {
	return unsafe.SliceData(e.Raw) == lz.raw && unsafe.SliceData(e.Fields) == lz.proj && len(e.Fields) == int(lz.n)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// decodeFull decodes an event's own line in full; strings without escapes
// point into it.
func decodeFull(raw []byte, lim *Limits) []Field {
	s := scratchPool.Get().(*scratch)
	s.reset()
	defer func() {
		s.trim()
		scratchPool.Put(s)
	}()
	p := parser{line: raw, s: s, lim: lim, bytes: len(raw)}
	root, err := p.root()
	if err != nil {
		// The same parser accepted this line under the same limits.
		panic("event: a line accepted by the decoder fails to decode in full: " + err.Error())
	}
	top, _ := p.build(root, false, 0, make([]Field, len(s.tape)))
	return top
}

// Narrow returns e for a consumer that holds it long and reads no more of
// it than p: a copy whose Fields keep only the paths of p, sharing e's
// line, with Full, Get and Path answering as e's do (what the copy left
// out is decoded again from the line, as for any projected event). A
// detector that keeps a login for twelve hours to compare its place with
// the next login's holds 6 of its 14 values this way.
//
// It returns e itself when narrowing saves little or cannot be done: e
// was decoded in full (so no limits are known to decode it again with),
// p is nil or reads everything, or e's projection did not keep a path of
// p whole (e's Fields would not tell all the line has there).
func (e *Event) Narrow(p *Projection) *Event {
	if p == nil || p.root.all || !e.Projected() {
		return e
	}
	for _, path := range p.paths {
		if !e.lazy.node.keepsWhole(path) {
			return e
		}
	}
	kept, all := countKept(e.Fields, &p.root), countAll(e.Fields)
	// The copy costs an allocation for every event a detector takes,
	// most of which it drops again soon: it pays when it leaves out a
	// quarter of the values and more than a small event's worth.
	if kept*4 >= all*3 || (all-kept)*ValueSize < minNarrowSaving {
		return e
	}
	ev, lz, fs := newEvent(kept, true)
	ev.Stream, ev.ID, ev.Time, ev.Seq, ev.Line, ev.Raw = e.Stream, e.ID, e.Time, e.Seq, e.Line, e.Raw
	top := countKeptTop(e.Fields, &p.root)
	rest := fs[top:]
	ev.Fields = fs[:top:top]
	copyKept(ev.Fields, e.Fields, &p.root, &rest)
	*lz = lazyFields{lim: e.lazy.lim, node: &p.root, raw: unsafe.SliceData(ev.Raw), proj: unsafe.SliceData(ev.Fields), n: int32(top)}
	ev.lazy = lz
	return ev
}

// minNarrowSaving is the least memory, in bytes, that Narrow's copy must
// save: a 4-field event narrowed to 2 saves 80, and copying every event a
// 3-step sequence takes cost 7% of its CPU for that (cep bench --scenario
// sequence).
const minNarrowSaving = 256

// keepsWhole reports whether a projection from n keeps the value at path
// whole: path or a path above it is one of its paths.
func (n *projNode) keepsWhole(path []string) bool {
	for _, name := range path {
		if n.all {
			return true
		}
		if n = n.child(name); n == nil {
			return false
		}
	}
	return n.all
}

// countKept counts the values of fs, at every level, that n keeps.
func countKept(fs []Field, n *projNode) int {
	if n.all {
		return countAll(fs)
	}
	c := 0
	for i := range fs {
		kid := n.child(fs[i].Key)
		if kid == nil {
			continue
		}
		c++
		if fs[i].kind == Object && !kid.all {
			c += countKept(fs[i].sub(), kid)
		} else {
			c += countAll(fs[i].sub())
		}
	}
	return c
}

// countAll counts the values of fs at every level.
func countAll(fs []Field) int {
	c := len(fs)
	for i := range fs {
		c += countAll(fs[i].sub())
	}
	return c
}

// copyKept copies into dst the members of src that n keeps (dst has room
// for exactly those), taking the room their members need from rest. It
// reports whether it left out any member, at any level.
func copyKept(dst, src []Field, n *projNode, rest *[]Field) bool {
	j, out := 0, false
	for i := range src {
		kid := n
		if !n.all {
			if kid = n.child(src[i].Key); kid == nil {
				out = true
				continue
			}
		}
		d := &dst[j]
		j++
		*d = src[i]
		sub := src[i].sub()
		if len(sub) == 0 {
			continue
		}
		k := len(sub)
		if src[i].kind == Object && !kid.all {
			k = countKeptTop(sub, kid)
		} else {
			kid = &projAll
		}
		room := (*rest)[:k:k]
		*rest = (*rest)[k:]
		d.ptr, d.n = nil, uint32(k)
		if k > 0 {
			d.ptr = unsafe.Pointer(unsafe.SliceData(room))
		}
		// An object that lost members, or holds one that did, is
		// partial, as a projected decode's is.
		if copyKept(room, sub, kid, rest) {
			d.part, out = true, true
		}
	}
	return out
}

// countKeptTop counts the members of fs that n keeps, at their level only.
func countKeptTop(fs []Field, n *projNode) int {
	c := 0
	for i := range fs {
		if n.keeps(fs[i].Key) {
			c++
		}
	}
	return c
}

// projAll is the node of a value read whole.
var projAll = projNode{all: true}
