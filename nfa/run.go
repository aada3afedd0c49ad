package nfa

import (
	"fmt"
	"strings"

	"github.com/cep-project/cep/event"
)

// step feeds ev to every partial match of the key and to the start state,
// as Flink's NFA.doProcess does, and returns the key's state (nil when the
// key had none and the event started nothing that lasts).
func (m *Matcher) step(key string, ks *KeyState, ev *event.Event, emit func(Match)) *KeyState {
	m.ev = ev
	m.evTaken = false
	clear(m.memo)
	clear(m.umemo)
	clear(m.pmemo)
	if m.decided != 0 {
		m.apply(m.decided)
	}
	m.out = m.out[:0]
	m.fins = m.fins[:0]
	if ks != nil {
		if ks.parkedLen() > 0 {
			m.unparkMoving(ks)
		}
		if n := len(ks.parts); n > 1 && n <= maxTouchParts && m.mayReadViews() {
			m.touchParts(ks.parts)
		}
		for i := range ks.parts {
			m.advancePartial(key, ks.parts[i], false)
		}
	}
	m.advancePartial(key, partial{state: uint16(m.nfa.start), deadline: noDeadline}, true)
	if m.evTaken {
		m.live, m.liveHeld = ev, m.held
		defer func() { m.live, m.liveHeld = nil, nil }()
	}
	m.ev, m.charged, m.held = nil, nil, nil
	if ks == nil {
		if m.keyInPlace && (len(m.out) > 0 || len(m.fins) > 0) {
			key = strings.Clone(key)
		}
		if len(m.out) == 0 {
			if len(m.fins) > 0 {
				// A match that completes on the event that started it needs
				// no lasting state.
				m.tmp = KeyState{}
				m.settle(key, &m.tmp, m.fins, ev, emit)
			}
			return nil
		}
		ks = m.newKeyState(key)
	}
	before := len(ks.parts)
	ks.setParts(m.out)
	clear(m.out)
	m.stats.Partials += len(ks.parts) - before
	m.park(ks)
	clear(m.keyOf)
	m.limit(ks, ev)
	m.settle(key, ks, m.fins, ev, emit)
	return ks
}

// advancePartial computes the successors of one partial match (or of the
// start state) for the current event, as Flink's NFA.computeNextStates does:
// it collects the TAKE and IGNORE edges reachable through PROCEED moves whose
// conditions hold, then follows each.
func (m *Matcher) advancePartial(key string, p partial, isStart bool) {
	ev := m.ev
	m.cur.reset(p.node)
	m.forgetViews()
	m.decide(int32(p.state))
	states := m.nfa.states

	if !isStart && len(m.edges) == 1 {
		if e := m.edges[0]; e.act == actIgnore && e.to == int32(p.state) {
			m.out = append(m.out, p)
			return
		}
	}
	for _, e := range m.edges {
		if e.act == actTake && states[e.to].kind == kindStop {
			// A negative step saw its event: the whole path dies, whatever
			// else the event allowed.
			if !isStart {
				m.stats.NotStep++
				if m.obs != nil {
					m.note(Note{Kind: Discarded, Key: key, Event: ev, Time: ev.Time, Partial: p.id,
						Reason: fmt.Sprintf("not step %q matched event %s", m.nfa.steps[states[e.to].step].name, m.eventID(ev))})
				}
				m.release(p.node)
			}
			return
		}
	}
	outBase, finBase := len(m.out), len(m.fins)
	for _, e := range m.edges {
		switch e.act {
		case actIgnore:
			if isStart {
				continue
			}
			child := partial{node: p.node, state: uint16(e.to), id: p.id, deadline: p.deadline}
			if m.nfa.stateWindows && e.to != int32(p.state) {
				child.deadline = m.deadlineOf(&child)
			}
			p.node.refs++
			if states[e.to].kind == kindFinal {
				child.id = m.newID()
				m.fins = append(m.fins, completed{p: child, time: ev.Time})
				continue
			}
			if e.to != int32(p.state) {
				child.id = m.newID()
				if m.obs != nil {
					m.note(Note{Kind: Forked, Key: key, Event: ev, Time: ev.Time, Partial: child.id, Parent: p.id})
				}
			}
			m.out = append(m.out, child)
		case actTake:
			stepIdx := states[e.from].step
			nn := m.newNode(ev, stepIdx, p.node)
			child := partial{node: nn, state: uint16(e.to), id: m.newID(), deadline: p.deadline}
			switch {
			case m.nfa.stateWindows:
				child.deadline = m.deadlineOf(&child)
			case isStart && m.nfa.within > 0:
				child.deadline = addTime(ev.Time, m.nfa.within)
			}
			nn.refs++
			if m.obs != nil {
				kind := Extended
				if isStart {
					kind = Created
				}
				m.note(Note{Kind: kind, Key: key, Event: ev, Time: ev.Time, Partial: child.id, Parent: p.id, Step: m.nfa.steps[stepIdx].name})
			}
			if states[e.to].kind == kindFinal {
				m.fins = append(m.fins, completed{p: child, time: ev.Time})
				continue
			}
			m.out = append(m.out, child)
			if m.reachesFinal(e.to) {
				nn.refs++
				m.fins = append(m.fins, completed{p: partial{node: nn, state: uint16(m.nfa.final), id: m.newID()}, time: ev.Time})
			}
		}
	}
	if isStart {
		return
	}
	if len(m.out) == outBase && len(m.fins) == finBase {
		m.stats.NoTransition++
		if m.obs != nil {
			m.note(Note{Kind: Discarded, Key: key, Event: ev, Time: ev.Time, Partial: p.id, Reason: m.deadEndReason(p)})
		}
	}
	m.release(p.node)
}

