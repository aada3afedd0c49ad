package window

import (
	"math"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// exactSet is the multiset of an exact count_distinct: an open-addressing
// table of counts, linearly probed, whose values lie back to back in one
// byte slice. Neither holds a pointer, so the collector never scans them,
// and a set of a few values is two small allocations where a map took
// one for itself, one for its slots and one per value it copied. Values
// are copied in, so a set never keeps an event's line alive.
type exactSet struct {
	slots []exactSlot // a power of two, at most three quarters full
	vals  []byte
	n     int32 // values in the set
	dead  int32 // bytes of vals that values since removed left behind
}

type exactSlot struct {
	tag   uint32 // the value's hash's high half, never 0: 0 is an empty slot
	len   uint32
	off   uint32
	count int32
}

// exactEntryBytes is what a value costs beside its bytes at the least:
// its slot.
const exactEntryBytes = int64(unsafe.Sizeof(exactSlot{}))

func hashValue(s string) (tag uint32, h uint64) {
	h = xxhash.Sum64String(s)
	return uint32(h>>32) | 1, h
}

// len is the number of distinct values.
func (x *exactSet) len() int { return int(x.n) }

// mem is the memory the set holds: its slots, empty ones included, and
// the room of its values' bytes.
func (x *exactSet) mem() int64 { return int64(len(x.slots))*exactEntryBytes + int64(cap(x.vals)) }

func (x *exactSet) value(sl *exactSlot) string {
	return unsafe.String(unsafe.SliceData(x.vals[sl.off:]), int(sl.len))
}

// find returns the slot of s, or the empty slot where it would go.
func (x *exactSet) find(s string) (int, bool) {
	tag, h := hashValue(s)
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &x.slots[i]
		if sl.tag == 0 {
			return int(i), false
		}
		if sl.tag == tag && int(sl.len) == len(s) && x.value(sl) == s {
			return int(i), true
		}
	}
}

// count returns how many times s was added and not removed.
func (x *exactSet) count(s string) int32 {
	if x.n == 0 {
		return 0
	}
	if i, ok := x.find(s); ok {
		return x.slots[i].count
	}
	return 0
}

// add counts s, n more times: a new value only when room is true. It
// reports whether s was there before, and whether it counted s.
func (x *exactSet) add(s string, n int32, room bool) (had, counted bool) {
	if x.n > 0 {
		if i, ok := x.find(s); ok {
			x.slots[i].count += n
			return true, true
		}
	}
	if !room || len(x.vals)+len(s) > math.MaxUint32 {
		// Offsets are 32 bits: a set past 4 GiB of values takes no more,
		// as one past engine.max_distinct does.
		return false, false
	}
	if int(x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	i, _ := x.find(s)
	tag, _ := hashValue(s)
	x.slots[i] = exactSlot{tag: tag, len: uint32(len(s)), off: uint32(len(x.vals)), count: n}
	x.vals = append(x.vals, s...)
	x.n++
	return false, true
}

// remove uncounts s once, and forgets it at its last count; it reports
// whether s is gone.
func (x *exactSet) remove(s string) (gone bool) {
	if x.n == 0 {
		return false
	}
	i, ok := x.find(s)
	if !ok {
		return false
	}
	if x.slots[i].count > 1 {
		x.slots[i].count--
		return false
	}
	x.dead += int32(x.slots[i].len)
	x.n--
	x.deleteSlot(i)
	if x.n == 0 {
		*x = exactSet{}
	} else if int(x.dead) > len(x.vals)/2 {
		x.rebuild(len(x.slots))
	}
	return true
}

// deleteSlot empties slot i and moves back the slots after it that
// probing would no longer reach (backward-shift deletion).
func (x *exactSet) deleteSlot(i int) {
	mask := len(x.slots) - 1
	for j := (i + 1) & mask; x.slots[j].tag != 0; j = (j + 1) & mask {
		_, h := hashValue(x.value(&x.slots[j]))
		home := int(h) & mask
		// Slot j may move to i when its home is not in (i, j], cyclically.
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = exactSlot{}
}

func (x *exactSet) grow() {
	x.rebuild(max(8, 2*len(x.slots)))
}

// rebuild lays the set out again in size slots, its values packed.
func (x *exactSet) rebuild(size int) {
	old, vals := x.slots, x.vals
	x.slots = make([]exactSlot, size)
	x.vals = make([]byte, 0, len(vals)-int(x.dead))
	x.n, x.dead = 0, 0
	for k := range old {
		if sl := &old[k]; sl.tag != 0 {
			x.add(unsafe.String(unsafe.SliceData(vals[sl.off:]), int(sl.len)), sl.count, true)
		}
	}
}

// each calls f with every value and its count, in no order.
func (x *exactSet) each(f func(s string, count int32)) {
	for k := range x.slots {
		if sl := &x.slots[k]; sl.tag != 0 {
			f(x.value(sl), sl.count)
		}
	}
}
