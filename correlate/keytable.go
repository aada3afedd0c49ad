package correlate

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// keyTable is the router's index frozen once built: the detectors filed
// under each key (a field's value, its text, or an affix of the text).
// With thousands of rules every event looks up a random key, and the
// cost is the cache misses of reaching it: in Go's map a lookup reads the
// group's control word and its slot, then the key's bytes where the key
// string points, then the rule list where the slice points, up to four
// lines scattered over the heap. Here a slot of 32 bytes holds the key's
// hash, a key of up to 16 bytes and a lone detector inline, so the common
// lookup (one rule per value) reads one cache line.
type keyTable struct {
	slots []keySlot
	mask  uint64
	keys  []byte // keys longer than keyInline
	dets  []int  // lists of more than one detector
	// ends flags the pairs of last bytes (endsBit) the keys end with, so
	// that a text none ends like is turned away without building its key
	// and hashing it (endsUnlike): with ten rules watching ten merchants,
	// nearly every event's merchant is.
	ends [4]uint64
}

// endsBit is the bit of ends for a text ending in the bytes prev, last.
func endsBit(prev, last byte) uint8 { return last ^ prev<<3 ^ prev>>5 }

// endsUnlike reports whether no key ends with the last two bytes of the
// text s, so that no key of s is in the table: a text's key ends as the
// text does (rules.AppendValueKey). It is false for a text of fewer
// than two bytes.
func (t *keyTable) endsUnlike(s string) bool {
	if len(s) < 2 {
		return false
	}
	b := endsBit(s[len(s)-2], s[len(s)-1])
	return t.ends[b>>6]&(1<<(b&63)) == 0
}

const keyInline = 16

type keySlot struct {
	hash uint32 // the hash's high half; low bits choose the slot
	klen uint32
	// n is how many detectors: 0 marks an empty slot, 1 keeps the
	// detector in det, more keep them at dets[det:det+n].
	n, det uint32
	// key is the key itself, or for a longer one its offset in keys in
	// the first four bytes.
	key [keyInline]byte
}

// newKeyTable freezes m; its lists are kept in the order they have.
func newKeyTable(m map[string][]int) keyTable {
	if len(m) == 0 {
		return keyTable{}
	}
	// At most half full, so that a miss ends at an empty slot soon.
	size := 1 << bits.Len(uint(2*len(m)-1))
	t := keyTable{slots: make([]keySlot, size), mask: uint64(size - 1)}
	for k, dets := range m {
		if len(dets) == 0 {
			continue
		}
		h := xxhash.Sum64String(k)
		if len(k) >= 2 {
			b := endsBit(k[len(k)-2], k[len(k)-1])
			t.ends[b>>6] |= 1 << (b & 63)
		} else {
			t.ends = [4]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
		}
		s := keySlot{hash: uint32(h >> 32), klen: uint32(len(k)), n: uint32(len(dets))}
		if len(k) <= keyInline {
			copy(s.key[:], k)
		} else {
			binary.LittleEndian.PutUint32(s.key[:4], uint32(len(t.keys)))
			t.keys = append(t.keys, k...)
		}
		if len(dets) == 1 {
			s.det = uint32(dets[0])
		} else {
			s.det = uint32(len(t.dets))
			t.dets = append(t.dets, dets...)
		}
		i := h & t.mask
		for t.slots[i].n != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = s
	}
	return t
}

func (t *keyTable) empty() bool { return len(t.slots) == 0 }

// lookup appends the detectors filed under k.
func (t *keyTable) lookup(out []int, k []byte) []int {
	if len(t.slots) == 0 {
		return out
	}
	h := xxhash.Sum64(k)
	hi := uint32(h >> 32)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.n == 0 {
			return out
		}
		if s.hash != hi || int(s.klen) != len(k) {
			continue
		}
		if len(k) <= keyInline {
			if !bytes.Equal(s.key[:len(k)], k) {
				continue
			}
		} else if off := binary.LittleEndian.Uint32(s.key[:4]); !bytes.Equal(t.keys[off:int(off)+len(k)], k) {
			continue
		}
		if s.n == 1 {
			return append(out, int(s.det))
		}
		return append(out, t.dets[s.det:s.det+s.n]...)
	}
}
