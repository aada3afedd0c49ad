package nfa

import (
	"slices"

	"github.com/cep-project/cep/event"
)

// Parking keeps the cost of an event independent of how many partial
// matches a key holds, where the pattern allows it.
//
// A burst on one key (20,000 failed logins from one address against "five
// failures, then a success") leaves the key with one partial match per
// failure, nearly all waiting in the same state for the success. Flink's NFA
// offers each event to each of them; so did this matcher, which made a
// burst quadratic. But when every condition a state tests reads only the
// event (the steps are ViewFree), the event does the same thing to every
// partial match waiting there, and when that is to ignore the event and
// stay, nothing about them changes. Such partial matches are parked: kept
// in a group per state, in start order, and offered an event as a group —
// one decision per state and event. Only when the event would move them
// (take it, stop, or leave the state) are they put back among the working
// partial matches, and processed one by one exactly as before.
//
// The matcher keeps every partial match of a key in one order, by start
// then creation, and its results depend on that order. Parked ones take no
// part in creation (they do not fork while parked), so their place in the
// order is fixed by their start alone, provided no other partial match
// shares their first event; a partial match is parked only then. Putting
// parked ones back is a merge by start, and every operation that needs the
// order (expiry, pruning, limits, snapshots) puts back what it touches, so
// the matcher's results are the same, match for match and in the same order,
// with and without parking; a test holds it to that.
//
// A state is parkable when it has a self-loop that ignores events, no
// window of its own (so its partial matches expire in start order), and
// every condition reachable from it without consuming the event reads only
// the event (Step.ViewFree). Keys holding fewer than parkMin partial
// matches do not park: for them a scan is cheaper than the bookkeeping.
const parkMin = 16

// parkGroup is the parked partial matches of one state, by start.
type parkGroup struct {
	q     []parked
	head  int
	state uint16
}

// parked is a parked partial match and its first event, kept because
// merging back compares starts.
type parked struct {
	p     partial
	first *event.Event
}

func (g *parkGroup) live() []parked { return g.q[g.head:] }
func (g *parkGroup) size() int      { return len(g.q) - g.head }
func (g *parkGroup) front() *parked { return &g.q[g.head] }

// take removes members [lo, hi) of the live ones and appends them to dst.
func (g *parkGroup) take(dst []parked, lo, hi int) []parked {
	live := g.live()
	dst = append(dst, live[lo:hi]...)
	switch {
	case lo == 0:
		clear(live[:hi])
		g.head += hi
	case hi == len(live):
		clear(live[lo:])
		g.q = g.q[:g.head+lo]
	default:
		g.q = slices.Delete(g.q, g.head+lo, g.head+hi)
	}
	if g.head == len(g.q) {
		g.q, g.head = g.q[:0], 0
		if cap(g.q) > 1024 {
			g.q = nil
		}
	} else if g.head >= 64 && 2*g.head >= len(g.q) {
		n := copy(g.q, g.q[g.head:])
		clear(g.q[n:])
		g.q, g.head = g.q[:n], 0
	}
	return dst
}

// insert adds x in start order. Partial matches mostly arrive in start
// order, so this is almost always an append.
func (g *parkGroup) insert(x parked) {
	i := len(g.q)
	for i > g.head && before(x.first, g.q[i-1].first) {
		i--
	}
	g.q = slices.Insert(g.q, i, x)
}

// computeParkable finds the parkable states of the compiled graph.
func (n *NFA) computeParkable() {
	n.parkable = make([]bool, len(n.states))
	for s, st := range n.states {
		if st.kind != kindNormal && st.kind != kindPending || st.window != 0 {
			continue
		}
		self := false
		for _, t := range st.trans {
			self = self || t.act == actIgnore && t.to == int32(s)
		}
		if self && n.viewFreeFrom(int32(s)) {
			n.parkable[s] = true
			n.canPark = true
		}
	}
}

// viewFreeFrom reports whether every condition tested from state s, through
// its PROCEED moves, reads only the event.
func (n *NFA) viewFreeFrom(s int32) bool {
	seen := map[int32]bool{s: true}
	stack := []int32{s}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, t := range n.states[cur].trans {
			if !n.condViewFree(t.cond) {
				return false
			}
			if t.act == actProceed && !seen[t.to] {
				seen[t.to] = true
				stack = append(stack, t.to)
			}
		}
	}
	return true
}

func (n *NFA) condViewFree(c int32) bool {
	if c == condTrue {
		return true
	}
	cd := n.conds[c]
	switch cd.op {
	case opStep:
		s := n.steps[cd.step]
		return s.where == nil || s.viewFree
	case opUntil:
		return n.steps[cd.step].viewFree
	case opNot:
		return n.condViewFree(cd.a)
	}
	return n.condViewFree(cd.a) && n.condViewFree(cd.b)
}

// stays reports whether the current event leaves a partial match waiting
// in parkable state s where it is: its only move is to ignore the event.
func (m *Matcher) stays(s uint16) bool {
	m.cur.reset(nil)
	m.forgetViews()
	m.decide(int32(s))
	return len(m.edges) == 1 && m.edges[0].act == actIgnore && m.edges[0].to == int32(s)
}

