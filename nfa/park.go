package nfa

import (
	"slices"
	"unsafe"

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

// Keyed parking extends this to a state whose step compares the event
// with the partial match for equality (Step.Key): the where of
// `event.image == first.image && …` is false for every partial match
// whose first.image differs from the event's image. Such partial matches
// are parked in one group per state and key. An event decides the state
// once as if that step's where were false (the verdict for every partial
// match of another key); where that leaves them waiting, only the group
// of the event's own key is put back, and where the event has no key, or
// the verdict would move them, every group of the state is.
//
// parkGroup is the parked partial matches of one state, or of one state
// and key, by start.
type parkGroup struct {
	q     []parked
	head  int
	state uint16
	// key is the state and key of a keyed group (those past
	// keyExt.plain): keyed groups go when they empty, where a state's
	// plain group stays for reuse. first is the length of the key's
	// state and first part, when the key has more parts (see
	// keyExt.byFirst); 0 otherwise.
	first int32
	key   string
}

// keyedGroupBytes is what a keyed group costs beside its key and its
// members: the group, its entry in the key's index, its slice's slack.
const keyedGroupBytes = int64(unsafe.Sizeof(parkGroup{})) + 48

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
	n.parkKey = make([]int16, len(n.states))
	for s, st := range n.states {
		n.parkKey[s] = -1
		if st.kind != kindNormal && st.kind != kindPending || st.window != 0 {
			continue
		}
		self := false
		for _, t := range st.trans {
			self = self || t.act == actIgnore && t.to == int32(s)
		}
		if !self {
			continue
		}
		if ok, key := n.viewFreeFrom(int32(s)); ok {
			n.parkable[s] = true
			n.parkKey[s] = key
			n.canPark = true
			if key >= 0 {
				n.keyedStates = append(n.keyedStates, uint16(s))
			}
		}
	}
}

// viewFreeFrom reports whether every condition tested from state s, through
// its PROCEED moves, reads only the event, but for the where of at most one
// keyed step (Step.Key), which it returns (-1 for none).
func (n *NFA) viewFreeFrom(s int32) (bool, int16) {
	seen := map[int32]bool{s: true}
	stack := []int32{s}
	key := int16(-1)
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, t := range n.states[cur].trans {
			if !n.condViewFree(t.cond, &key) {
				return false, -1
			}
			if t.act == actProceed && !seen[t.to] {
				seen[t.to] = true
				stack = append(stack, t.to)
			}
		}
	}
	return true, key
}

// condViewFree reports whether condition c reads only the event, but for
// the where of one keyed step, *key, which it sets on meeting one (-1:
// none yet).
func (n *NFA) condViewFree(c int32, key *int16) bool {
	if c == condTrue {
		return true
	}
	cd := n.conds[c]
	switch cd.op {
	case opStep:
		s := n.steps[cd.step]
		if s.where == nil || s.viewFree {
			return true
		}
		if s.key == nil || s.until != nil || *key >= 0 && *key != cd.step {
			return false
		}
		*key = cd.step
		return true
	case opUntil:
		return n.steps[cd.step].viewFree
	case opNot:
		return n.condViewFree(cd.a, key)
	}
	return n.condViewFree(cd.a, key) && n.condViewFree(cd.b, key)
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
	ext := ks.ext
	for gi := range ext.park[:ext.plain] {
		if g := &ext.park[gi]; g.size() > 0 && !m.stays(g.state) {
			m.moving = g.take(m.moving, 0, g.size())
		}
	}
	if len(ext.keyed) > 0 {
		for _, s := range m.nfa.keyedStates {
			m.unparkKeyed(ext, s)
		}
	}
	m.unpark(ks)
}

// unparkKeyed takes out of the keyed groups of state s those the current
// event may move: its own key's, or all of them.
func (m *Matcher) unparkKeyed(ext *keyExt, s uint16) {
	k := m.nfa.parkKey[s]
	st := &m.nfa.steps[k]
	m.forced = k
	stays := m.stays(s)
	m.forced = -1
	if stays {
		if st.stream != "" && st.stream != m.ev.Stream || !m.pre(k, st) {
			// The where is false for every partial match.
			return
		}
		var v KeyVerdict
		m.keyBuf, v = st.key.Event(append(m.keyBuf[:0], byte(s>>8), byte(s)), m.ev)
		switch v {
		case MatchesNone:
			return
		case HasKey:
			if gi, found := ext.keyed[string(m.keyBuf)]; found {
				m.takeKeyed(ext, gi)
			}
			return
		case FirstPart:
			// The groups are taken from the list as it is before any
			// goes: unpark drops the emptied ones after.
			for _, gi := range ext.byFirst[string(m.keyBuf)] {
				m.takeKeyed(ext, gi)
			}
			return
		}
	}
	for gi := ext.plain; gi < len(ext.park); gi++ {
		if g := &ext.park[gi]; g.state == s && g.size() > 0 {
			m.takeKeyed(ext, int32(gi))
		}
	}
}

