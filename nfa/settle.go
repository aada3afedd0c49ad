package nfa

import (
	"fmt"
	"slices"

	"github.com/cep-project/cep/event"
)

// settle emits completed matches as Flink's processMatchesAccordingToSkipStrategy
// does. With a skip strategy a completed match waits while a partial match
// that started earlier is alive, because that one, if it completes, comes
// first and may prune it; once free, each match prunes the partial and held
// matches its strategy discards. With no_skip every match goes out at once.
func (m *Matcher) settle(key string, ks *KeyState, fins []completed, ev *event.Event, emit func(Match)) {
	if len(fins) == 0 && ks.heldLen() == 0 {
		return
	}
	held := ks.heldMatches()
	// Most matches go out at once, held by nothing: they wait in the
	// matcher's scratch list, and the key gets a list of its own only
	// for what is left waiting.
	scratch := held == nil
	if scratch {
		held = m.settling[:0]
	}
	for _, c := range fins {
		// Keep held ordered by start; equal starts keep creation order.
		i := len(held)
		for i > 0 && before(c.p.first().ev, held[i-1].p.first().ev) {
			i--
		}
		held = append(held, completed{})
		copy(held[i+1:], held[i:])
		held[i] = c
		m.stats.Held++
	}
	used := len(held)
	if scratch {
		m.settling = held[:0]
		defer clear(m.settling[:used])
	}
	skip := m.nfa.skip.Kind != NoSkip
	for len(held) > 0 {
		c := held[0]
		if e := ks.earliest(); skip && e != nil && before(e.first().ev, c.p.first().ev) {
			break
		}
		held[0] = completed{}
		held = held[1:]
		m.stats.Held--
		held = m.prune(key, ks, held, c, ev)
		m.emitMatch(key, c, false, ev, emit)
		m.release(c.p.node)
	}
	if len(held) == 0 {
		ks.setHeld(nil)
		return
	}
	if m.obs != nil {
		for _, c := range fins {
			for _, h := range held {
				if h.p.id == c.p.id {
					m.note(Note{Kind: Held, Key: key, Event: ev, Time: c.time, Partial: c.p.id,
						Reason: fmt.Sprintf("waits for partial match %d, which started earlier (%s)", ks.earliest().id, m.nfa.skip)})
				}
			}
		}
	}
	if scratch {
		held = slices.Clone(held)
	}
	ks.setHeld(held)
}

// prune discards, from the key's partial matches and from the held matches,
// those the after-match strategy rules out after match c. Both lists are
// ordered by start, so the discarded ones are a prefix.
func (m *Matcher) prune(key string, ks *KeyState, held []completed, c completed, ev *event.Event) []completed {
	at, inclusive := m.pruningEvent(c.p)
	if at == nil {
		return held
	}
	gone := func(first *node) bool {
		if inclusive {
			return atOrBefore(first.ev, at)
		}
		return before(first.ev, at)
	}
	reason := ""
	if m.obs != nil {
		reason = fmt.Sprintf("%s after match %d", m.nfa.skip, c.p.id)
	}
	m.unparkPrefix(ks, func(x *parked) bool {
		if inclusive {
			return atOrBefore(x.first, at)
		}
		return before(x.first, at)
	})
	n := 0
	for n < len(ks.parts) && gone(ks.parts[n].first()) {
		p := ks.parts[n]
		if m.obs != nil {
			m.note(Note{Kind: Discarded, Key: key, Event: ev, Time: c.time, Partial: p.id, Reason: reason})
		}
		m.release(p.node)
		n++
	}
	if n > 0 {
		ks.parts = append(ks.parts[:0], ks.parts[n:]...)
		clear(ks.parts[len(ks.parts):cap(ks.parts)])
		m.stats.Partials -= n
		m.stats.Pruned += uint64(n)
	}
	k := 0
	for k < len(held) && gone(held[k].p.first()) {
		if m.obs != nil {
			m.note(Note{Kind: Discarded, Key: key, Event: ev, Time: c.time, Partial: held[k].p.id, Reason: reason})
		}
		m.release(held[k].p.node)
		held[k] = completed{}
		k++
	}
	m.stats.Held -= k
	m.stats.Pruned += uint64(k)
	return held[k:]
}

// pruningEvent is the event a strategy prunes up to, and whether partial
// matches that started with it are pruned too; nil when nothing is pruned
// (no_skip, or skip_to_first/last naming a step the match skipped, where
// Flink falls back to no_skip).
func (m *Matcher) pruningEvent(p partial) (*event.Event, bool) {
	switch m.nfa.skip.Kind {
	case SkipPastLast:
		return p.node.ev, true
	case SkipToNext:
		return p.first().ev, true
	case SkipToFirst, SkipToLast:
		var found *event.Event
		want := uint16(m.nfa.skipStep)
		for x := p.node; x != nil; x = x.prev {
			if x.step == want {
				found = x.ev
				if m.nfa.skip.Kind == SkipToLast {
					break
				}
			}
		}
		return found, false
	}
	return nil, false
}

