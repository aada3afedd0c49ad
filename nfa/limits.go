package nfa

import (
	"fmt"
	"math"

	"github.com/cep-project/cep/event"
)

// overLimit enforces the total limit after a key was saved, when shedding
// may reach into other keys.
func (m *Matcher) overLimit(key string, ev *event.Event, emit func(Match)) error {
	if m.stats.Partials > m.maxTotal && m.overflow == DropOldest {
		return m.shed(key, ev, emit)
	}
	return nil
}

// limit sheds partial matches beyond the per-key limit, and with DropNewest
// beyond the total limit.
func (m *Matcher) limit(ks *KeyState, ev *event.Event) {
	if n := ks.Len() - m.maxKey; n > 0 {
		m.stats.DroppedPerKey += uint64(n)
		m.drop(ks, n, ev, true)
	}
	if m.overflow == DropNewest {
		if n := min(m.stats.Partials-m.maxTotal, ks.Len()); n > 0 {
			m.stats.DroppedTotal += uint64(n)
			m.drop(ks, n, ev, false)
		}
	}
}

func (m *Matcher) drop(ks *KeyState, n int, ev *event.Event, perKey bool) {
	m.unparkEnds(ks, n, m.overflow == DropNewest)
	lo, hi := 0, n
	if m.overflow == DropNewest {
		lo, hi = len(ks.parts)-n, len(ks.parts)
	}
	for _, p := range ks.parts[lo:hi] {
		if m.obs != nil {
			m.note(Note{Kind: Dropped, Key: ks.key, Event: ev, Time: ev.Time, Partial: p.id, Reason: m.limitReason(perKey)})
		}
		m.release(p.node)
	}
	ks.parts = append(ks.parts[:lo], ks.parts[hi:]...)
	clear(ks.parts[len(ks.parts):cap(ks.parts)])
	m.stats.Partials -= n
}

// shed enforces the total limit with DropOldest: it drops the oldest
// partial match of the key whose window closes first (of the first such key
// in key order), until the matcher is within the limit.
func (m *Matcher) shed(current string, ev *event.Event, emit func(Match)) error {
	for m.stats.Partials > m.maxTotal {
		ok, err := m.dropOldest(current, true, ev, emit, m.limitReason(false))
		if err != nil || !ok {
			return err
		}
		m.stats.DroppedTotal++
	}
	return nil
}

// Shed drops partial matches, oldest first, until the matcher's estimated
// memory (Stats.Bytes) is at most target, and returns how many it dropped;
// each is counted in Stats.Shed and its bytes in Stats.ShedBytes. The
// oldest is the first partial match of the key whose window closes first;
// keys without a window go last, oldest start first. Matches that were
// held back behind a dropped partial match are released to emit. The
// engine calls Shed when detector state is over its memory budget.
func (m *Matcher) Shed(target int64, emit func(Match)) (int, error) {
	n := 0
	reason := fmt.Sprintf("memory budget of %d bytes", target)
	for m.stats.Partials > 0 {
		before := m.Stats().Bytes
		if before <= target {
			break
		}
		ok, err := m.dropOldest("", false, nil, emit, reason)
		if err != nil {
			return n, err
		}
		if !ok {
			break
		}
		n++
		m.stats.Shed++
		m.stats.ShedBytes += uint64(max(before-m.Stats().Bytes, 0))
	}
	return n, nil
}

// dropOldest drops the oldest partial match of the key whose window closes
// first, or, when no key has a window, of current (or, without one, of the
// key that started first). It reports false when there is none.
func (m *Matcher) dropOldest(current string, haveCurrent bool, ev *event.Event, emit func(Match), reason string) (bool, error) {
	keys, err := m.store.Due(math.MaxInt64, m.due[:0])
	if err != nil {
		return false, fmt.Errorf("nfa: find partial matches to shed: %w", err)
	}
	key, ok := current, haveCurrent
	if len(keys) > 0 {
		key, ok = keys[0], true
	} else if !ok && m.mem != nil {
		key, ok = m.mem.oldestStart()
	}
	clear(keys)
	if !ok {
		return false, nil
	}
	ks, err := m.load(key)
	if err != nil {
		return false, err
	}
	if ks == nil || ks.Len() == 0 {
		return false, nil
	}
	m.unparkEnds(ks, 1, false)
	p := ks.parts[0]
	if m.obs != nil {
		t := m.now
		if ev != nil {
			t = ev.Time
		}
		m.note(Note{Kind: Dropped, Key: key, Event: ev, Time: t, Partial: p.id, Reason: reason})
	}
	m.release(p.node)
	ks.parts[0] = partial{}
	ks.parts = ks.parts[1:]
	m.stats.Partials--
	m.settle(key, ks, nil, ev, emit)
	if err := m.save(key, ks, true); err != nil {
		return false, err
	}
	return true, nil
}

func (m *Matcher) limitReason(perKey bool) string {
	if perKey {
		return fmt.Sprintf("per-key limit of %d partial matches", m.maxKey)
	}
	return fmt.Sprintf("total limit of %d partial matches", m.maxTotal)
}