func (m *Matcher) deadEndReason(p partial) string {
	st := m.nfa.states[p.state]
	step := m.nfa.steps[st.step]
	id := m.eventID(m.ev)
	hasIgnore := false
	for _, t := range st.trans {
		if t.act == actIgnore {
			hasIgnore = true
		}
	}
	switch {
	case m.umemo[st.step] == 1:
		return fmt.Sprintf("until condition of step %q met by event %s", step.name, id)
	case !hasIgnore:
		return fmt.Sprintf("strict contiguity broken by event %s (step %q)", id, step.name)
	}
	return fmt.Sprintf("no transition of step %q accepts event %s", step.name, id)
}

// decide collects into m.edges the TAKE and IGNORE transitions open to the
// current event from state s, following PROCEED moves depth first in the
// order Flink's decision graph does.
func (m *Matcher) decide(s int32) {
	m.edges = m.edges[:0]
	m.stack = append(m.stack[:0], s)
	states := m.nfa.states
	for len(m.stack) > 0 {
		cur := m.stack[len(m.stack)-1]
		m.stack = m.stack[:len(m.stack)-1]
		for _, t := range states[cur].trans {
			if !m.eval(t.cond) {
				continue
			}
			if t.act == actProceed {
				m.stack = append(m.stack, t.to)
			} else {
				m.edges = append(m.edges, edge{act: t.act, from: cur, to: t.to})
			}
		}
	}
}

// reachesFinal reports whether a partial match that just moved to s may
// complete at once through PROCEED moves, which happens when every step
// after it is optional.
func (m *Matcher) reachesFinal(s int32) bool {
	states := m.nfa.states
	m.stack2 = append(m.stack2[:0], s)
	for len(m.stack2) > 0 {
		cur := m.stack2[len(m.stack2)-1]
		m.stack2 = m.stack2[:len(m.stack2)-1]
		for _, t := range states[cur].trans {
			if t.act != actProceed || !m.eval(t.cond) {
				continue
			}
			if states[t.to].kind == kindFinal {
				return true
			}
			m.stack2 = append(m.stack2, t.to)
		}
	}
	return false
}