func (m *Matcher) emitMatch(key string, c completed, timedOut bool, ev *event.Event, emit func(Match)) {
	k := 0
	for x := c.p.node; x != nil; x = x.prev {
		k++
	}
	evs := make([]Evidence, k)
	for x := c.p.node; x != nil; x = x.prev {
		k--
		e := x.ev
		if e == m.liveHeld && !m.live.InSlab() {
			e = m.live
		} else {
			// Its reader thaws it, if it reads its values.
			e = e.Unpacked()
		}
		evs[k] = Evidence{Step: int(x.step), Name: m.nfa.steps[x.step].name, Event: e}
		// Read ahead the id, which the alert's id hashes, in the line a
		// held event keeps (long evicted from the caches): the reads of
		// a match's events are independent here and their misses
		// overlap, where hashing them took them one after another
		// (alert.MakeID 0.44 -> 0.19 s of 4M events in the sequence
		// scenario's profile).
		if len(e.ID) > 0 {
			m.touched += uintptr(e.ID[0])
		}
	}
	mt := Match{Key: key, Events: evs, Time: c.time, TimedOut: timedOut}
	if timedOut {
		m.stats.TimedOut++
	} else {
		m.stats.Matches++
	}
	if m.obs != nil {
		kind, reason := Completed, ""
		if timedOut {
			kind, reason = TimedOut, m.expiryReason(c.p, c.time)
		}
		noted := mt // mt itself stays off the heap when no one observes
		m.note(Note{Kind: kind, Key: key, Event: ev, Time: c.time, Partial: c.p.id, Reason: reason, Match: &noted})
	}
	if emit != nil {
		emit(mt)
	}
}

// expire ends the partial matches whose window closed at or before t, as
// Flink's NFA.advanceTime does: an absence that waited out its window
// completes, any other partial match times out.
func (m *Matcher) expire(ks *KeyState, t int64, ev *event.Event, emit func(Match)) {
	within := m.nfa.within
	states := m.nfa.states
	m.unparkPrefix(ks, func(x *parked) bool { return x.p.deadline <= t })
	m.late = m.late[:0]
	fins := m.fins[:0]
	kept := ks.parts[:0]
	for _, p := range ks.parts {
		if p.deadline > t {
			kept = append(kept, p)
			continue
		}
		m.stats.Partials--
		pending := states[p.state].kind == kindPending
		if !pending && !m.nfa.emitTimeouts && m.obs == nil {
			// Dropped silently: no need to reach into the evidence.
			m.stats.Expired++
			m.release(p.node)
			continue
		}
		// Flink reports the gap to the previous event when both windows
		// closed.
		deadline := addTime(p.first().ev.Time, within)
		if w := states[p.state].window; w > 0 && t-p.node.ev.Time >= w {
			deadline = addTime(p.node.ev.Time, w)
		}
		switch {
		case pending:
			fins = append(fins, completed{p: p, time: deadline})
		case m.nfa.emitTimeouts:
			m.late = append(m.late, completed{p: p, time: deadline})
		default:
			m.stats.Expired++
			m.note(Note{Kind: Expired, Key: ks.key, Event: ev, Time: deadline, Partial: p.id, Reason: m.expiryReason(p, deadline)})
			m.release(p.node)
		}
	}
	clear(ks.parts[len(kept):])
	ks.parts = kept
	m.fins = fins
	m.settle(ks.key, ks, fins, ev, emit)
	for i, c := range m.late {
		m.emitMatch(ks.key, c, true, ev, emit)
		m.release(c.p.node)
		m.late[i] = completed{}
	}
}

func (m *Matcher) expiryReason(p partial, deadline int64) string {
	if w := m.nfa.states[p.state].window; w > 0 && deadline == addTime(p.node.ev.Time, w) {
		return fmt.Sprintf("no event within %s of the previous one (step %q)", durationText(w), m.nfa.steps[m.nfa.states[p.state].step].name)
	}
	return fmt.Sprintf("within %s exceeded", durationText(m.nfa.within))
}

// untilDiscard applies the rule-level until: every partial match of the key
// ends; held matches no longer wait for anything and are emitted.
func (m *Matcher) untilDiscard(ks *KeyState, ev *event.Event, emit func(Match)) {
	m.unparkAll(ks)
	for _, p := range ks.parts {
		if m.obs != nil {
			m.note(Note{Kind: Discarded, Key: ks.key, Event: ev, Time: ev.Time, Partial: p.id,
				Reason: fmt.Sprintf("until condition met by event %s", m.eventID(ev))})
		}
		m.release(p.node)
	}
	m.stats.Until += uint64(len(ks.parts))
	m.stats.Partials -= len(ks.parts)
	clear(ks.parts)
	ks.parts = ks.parts[:0]
	m.settle(ks.key, ks, nil, ev, emit)
}
