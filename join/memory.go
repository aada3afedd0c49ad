package join

import (
	"unsafe"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// Memory accounting. Each key keeps an estimate of the memory its buffers
// hold (the buffered events, their entries, and the key's place in the
// joiner's map), changed as events are buffered and forgotten; the joiner
// keeps their sum. Shed drops the oldest buffered events to bring the sum
// under a budget.

const (
	ptrBytes = int64(unsafe.Sizeof(uintptr(0)))
	// keyMapBytes is a key's share of the joiner's map beside the key
	// string's bytes and its keyState: the string header, the pointer and
	// the map's own overhead at typical load.
	keyMapBytes = 48
)

// entryBytes is what buffering ev costs: the event (wire.MemSize), its
// entry and its slot in the side's slice.
func entryBytes(ev *event.Event) int64 {
	return wire.MemSize(ev) + int64(unsafe.Sizeof(entry{})) + ptrBytes
}

// keyBytes is what a key costs before any event: its state, its sides and
// its place in the map.
func (j *Joiner) keyBytes(key string) int64 {
	return int64(unsafe.Sizeof(keyState{})) + int64(len(j.cfg.Sides))*int64(unsafe.Sizeof([]*entry{})) +
		keyMapBytes + int64(len(key))
}

func (j *Joiner) charge(k *keyState, n int64) {
	k.bytes += n
	j.bytes += n
}

// forget drops a key whose buffers are empty.
func (j *Joiner) forget(key string, k *keyState) {
	j.bytes -= k.bytes
	delete(j.keys, key)
}

// Bytes returns the estimated memory of the joiner's buffers: every
// buffered event and what keeps it.
func (j *Joiner) Bytes() int64 { return j.bytes }

// KeyBytes returns the estimated memory of key's buffers, 0 for a key
// without events.
func (j *Joiner) KeyBytes(key string) int64 {
	if k := j.keys[key]; k != nil {
		return k.bytes
	}
	return 0
}

// Shed drops buffered events, oldest first, until the joiner's estimated
// memory is at most target, and returns how many it dropped; they are
// counted in Stats.ShedEvents and their bytes in Stats.ShedBytes. A dropped
// event joins nothing more, and an outer join does not report it as
// unmatched. The oldest is the first event of the key whose oldest event
// leaves first. The engine calls Shed when detector state is over its
// memory budget.
func (j *Joiner) Shed(target int64) int {
	n := 0
	for j.bytes > target && j.tq.Len() > 0 {
		tm := j.tq.Pop()
		k := j.keys[tm.Key]
		if k == nil || !k.timed || k.at != tm.At {
			continue
		}
		k.timed = false
		s := k.oldestSide()
		e := k.sides[s][0]
		b := entryBytes(e.ev)
		j.charge(k, -b)
		k.sides[s][0] = nil
		k.sides[s] = k.sides[s][1:]
		if len(k.sides[s]) == 0 {
			k.sides[s] = nil
		}
		j.stats.ShedEvents++
		j.stats.ShedBytes += uint64(b)
		n++
		if k.empty() {
			before := j.bytes
			j.forget(tm.Key, k)
			j.stats.ShedBytes += uint64(before - j.bytes)
		} else {
			j.schedule(tm.Key, k, k.deadline(j.keep))
		}
	}
	return n
}

// oldestSide is the side whose first event is the key's oldest.
func (k *keyState) oldestSide() int {
	best := -1
	for s, es := range k.sides {
		if len(es) > 0 && (best < 0 || es[0].ev.Before(k.sides[best][0].ev)) {
			best = s
		}
	}
	return best
}