// eval tests a transition condition against the current event and partial
// match. Each step's guards run at most once per partial match and event.
func (m *Matcher) eval(c int32) bool {
	if c == condTrue {
		return true
	}
	cd := &m.nfa.conds[c]
	switch cd.op {
	case opStep:
		if cd.step == m.forced {
			return false
		}
		if r := m.memo[cd.step]; r != 0 {
			return r == 1
		}
		s := &m.nfa.steps[cd.step]
		ok := (s.stream == "" || s.stream == m.ev.Stream) && m.pre(cd.step, s) && (s.where == nil || s.where(m.ev, View{m.cur}))
		m.memo[cd.step] = boolMemo(ok)
		return ok
	case opUntil:
		if r := m.umemo[cd.step]; r != 0 {
			return r == 1
		}
		ok := m.nfa.steps[cd.step].until(m.ev, View{m.cur})
		m.umemo[cd.step] = boolMemo(ok)
		return ok
	case opNot:
		return !m.eval(cd.a)
	}
	return m.eval(cd.a) && m.eval(cd.b)
}

// pre is the verdict of step i's Pre on the current event, asked once an
// event: forgetViews keeps it.
func (m *Matcher) pre(i int16, s *stepInfo) bool {
	if s.pre == nil {
		return true
	}
	if r := m.pmemo[i]; r != 0 {
		return r == 1
	}
	ok := s.pre(m.ev)
	m.pmemo[i] = boolMemo(ok)
	return ok
}

// forgetViews clears the verdicts that depend on the partial match, before
// the next one is decided; those on the event alone hold for the event.
func (m *Matcher) forgetViews() {
	for _, s := range m.nfa.viewSteps {
		m.memo[s], m.umemo[s] = 0, 0
	}
}

func boolMemo(b bool) int8 {
	if b {
		return 1
	}
	return 2
}

// mayReadViews reports whether a condition that reads earlier steps may
// be asked of the current event: a step's where is not once its stream
// or what it requires of the event alone (Pre) rules the event out.
func (m *Matcher) mayReadViews() bool {
	for _, i := range m.nfa.viewSteps {
		s := &m.nfa.steps[i]
		if s.until != nil {
			return true
		}
		if (s.stream == "" || s.stream == m.ev.Stream) && m.pre(int16(i), s) {
			return true
		}
	}
	return false
}

// touchParts reads ahead the events a key's partial matches hold, which
// conditions that read earlier steps thaw one partial match after
// another: the events of all of them, then their lines, so that their
// cache misses overlap. Held long, they are seldom in the caches; for
// impossible travel, comparing each login with every earlier one of the
// user, this took a quarter off the run (docs/PERFORMANCE.md). Only for a
// key of a few partial matches (maxTouchParts), and the first touchLine
// bytes of each line: a key of thousands, whose partial matches keyed
// parking mostly keeps out of the conditions' way, and a long line, that
// a thaw reads through its index, had it read far more than the
// conditions do (a Windows sequence by host ran a third slower).
func (m *Matcher) touchParts(ps []partial) {
	evs := m.touchEvs[:0]
	for i := range ps {
		for n, k := ps[i].node, 0; n != nil && k < touchNodes; n, k = n.prev, k+1 {
			if n.ev != nil {
				evs = append(evs, n.ev)
			}
		}
	}
	var t uintptr
	for _, ev := range evs {
		// Both lines of the event's header: a thaw reads its time, its
		// line and what it was decoded with.
		t += uintptr(ev.Time) + uintptr(len(ev.Raw))
	}
	for _, ev := range evs {
		raw := ev.Raw[:min(len(ev.Raw), touchLine)]
		for j := 0; j < len(raw); j += 64 {
			t += uintptr(raw[j])
		}
	}
	clear(evs)
	m.touchEvs = evs[:0]
	m.touched += t
}

// A key's partial matches are read ahead when it has at most maxTouchParts,
// each one's touchNodes newest events, and of each event the first
// touchLine bytes of its line.
const (
	maxTouchParts = 32
	touchNodes    = 4
	touchLine     = 256
)
