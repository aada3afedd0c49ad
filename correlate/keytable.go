package correlate

import (
	"maps"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// keyTable is the router's index frozen once built: the detectors filed
// under each key (a field's value, its text, or an affix of the text).
// With thousands of rules every event looks up a random key, and the
// cost is the cache misses of reaching it: in Go's map a lookup reads the
// group's control word and its slot, then the key's bytes where the key
// string points, then the rule list where the slice points, up to four
// lines scattered over the heap. Here a slot of 16 bytes holds the key's
// 64-bit hash and a lone detector inline, so the common lookup (one rule
// per value) reads one slot.
//
// A slot keeps the key's hash, not the key: what the router finds is a
// rule's candidacy, which its condition then tests in full, the tested
// value among its terms, so a key that only hashes like a filed one adds
// a candidate that fails its test, and never loses one. Keys of one hash
// share their slot and their lists (newKeyTable). With the keys inline, a
// slot was 32 bytes and 10,000 rules on a merchant each made a table of a
// megabyte, as large as a core's second-level cache; most lookups then
// waited for a miss.
type keyTable struct {
	slots []keySlot
	mask  uint64
	dets  []int // lists of more than one detector
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

type keySlot struct {
	hash uint64 // the key's hash (keyHash); 0 marks an empty slot
	// n is how many detectors: 1 keeps the detector in det, more keep
	// them at dets[det:det+n].
	n, det uint32
}

// keyHash is a key's hash, never 0.
func keyHash(k []byte) uint64 { return max(xxhash.Sum64(k), 1) }

// newKeyTable freezes m; its lists are kept in the order they have, and
// the lists of keys that hash alike are merged in detector order.
func newKeyTable(m map[string][]int) keyTable {
	byHash := byHashOf(m, keyHash)
	if len(byHash) == 0 {
		return keyTable{}
	}
	// At most three quarters full: a miss ends at an empty slot soon,
	// mostly in the line it started in (four slots to a line).
	size := 1 << bits.Len(uint((4*len(byHash)+2)/3-1))
	t := keyTable{slots: make([]keySlot, size), mask: uint64(size - 1)}
	for k, dets := range m {
		if len(dets) == 0 {
			continue
		}
		if len(k) >= 2 {
			b := endsBit(k[len(k)-2], k[len(k)-1])
			t.ends[b>>6] |= 1 << (b & 63)
		} else {
			t.ends = [4]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
		}
	}
	// In order of hash, so that the table is the same from run to run
	// whatever order the map gives.
	for _, h := range slices.Sorted(maps.Keys(byHash)) {
		dets := byHash[h]
		s := keySlot{hash: h, n: uint32(len(dets))}
		if len(dets) == 1 {
			s.det = uint32(dets[0])
		} else {
			s.det = uint32(len(t.dets))
			t.dets = append(t.dets, dets...)
		}
		i := h & t.mask
		for t.slots[i].hash != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = s
	}
	return t
}

// byHashOf files the non-empty lists of m by the hash of their keys; the
// lists of keys that hash alike are merged, in detector order.
func byHashOf(m map[string][]int, hash func([]byte) uint64) map[uint64][]int {
	byHash := map[uint64][]int{}
	for k, dets := range m {
		if len(dets) == 0 {
			continue
		}
		h := hash([]byte(k))
		if prev, ok := byHash[h]; ok {
			merged := slices.Concat(prev, dets)
			slices.Sort(merged)
			byHash[h] = slices.Compact(merged)
		} else {
			byHash[h] = dets
		}
	}
	return byHash
}

func (t *keyTable) empty() bool { return len(t.slots) == 0 }

// lookup appends the detectors filed under k, and under any key that
// hashes as k does.
func (t *keyTable) lookup(out []int, k []byte) []int {
	if len(t.slots) == 0 {
		return out
	}
	h := keyHash(k)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.hash == h {
			if s.n == 1 {
				return append(out, int(s.det))
			}
			return append(out, t.dets[s.det:s.det+s.n]...)
		}
		if s.hash == 0 {
			return out
		}
	}
}