// unparkMoving puts back the parked partial matches that the current event
// would move, so that they are processed one by one.
func (m *Matcher) unparkMoving(ks *KeyState) {
	m.moving = m.moving[:0]
	park := ks.ext.park
	for gi := range park {
		if g := &park[gi]; g.size() > 0 && !m.stays(g.state) {
			m.moving = g.take(m.moving, 0, g.size())
		}
	}
	m.unpark(ks)
}

// unparkPrefix puts back, from every group, the leading members for which
// done holds (a prefix, as groups are in start order and done is monotone
// in start).
func (m *Matcher) unparkPrefix(ks *KeyState, done func(*parked) bool) {
	if ks.parkedLen() == 0 {
		return
	}
	m.moving = m.moving[:0]
	for gi := range ks.ext.park {
		g := &ks.ext.park[gi]
		live := g.live()
		n := 0
		for n < len(live) && done(&live[n]) {
			n++
		}
		if n > 0 {
			m.moving = g.take(m.moving, 0, n)
		}
	}
	m.unpark(ks)
}

// unparkEnds puts back, from every group, the n oldest (or newest) members:
// among them and the working partial matches are the key's n oldest (or
// newest), which a limit is about to drop.
func (m *Matcher) unparkEnds(ks *KeyState, n int, newest bool) {
	if ks.parkedLen() == 0 {
		return
	}
	m.moving = m.moving[:0]
	for gi := range ks.ext.park {
		g := &ks.ext.park[gi]
		k := min(n, g.size())
		if newest {
			m.moving = g.take(m.moving, g.size()-k, g.size())
		} else {
			m.moving = g.take(m.moving, 0, k)
		}
	}
	m.unpark(ks)
}

// unparkAll puts every parked partial match back.
func (m *Matcher) unparkAll(ks *KeyState) {
	if ks.parkedLen() == 0 {
		return
	}
	m.unparkPrefix(ks, func(*parked) bool { return true })
}

// unpark merges m.moving, taken out of the groups, into the working partial
// matches. Emptied groups stay, with their storage, for partial matches
// that come back to their state, until the key has none parked.
func (m *Matcher) unpark(ks *KeyState) {
	if len(m.moving) == 0 {
		return
	}
	ext := ks.ext
	ext.parked -= len(m.moving)
	m.stats.Parked -= len(m.moving)
	if ext.parked == 0 {
		ext.park = nil
		ks.tidy()
	}
	// Members of different groups interleave; starts are unique among
	// parked partial matches, so start order is a strict order.
	slices.SortFunc(m.moving, func(a, b parked) int {
		if before(a.first, b.first) {
			return -1
		}
		return 1
	})
	m.merged = mergeParked(m.merged[:0], ks.parts, m.moving)
	ks.setParts(m.merged)
	clear(m.merged)
	clear(m.moving)
	m.moving = m.moving[:0]
}

// mergeParked appends to dst the working partial matches ps and the parked
// ones in, merged in start order. No member of in shares its first event
// with another partial match.
func mergeParked(dst []partial, ps []partial, in []parked) []partial {
	i, j := 0, 0
	var pf *event.Event
	for i < len(ps) && j < len(in) {
		if pf == nil {
			pf = ps[i].first().ev
		}
		if before(in[j].first, pf) {
			dst = append(dst, in[j].p)
			j++
			continue
		}
		dst = append(dst, ps[i])
		i++
		pf = nil
	}
	dst = append(dst, ps[i:]...)
	for _, x := range in[j:] {
		dst = append(dst, x.p)
	}
	return dst
}

// park moves the working partial matches that wait in a parkable state,
// and share their first event with no other, into their state's group.
func (m *Matcher) park(ks *KeyState) {
	ps := ks.parts
	if !m.parking || len(ps)+ks.parkedLen() < m.parkAt {
		return
	}
	parkable := m.nfa.parkable
	found := false
	for i := range ps {
		if parkable[ps[i].state] {
			found = true
			break
		}
	}
	if !found {
		return
	}
	if cap(m.firsts) < len(ps) {
		m.firsts = make([]*event.Event, len(ps))
	}
	firsts := m.firsts[:len(ps)]
	clear(firsts)
	firstOf := func(i int) *event.Event {
		if firsts[i] == nil {
			firsts[i] = ps[i].first().ev
		}
		return firsts[i]
	}
	k := 0
	for i := range ps {
		p := ps[i]
		if parkable[p.state] {
			f := firstOf(i)
			if (i == 0 || firstOf(i-1) != f) && (i == len(ps)-1 || firstOf(i+1) != f) {
				m.parkOne(ks, parked{p: p, first: f})
				continue
			}
		}
		// k ≤ i: the write leaves ps[i], the next test's left
		// neighbour, as it was.
		ps[k] = p
		k++
	}
	clear(ps[k:])
	ks.parts = ps[:k]
	clear(firsts)
}

func (m *Matcher) parkOne(ks *KeyState, x parked) {
	if ks.ext == nil {
		ks.ext = &keyExt{}
	}
	ext := ks.ext
	ext.parked++
	m.stats.Parked++
	for gi := range ext.park {
		if ext.park[gi].state == x.p.state {
			ext.park[gi].insert(x)
			return
		}
	}
	ext.park = append(ext.park, parkGroup{state: x.p.state, q: []parked{x}})
}
