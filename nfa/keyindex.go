package nfa

import (
	"hash/maphash"
	"unsafe"
)

// keyIndex finds a key's state: an open-addressing table of slots that
// hold a state and its key's hash, at most half full, probed linearly.
// With a million keys a lookup in a Go map reads a group's control word,
// then its slot, then the key's bytes, each a cache miss before the
// state's own; here a slot is 16 bytes, its hash turns away the slots of
// other keys, and the key's bytes are read only to confirm a match.
// Deletion shifts the slots after it back, so slots holds no tombstones
// and a lookup stops at the first empty slot.
//
// A table grows (or shrinks) into a new one some slots at a time
// (migrate): rehashed all at once, the 65,536 states of the sequence
// scenario took 11–13 ms, most of it the kernel faulting in the new
// table's pages, and a service's events waited that long behind the put
// that grew it; the longest put now takes 0.5 ms, the new table's
// allocation. While it moves, a state is in slots or in old; a slot of
// old whose state moved keeps its hash, so that lookups in old still
// probe past it, and no state (ks nil).
type keyIndex struct {
	slots []keySlot
	// old is the table being moved into slots, its slots before moved
	// done with; nil when none is.
	old   []keySlot
	moved int
	n     int
	seed  maphash.Seed
}

// migrateAtOnce is the size of table up to which a resize moves every
// slot at once: tens of microseconds.
const migrateAtOnce = 1024

// migrateStep is how many slots of old a put or a remove moves on from:
// a table of S slots is moved in S/migrateStep of them, long before the
// S/2 puts after which the new one (of 2S) must grow, and soon, since a
// lookup that misses reads both tables meanwhile: at 16 a step, the
// largest table of the sequence scenario took 8,192 puts and removes to
// move, and its p99 was worse (245–304 µs against 222–251, four pairs).
const migrateStep = 256

type keySlot struct {
	h  uint64 // the key's hash, never 0; 0 marks an empty slot
	ks *KeyState
}

// minSlots is the size of a table's first allocation.
const minSlots = 16

func newKeyIndex() keyIndex { return keyIndex{seed: maphash.MakeSeed()} }

func (x *keyIndex) hash(key string) uint64 {
	if h := maphash.String(x.seed, key); h != 0 {
		return h
	}
	return 1
}

// hashBytes is hash for a key held in a buffer.
func (x *keyIndex) hashBytes(key []byte) uint64 {
	if h := maphash.Bytes(x.seed, key); h != 0 {
		return h
	}
	return 1
}

func (x *keyIndex) len() int { return x.n }

// get returns the state of key, or nil.
func (x *keyIndex) get(key string) *KeyState {
	// A view of the string's bytes, which getBytes only reads; they hash
	// as the string does.
	return x.getBytes(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// getBytes is get for a key held in a buffer.
func (x *keyIndex) getBytes(key []byte) *KeyState {
	if x.n == 0 {
		return nil
	}
	h := x.hashBytes(key)
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.h == 0 {
			break
		}
		if s.h == h && s.ks.key == string(key) {
			return s.ks
		}
	}
	if x.old == nil {
		return nil
	}
	mask = uint64(len(x.old) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.old[i]
		if s.h == 0 {
			return nil
		}
		if s.h == h && s.ks != nil && s.ks.key == string(key) {
			return s.ks
		}
	}
}

// put records ks as the state of its key, ks.key, which the index must not
// hold yet.
func (x *keyIndex) put(ks *KeyState) {
	x.migrate(migrateStep)
	if 2*(x.n+1) > len(x.slots) {
		x.resize(max(minSlots, 2*len(x.slots)))
	}
	x.place(x.hash(ks.key), ks)
	x.n++
}

func (x *keyIndex) place(h uint64, ks *KeyState) {
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].h != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = keySlot{h: h, ks: ks}
}

// remove forgets the state ks, and shrinks the table once it is mostly
// empty.
func (x *keyIndex) remove(ks *KeyState) {
	if x.n == 0 {
		return
	}
	x.migrate(migrateStep)
	h := x.hash(ks.key)
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].ks != ks {
		if x.slots[i].h == 0 {
			x.removeOld(h, ks)
			return
		}
		i = (i + 1) & mask
	}
	// Move back every slot after i, up to the next empty one, that may sit
	// at i: one whose home is not between i and it.
	for j := (i + 1) & mask; x.slots[j].h != 0; j = (j + 1) & mask {
		home := x.slots[j].h & mask
		if (j-home)&mask >= (j-i)&mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = keySlot{}
	x.removed()
}

// removeOld forgets the state ks, of hash h, if old holds it: its slot
// keeps its hash for the lookups that probe past it.
func (x *keyIndex) removeOld(h uint64, ks *KeyState) {
	if x.old == nil {
		return
	}
	mask := uint64(len(x.old) - 1)
	for i := h & mask; x.old[i].h != 0; i = (i + 1) & mask {
		if x.old[i].ks == ks {
			x.old[i].ks = nil
			x.removed()
			return
		}
	}
}

// removed counts a state removed, and shrinks the table once it is
// mostly empty.
func (x *keyIndex) removed() {
	x.n--
	if x.n == 0 {
		x.slots, x.old, x.moved = nil, nil, 0
	} else if x.old == nil && len(x.slots) > 1024 && 8*x.n < len(x.slots) {
		x.resize(len(x.slots) / 4)
	}
}

// resize starts moving the states into a table of size slots, once any
// move under way has ended.
func (x *keyIndex) resize(size int) {
	x.migrate(len(x.old))
	x.old, x.moved = x.slots, 0
	x.slots = make([]keySlot, size)
	if len(x.old) <= migrateAtOnce {
		x.migrate(len(x.old))
	}
}

// migrate moves the states of up to n slots of old into slots.
func (x *keyIndex) migrate(n int) {
	if x.old == nil {
		return
	}
	end := min(x.moved+n, len(x.old))
	for ; x.moved < end; x.moved++ {
		if s := &x.old[x.moved]; s.ks != nil {
			x.place(s.h, s.ks)
			s.ks = nil
		}
	}
	if x.moved == len(x.old) {
		x.old, x.moved = nil, 0
	}
}

// each calls f for every state, in no order.
func (x *keyIndex) each(f func(ks *KeyState)) {
	for _, s := range x.slots {
		if s.h != 0 {
			f(s.ks)
		}
	}
	for _, s := range x.old[x.moved:] {
		if s.ks != nil {
			f(s.ks)
		}
	}
}
