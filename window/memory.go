package window

import (
	"slices"
	"strings"
	"unsafe"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/timerq"
	"github.com/cep-project/cep/internal/wire"
)

// Memory accounting. Each key keeps an estimate of the memory its state
// holds (its windows, measures, kept results and evidence events, and its
// place in the aggregator's map), brought up to date after every change to
// the key; the aggregator keeps their sum. Shed drops whole keys, oldest
// first, to bring the sum under a budget.

const (
	ptrBytes = int64(unsafe.Sizeof(uintptr(0)))
	// keyMapBytes is a key's share of the aggregator's map beside the key
	// string's bytes: the string and interface headers and the map's own
	// overhead at typical load.
	keyMapBytes = 48
)

// memo is the memory a key was last accounted at.
type memo struct {
	bytes int64
	// key is the key as the aggregator's map holds it: Add looks a key up
	// by its caller's string, which it does not keep (the engine's is a
	// view of its scratch bytes, where a string of its own per event was
	// a quarter of the aggregate scenario's allocations), and goes on
	// with this one.
	key string
}

func (m *memo) held() *int64 { return &m.bytes }

func (m *memo) kept() *memo { return m }

// account brings the aggregator's memory estimate up to date with key's
// state.
func (a *Aggregator) account(key string, ks keyState) {
	nb := ks.mem(a) + keyMapBytes + int64(len(key))
	h := ks.held()
	a.bytes += nb - *h
	*h = nb
}

// forget drops key, and its memory from the estimate.
func (a *Aggregator) forget(key string, ks keyState) {
	a.bytes -= *ks.held()
	delete(a.keys, key)
}

func (k *slideKey) mem(a *Aggregator) int64 {
	n := int64(unsafe.Sizeof(slideKey{})) + int64(cap(k.q.buf))*8 + int64(cap(k.q.strs))*int64(unsafe.Sizeof(optStr{}))
	if len(k.nums) > 0 && &k.nums[0] != &k.inline[0] {
		n += int64(cap(k.nums)) * int64(unsafe.Sizeof(numAcc{}))
	}
	for i := range k.dq {
		n += int64(cap(k.dq[i].pos))*8 + int64(cap(k.dq[i].val))*8
	}
	n += int64(cap(k.dq)) * int64(unsafe.Sizeof(deque{}))
	n += int64(cap(k.sets)) * int64(unsafe.Sizeof(distinct{}))
	for i := range k.sets {
		n += k.sets[i].mem()
	}
	return n + k.ev.mem() + k.evBytes
}

func (k *paneKey) mem(a *Aggregator) int64 {
	n := int64(unsafe.Sizeof(paneKey{})) + int64(cap(k.panes))*int64(unsafe.Sizeof(pane{})) + int64(cap(k.redo))*8
	for i := range k.panes {
		n += k.panes[i].acc.mem()
	}
	return n + resultsMem(k.prev)
}

func (k *sessKey) mem(a *Aggregator) int64 {
	n := int64(unsafe.Sizeof(sessKey{})) + int64(cap(k.sess))*int64(unsafe.Sizeof(session{}))
	for i := range k.sess {
		n += k.sess[i].acc.mem() + resultsMem(k.sess[i].prev)
	}
	return n
}

// resultsMem is the memory of results kept for correction, their evidence
// events included (counted when the result was kept).
func resultsMem(rs []*Result) int64 {
	n := int64(cap(rs)) * ptrBytes
	for _, r := range rs {
		n += int64(unsafe.Sizeof(Result{})) + int64(cap(r.Values))*8 + int64(cap(r.Evidence))*ptrBytes + r.evBytes
	}
	return n
}

// Bytes returns the estimated memory of the aggregator's state: every
// key's windows, measures, kept results and evidence events.
func (a *Aggregator) Bytes() int64 { return a.bytes }

// KeyBytes returns the estimated memory of key's state, 0 for a key
// without state.
func (a *Aggregator) KeyBytes(key string) int64 {
	if ks, ok := a.keys[key]; ok {
		return *ks.held()
	}
	return 0
}

// Shed drops whole keys, oldest first, until the aggregator's estimated
// memory is at most target, and returns how many it dropped; they are
// counted in Stats.ShedKeys and their bytes in Stats.ShedBytes. A dropped
// key's open windows are lost: they are not emitted. The oldest keys are
// those whose next deadline (a window to close, state to forget) comes
// first; keys without one (length windows without expire) go last, those
// with the oldest newest event first. The engine calls Shed when detector
// state is over its memory budget.
func (a *Aggregator) Shed(target int64) int {
	n := 0
	var due []string
	for a.bytes > target && a.tq.Len() > 0 {
		// The queue gives one deadline's keys in no fixed order: they
		// go, as many as need to, in key order, so that the same keys
		// go whatever order they were queued in (a restored checkpoint
		// queues them anew).
		due = due[:0]
		at := a.tq.Pop()
		for due = append(due, at.Key); a.tq.Len() > 0; {
			if next, _ := a.tq.Peek(); next.At != at.At {
				break
			}
			due = append(due, a.tq.Pop().Key)
		}
		slices.Sort(due)
		for i, key := range due {
			if a.bytes <= target {
				// What is not shed is due as it was.
				for _, k := range due[i:] {
					a.tq.Push(timerq.Timer[string]{At: at.At, Key: k})
				}
				break
			}
			ks, ok := a.keys[key]
			if !ok {
				continue
			}
			if st := ks.timer(); !st.set || st.at != at.At {
				continue // superseded by an earlier deadline
			}
			n += a.shedKey(key, ks)
		}
	}
	if a.bytes <= target || len(a.keys) == 0 {
		return n
	}
	type aged struct {
		key    string
		newest int64
	}
	var rest []aged
	for key, ks := range a.keys {
		if k, ok := ks.(*slideKey); ok {
			rest = append(rest, aged{key, k.newest})
		}
	}
	slices.SortFunc(rest, func(x, y aged) int {
		if x.newest != y.newest {
			return cmpInt(x.newest, y.newest)
		}
		return strings.Compare(x.key, y.key)
	})
	for _, r := range rest {
		if a.bytes <= target {
			break
		}
		n += a.shedKey(r.key, a.keys[r.key])
	}
	return n
}

func (a *Aggregator) shedKey(key string, ks keyState) int {
	a.stats.ShedKeys++
	a.stats.ShedBytes += uint64(*ks.held())
	a.forget(key, ks)
	return 1
}

// keepEvidence records the memory of a kept result's evidence.
func (r *Result) keepEvidence() { r.evBytes = eventsMem(r.Evidence) }

func eventsMem(evs []*event.Event) int64 {
	var n int64
	for _, ev := range evs {
		n += wire.MemSize(ev)
	}
	return n
}