// takeKeyed takes every member of keyed group gi, noting their key, and
// the group, which unpark then drops.
func (m *Matcher) takeKeyed(ext *keyExt, gi int32) {
	if m.keyOf == nil {
		m.keyOf = make(map[*node]knownKey)
	}
	g := &ext.park[gi]
	for _, x := range g.live() {
		m.keyOf[x.p.node] = knownKey{id: x.p.id, first: g.first, key: g.key}
	}
	m.moving = g.take(m.moving, 0, g.size())
	m.emptied = append(m.emptied, gi)
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
	m.sweep = true
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
	m.sweep = true
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
		m.emptied, m.sweep = m.emptied[:0], false
		return
	}
	ext := ks.ext
	ext.parked -= len(m.moving)
	m.stats.Parked -= len(m.moving)
	if ext.frontOK {
		for i := range m.moving {
			if x := &m.moving[i]; x.first == ext.front.first || x.p.deadline <= ext.frontDeadline {
				ext.frontOK = false
				break
			}
		}
	}
	if ext.parked == 0 {
		ext.park, ext.plain = nil, 0
		m.keyBytes -= ext.keyBytes
		ext.keyed, ext.byFirst, ext.keyBytes = nil, nil, 0
		m.emptied, m.sweep = m.emptied[:0], false
		ks.tidy()
	} else if len(ext.keyed) > 0 {
		m.dropEmptyKeyed(ext)
	} else {
		m.emptied, m.sweep = m.emptied[:0], false
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

// feedPoint is an event's place in feed order (event.Event.Before).
type feedPoint struct {
	set    bool
	time   int64
	stream string
	seq    uint64
}

// reaches reports whether ev comes before f in feed order, or at it:
// it is late, or ties with the event fed before it (two sources of one
// stream number their events apart, so two events may share a time, a
// stream and a Seq), and feed order does not say which came first.
func (f feedPoint) reaches(ev *event.Event) bool {
	switch {
	case !f.set:
		return false
	case ev.Time != f.time:
		return ev.Time < f.time
	case ev.Stream != f.stream:
		return ev.Stream < f.stream
	}
	return ev.Seq <= f.seq
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
	for i := 1; i < len(ps); i++ {
		if a, b := firstOf(i-1), firstOf(i); a != b && !before(a, b) {
			// Out of start order, the partial matches of a key fed
			// an event out of order or tied (see process), or restored
			// from one: merging parked ones back by start would reorder
			// them. Nothing is parked until they are in strict start
			// order again, those that came out of order gone.
			clear(firsts)
			return
		}
	}
	k := 0
	for i := range ps {
		p := ps[i]
		if parkable[p.state] {
			f := firstOf(i)
			if (i == 0 || firstOf(i-1) != f) && (i == len(ps)-1 || firstOf(i+1) != f) && m.parkOne(ks, parked{p: p, first: f}) {
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

// knownKey is the key of the partial match id had in its group, and the
// length of its first part's (see parkGroup.first).
type knownKey struct {
	id    uint32
	first int32
	key   string
}

// partialKey returns the key of partial match p waiting in state s, for
// its step k, in m.keyBuf: the key it had in its group when it left one
// this step, or else read from its events. The id tells p from a partial
// match that reuses the node of one that ended.
func (m *Matcher) partialKey(p partial, s uint16, k int16) ([]byte, int, bool) {
	if known, ok := m.keyOf[p.node]; ok && known.id == p.id && known.key[0] == byte(s>>8) && known.key[1] == byte(s) {
		m.keyBuf = append(m.keyBuf[:0], known.key...)
		first := len(known.key) - 2
		if known.first > 0 {
			first = int(known.first) - 2
		}
		return m.keyBuf, first, true
	}
	m.cur.reset(p.node)
	// A partial match the event just started or moved reads it as
	// decoded, not its held copy thawed again.
	m.cur.live, m.cur.liveHeld = m.live, m.liveHeld
	var (
		ok    bool
		first int
	)
	m.keyBuf, first, ok = m.nfa.steps[k].key.View(append(m.keyBuf[:0], byte(s>>8), byte(s)), View{m.cur})
	m.cur.live, m.cur.liveHeld = nil, nil
	return m.keyBuf, first, ok
}

// dropEmptyKeyed removes the keyed groups that emptied: a key's group
// lasts only while some partial match waits with that key. It looks at
// the groups takeKeyed emptied, or at all of them after a take that may
// have emptied any (sweep); a removed group's place goes to the last.
func (m *Matcher) dropEmptyKeyed(ext *keyExt) {
	if m.sweep {
		m.emptied = m.emptied[:0]
		for gi := range ext.park {
			m.emptied = append(m.emptied, int32(gi))
		}
	}
	// From the last: a group moved into a hole comes from past it, where
	// every group is already looked at.
	slices.Sort(m.emptied)
	for i := len(m.emptied) - 1; i >= 0; i-- {
		gi := m.emptied[i]
		if int(gi) < ext.plain || int(gi) >= len(ext.park) {
			continue
		}
		g := &ext.park[gi]
		if g.size() > 0 {
			continue
		}
		delete(ext.keyed, g.key)
		ext.refirst(g, gi, -1)
		cost := keyedGroupBytes + int64(len(g.key))
		ext.keyBytes -= cost
		m.keyBytes -= cost
		last := len(ext.park) - 1
		if int(gi) != last {
			// Past a keyed group, every group is keyed.
			ext.park[gi] = ext.park[last]
			moved := &ext.park[gi]
			ext.keyed[moved.key] = gi
			ext.refirst(moved, int32(last), gi)
		}
		ext.park[last] = parkGroup{}
		ext.park = ext.park[:last]
	}
	m.emptied, m.sweep = m.emptied[:0], false
}

// refirst moves keyed group g's entry in byFirst from index from to to,
// or drops it (to < 0).
func (ext *keyExt) refirst(g *parkGroup, from, to int32) {
	if g.first == 0 {
		return
	}
	k := g.key[:g.first]
	gs := ext.byFirst[k]
	i := slices.Index(gs, from)
	switch {
	case to >= 0:
		gs[i] = to
	case len(gs) == 1:
		delete(ext.byFirst, k)
	default:
		gs[i] = gs[len(gs)-1]
		ext.byFirst[k] = gs[:len(gs)-1]
	}
}

// parkOne parks x, and reports false when it cannot: its state is keyed
// and its partial match has no key.
func (m *Matcher) parkOne(ks *KeyState, x parked) bool {
	s := x.p.state
	var (
		key   []byte
		first int
	)
	if k := m.nfa.parkKey[s]; k >= 0 {
		var ok bool
		if key, first, ok = m.partialKey(x.p, s, k); !ok {
			return false
		}
	}
	if ks.ext == nil {
		ks.ext = &keyExt{}
	}
	ext := ks.ext
	ext.parked++
	m.stats.Parked++
	if ext.frontOK {
		if before(x.first, ext.front.first) {
			ext.front = x
		}
		ext.frontDeadline = min(ext.frontDeadline, x.p.deadline)
	}
	if key != nil {
		if gi, ok := ext.keyed[string(key)]; ok {
			ext.park[gi].insert(x)
			return true
		}
		if ext.keyed == nil {
			ext.keyed = make(map[string]int32)
		}
		g := parkGroup{state: s, key: string(key), q: []parked{x}}
		gi := int32(len(ext.park))
		ext.keyed[g.key] = gi
		if 2+first < len(key) {
			g.first = int32(2 + first)
			if ext.byFirst == nil {
				ext.byFirst = make(map[string][]int32)
			}
			ext.byFirst[g.key[:g.first]] = append(ext.byFirst[g.key[:g.first]], gi)
		}
		ext.park = append(ext.park, g)
		cost := keyedGroupBytes + int64(len(g.key))
		ext.keyBytes += cost
		m.keyBytes += cost
		return true
	}
	for gi := range ext.park[:ext.plain] {
		if g := &ext.park[gi]; g.state == s {
			g.insert(x)
			return true
		}
	}
	// Plain groups come first: a new one takes the first keyed group's
	// place, which moves to the end.
	ext.park = append(ext.park, parkGroup{state: s, q: []parked{x}})
	if last := len(ext.park) - 1; last != ext.plain {
		ext.park[ext.plain], ext.park[last] = ext.park[last], ext.park[ext.plain]
		moved := &ext.park[last]
		ext.keyed[moved.key] = int32(last)
		ext.refirst(moved, int32(ext.plain), int32(last))
	}
	ext.plain++
	return true
}
