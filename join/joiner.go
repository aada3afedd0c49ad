package join

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/cep-project/cep/event"
)

// Add feeds an event of side (an index into Config.Sides) with its key, and
// emits, in a fixed order, every complete combination it completes. It
// does not keep key: a key new to j is copied.
func (j *Joiner) Add(side int, key string, ev *event.Event, emit func(*Match)) Status {
	if side < 0 || side >= len(j.cfg.Sides) {
		panic(fmt.Sprintf("join: side %d of %d", side, len(j.cfg.Sides)))
	}
	if j.late(ev.Time) {
		j.stats.Late++
		return Late
	}
	k := j.keys[key]
	if k == nil {
		if j.cfg.MaxKeys > 0 && len(j.keys) >= j.cfg.MaxKeys {
			j.stats.DroppedKeys++
			return DroppedKey
		}
		key = strings.Clone(key)
		k = &keyState{key: key, sides: make([][]*entry, len(j.cfg.Sides))}
		j.keys[key] = k
		j.charge(k, j.keyBytes(key))
	} else {
		key = k.key
	}
	e := &entry{ev: ev}
	clear(j.pick)
	j.pick[side] = e
	j.emitted, j.excess = 0, 0
	j.combine(key, k, side, 0, ev.Time, ev.Time, emit)
	j.stats.FanoutDropped += j.excess

	st := Joined
	es := k.sides[side]
	if j.cfg.MaxPerSide > 0 && len(es) >= j.cfg.MaxPerSide {
		j.stats.Unbuffered++
		st = Unbuffered
	} else {
		// Almost always an append: a key's events come in order.
		i := len(es)
		for i > 0 && ev.Before(es[i-1].ev) {
			i--
		}
		if j.cfg.Hold != nil {
			e.ev = j.cfg.Hold(ev)
		}
		k.sides[side] = slices.Insert(es, i, e)
		j.charge(k, entryBytes(e.ev))
	}
	if st == Unbuffered && k.empty() {
		j.forget(key, k)
		return st
	}
	j.schedule(key, k, k.deadline(j.keep))
	return st
}

// combine picks an event for each side from s on (skipping the new event's
// side), keeping the span of the picks, lo..hi, at most within, and emits
// each complete combination.
func (j *Joiner) combine(key string, k *keyState, fixed, s int, lo, hi int64, emit func(*Match)) {
	if s == len(j.pick) {
		if j.full() {
			j.excess++
			for _, e := range j.pick {
				e.matched = true
			}
			return
		}
		j.emitted++
		m := &Match{Key: key, Time: hi, Events: make([]*event.Event, len(j.pick))}
		for i, e := range j.pick {
			e.matched = true
			m.Events[i] = e.ev
		}
		emit(m)
		return
	}
	if s == fixed {
		j.combine(key, k, fixed, s+1, lo, hi, emit)
		return
	}
	es := k.sides[s]
	// Candidates keep the span within `within`, both ends included:
	// [hi-within, lo+within].
	i, _ := slices.BinarySearchFunc(es, hi-j.within, func(e *entry, t int64) int { return cmp.Compare(e.ev.Time, t) })
	last := j.lastPick(fixed, s)
	for ; i < len(es); i++ {
		t := es[i].ev.Time
		if t > lo+j.within {
			break
		}
		if last && j.full() && j.cfg.Type == Inner {
			// Past the fan-out limit, an inner join only counts what is
			// left of the last side's candidates: no need to walk them.
			n, _ := slices.BinarySearchFunc(es[i:], lo+j.within+1, func(e *entry, t int64) int { return cmp.Compare(e.ev.Time, t) })
			j.excess += uint64(n)
			break
		}
		j.pick[s] = es[i]
		j.combine(key, k, fixed, s+1, min(lo, t), max(hi, t), emit)
	}
	j.pick[s] = nil
}

// full reports whether the event being added has emitted as many
// combinations as MaxMatchesPerEvent allows.
func (j *Joiner) full() bool {
	return j.cfg.MaxMatchesPerEvent > 0 && j.emitted >= uint64(j.cfg.MaxMatchesPerEvent)
}

// lastPick reports whether s is the last side combine picks an event for.
func (j *Joiner) lastPick(fixed, s int) bool {
	return s == len(j.pick)-1 || s == len(j.pick)-2 && fixed == len(j.pick)-1
}

func (k *keyState) empty() bool {
	for _, es := range k.sides {
		if len(es) > 0 {
			return false
		}
	}
	return true
}

