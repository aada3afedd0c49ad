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
// Deletion shifts the slots after it back, so there are no tombstones and
// a lookup stops at the first empty slot.
type keyIndex struct {
	slots []keySlot
	n     int
	seed  maphash.Seed
}

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
			return nil
		}
		if s.h == h && s.ks.key == string(key) {
			return s.ks
		}
	}
}

// put records ks as the state of its key, ks.key, which the index must not
// hold yet.
func (x *keyIndex) put(ks *KeyState) {
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
	h := x.hash(ks.key)
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].ks != ks {
		if x.slots[i].h == 0 {
			return // not held
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
	x.n--
	if x.n == 0 {
		x.slots = nil
	} else if len(x.slots) > 1024 && 8*x.n < len(x.slots) {
		x.resize(len(x.slots) / 4)
	}
}

func (x *keyIndex) resize(size int) {
	old := x.slots
	x.slots = make([]keySlot, size)
	for _, s := range old {
		if s.h != 0 {
			x.place(s.h, s.ks)
		}
	}
}

// each calls f for every state, in no order.
func (x *keyIndex) each(f func(ks *KeyState)) {
	for _, s := range x.slots {
		if s.h != 0 {
			f(s.ks)
		}
	}
}