// late reports whether an event at t is behind the watermark by more than
// the allowed lateness.
func (j *Joiner) late(t int64) bool {
	return j.wm > MinTime+j.lateness && t < j.wm-j.lateness
}

// deadline is the watermark at which the key's oldest buffered event
// leaves: once the watermark has passed its time + keep (within plus the
// allowed lateness), as an event at exactly that time would still join
// with it. A key's events are in time order per side, so the oldest is a
// side's first.
func (k *keyState) deadline(keep int64) int64 {
	at := int64(1<<63 - 1)
	for _, es := range k.sides {
		if len(es) > 0 {
			at = min(at, satAdd(es[0].ev.Time, keep+1))
		}
	}
	return at
}

// satAdd adds a non-negative d to t, stopping at the largest time rather
// than wrapping.
func satAdd(t, d int64) int64 {
	if t > 1<<63-1-d {
		return 1<<63 - 1
	}
	return t + d
}

// Advance moves event time to watermark: buffered events that no event to
// come can join (time + within + allowed lateness before it) are
// forgotten, and for outer joins
// the preserved ones that never matched are emitted as partial matches, in
// order of time, key and event.
func (j *Joiner) Advance(watermark int64, emit func(*Match)) {
	j.wm = max(j.wm, watermark)
	wm := j.wm
	j.out = j.out[:0]
	for j.tq.Due(wm) {
		tm := j.tq.Pop()
		k := j.keys[tm.Key]
		if k == nil || !k.timed || k.at != tm.At {
			continue
		}
		k.timed = false
		j.expire(tm.Key, k, wm)
		if k.empty() {
			j.forget(tm.Key, k)
		} else {
			j.schedule(tm.Key, k, k.deadline(j.keep))
		}
	}
	slices.SortStableFunc(j.out, CompareMatches)
	for _, m := range j.out {
		emit(m)
	}
	clear(j.out)
}

// CompareMatches orders the partial matches Advance emits: by time, then
// key. Advance sorts stably, so one key's matches of one time keep the
// order expiring found them in; an engine that splits a rule's keys
// among joiners merges theirs the same way.
func CompareMatches(x, y *Match) int {
	return cmp.Or(cmp.Compare(x.Time, y.Time), cmp.Compare(x.Key, y.Key))
}

// expire drops the key's events whose window closed by wm, emitting the
// partial matches of outer joins into j.out.
func (j *Joiner) expire(key string, k *keyState, wm int64) {
	var gone []*entry
	var sideOf []int
	for s, es := range k.sides {
		n := 0
		for n < len(es) && satAdd(es[n].ev.Time, j.keep) < wm {
			n++
		}
		for _, e := range es[:n] {
			gone = append(gone, e)
			sideOf = append(sideOf, s)
		}
	}
	if j.cfg.Type != Inner && len(gone) > 0 {
		idx := make([]int, len(gone))
		for i := range idx {
			idx[i] = i
		}
		// Oldest first, so the events a partial match shows are still
		// buffered when it is built.
		slices.SortStableFunc(idx, func(a, b int) int {
			if gone[a].ev.Before(gone[b].ev) {
				return -1
			}
			if gone[b].ev.Before(gone[a].ev) {
				return 1
			}
			return cmp.Compare(sideOf[a], sideOf[b])
		})
		for _, i := range idx {
			e, s := gone[i], sideOf[i]
			if e.matched || e.covered || j.cfg.Type == Left && s != 0 {
				continue
			}
			j.out = append(j.out, j.partial(key, k, s, e))
		}
	}
	for s, es := range k.sides {
		n := 0
		for n < len(es) && satAdd(es[n].ev.Time, j.keep) < wm {
			n++
		}
		for _, e := range es[:n] {
			j.charge(k, -entryBytes(e.ev))
		}
		clear(es[:n])
		k.sides[s] = slices.Delete(es, 0, n)
		if len(k.sides[s]) == 0 {
			k.sides[s] = nil
		}
	}
}

func (j *Joiner) partial(key string, k *keyState, side int, e *entry) *Match {
	m := &Match{Key: key, Time: e.ev.Time + j.within, Events: make([]*event.Event, len(k.sides))}
	m.Events[side] = e.ev
	e.covered = true
	lo, hi := e.ev.Time, e.ev.Time
	for s, es := range k.sides {
		if s == side {
			continue
		}
		for i := len(es) - 1; i >= 0; i-- {
			t := es[i].ev.Time
			if max(hi, t)-min(lo, t) <= j.within {
				m.Events[s] = es[i].ev
				es[i].covered = true
				lo, hi = min(lo, t), max(hi, t)
				break
			}
		}
	}
	return m
}
