package nfa

import (
	"math"

	"github.com/cep-project/cep/event"
)

// noDeadline marks a key without timers.
const noDeadline = math.MaxInt64

// partial is one partial match: the state it waits in and its newest
// evidence node, whose chain leads back to its first event.
type partial struct {
	node *node
	// deadline is when the partial match's window closes (noDeadline if
	// never), kept so timers need not reach into the evidence.
	deadline int64
	id       uint32
	state    uint16
}

// completed is a match that waits for earlier partial matches to finish, as
// the skip strategies require, and the time it completed.
type completed struct {
	p    partial
	time int64
}

// KeyState is the matcher state of one partition key: its partial matches
// and the completed matches it still holds back. A key without either has no
// KeyState at all. Its serialised form (MarshalBinary) lets a Store keep it
// anywhere.
//
// The partial matches are in one order, by start (first event), then
// creation: parts holds those the matcher works on, and ext.park those
// parked in a state where the event cannot tell them apart (see park.go).
type KeyState struct {
	key string
	// parts is ordered by start (first event), then creation.
	parts []partial
	// ext holds what few keys have: held matches and parked partial
	// matches; nil when there are none.
	ext *keyExt
	// handle is the MemoryStore's index of the state plus one; 0 when the
	// state is in no MemoryStore.
	handle uint32
	// fp is the low half of the fingerprint of the NFA that built the
	// state.
	fp uint32
	// one holds the partial match of a key that has just one, the common
	// case, saving an allocation and a cache miss per key.
	one [1]partial
}

// keyExt is the part of a key's state that most keys do not have.
type keyExt struct {
	// held are completed matches waiting for earlier partial matches, by
	// start, then creation.
	held []completed
	// park has the groups of parked partial matches: first one per
	// state whose partial matches are not parked by key (plain of
	// them), then one per state and key.
	park  []parkGroup
	plain int
	// parked counts the partial matches in park.
	parked int
	// keyed finds the keyed groups in park by state and key (the state's
	// two bytes, then the key); keyBytes is what they cost
	// (keyedGroupBytes and the keys).
	keyed    map[string]int32
	keyBytes int64
	// byFirst finds the keyed groups of keys of several parts by their
	// state and first part, for an event that has only that
	// (StepKey.Event's FirstPart).
	byFirst map[string][]int32
	// front and frontDeadline, when frontOK, are the parked partial
	// match that started first and the earliest deadline of the parked
	// ones (see parkedFront).
	front         parked
	frontDeadline int64
	frontOK       bool
}

func newKeyState(key string, fp uint32) *KeyState {
	ks := &KeyState{key: key, fp: fp}
	ks.parts = ks.one[:0]
	return ks
}

// setParts replaces the key's working partial matches with ps, reusing
// storage.
func (s *KeyState) setParts(ps []partial) {
	switch {
	case len(ps) <= 1:
		if len(s.parts) > 0 && cap(s.parts) > 1 {
			clear(s.parts)
		}
		s.parts = append(s.one[:0], ps...)
	case cap(s.parts) >= len(ps) && cap(s.parts) > 1 && (cap(s.parts) <= 8 || len(ps) > cap(s.parts)/4):
		old := len(s.parts)
		s.parts = append(s.parts[:0], ps...)
		if old > len(ps) {
			clear(s.parts[len(ps):old])
		}
	default:
		s.parts = append(make([]partial, 0, len(ps)), ps...)
		s.one[0] = partial{}
	}
}

// Key returns the partition key.
func (s *KeyState) Key() string { return s.key }

// Deadline returns the earliest event time at which a timer of the key fires,
// and false when the key has none.
func (s *KeyState) Deadline() (int64, bool) {
	d := s.deadline()
	return d, d != noDeadline
}

// deadline is the earliest time at which a window of a partial match
// closes, or noDeadline. It is computed rather than stored: a key usually
// has one partial match, and the field would cost every key. A parked
// group's first member closes first (parked states have no window of their
// own, so deadlines follow starts).
func (s *KeyState) deadline() int64 {
	d := int64(noDeadline)
	for i := range s.parts {
		d = min(d, s.parts[i].deadline)
	}
	if f := s.parkedFront(); f != nil {
		d = min(d, s.ext.frontDeadline)
	}
	return d
}

// parkedFront returns the parked partial match that started first, or
// nil, and sets ext.frontDeadline to the earliest deadline of the parked
// ones. Both are kept until a member that could be either leaves its
// group (see unpark): a key with thousands of keyed groups would
// otherwise visit them all for every event.
func (s *KeyState) parkedFront() *parked {
	ext := s.ext
	if ext == nil || ext.parked == 0 {
		return nil
	}
	if !ext.frontOK {
		ext.front, ext.frontDeadline = parked{}, noDeadline
		for i := range ext.park {
			g := &ext.park[i]
			if g.size() == 0 {
				continue
			}
			f := g.front()
			if ext.front.first == nil || before(f.first, ext.front.first) {
				ext.front = *f
			}
			ext.frontDeadline = min(ext.frontDeadline, f.p.deadline)
		}
		ext.frontOK = true
	}
	return &ext.front
}

// first returns the node of the partial match's first event. Partial
// matches do not store it: it is the root of their evidence chain, and
// only the after-match strategies, parking and snapshots need it.
func (p *partial) first() *node {
	n := p.node
	for n.prev != nil {
		n = n.prev
	}
	return n
}

// Len returns the number of live partial matches.
func (s *KeyState) Len() int {
	if s.ext == nil {
		return len(s.parts)
	}
	return len(s.parts) + s.ext.parked
}

func (s *KeyState) heldLen() int {
	if s.ext == nil {
		return 0
	}
	return len(s.ext.held)
}

func (s *KeyState) parkedLen() int {
	if s.ext == nil {
		return 0
	}
	return s.ext.parked
}

func (s *KeyState) empty() bool { return s.Len() == 0 && s.heldLen() == 0 }

// held returns the held matches, for reading.
func (s *KeyState) heldMatches() []completed {
	if s.ext == nil {
		return nil
	}
	return s.ext.held
}

// setHeld replaces the held matches.
func (s *KeyState) setHeld(h []completed) {
	if len(h) == 0 {
		if s.ext != nil {
			s.ext.held = nil
			s.tidy()
		}
		return
	}
	if s.ext == nil {
		s.ext = &keyExt{}
	}
	s.ext.held = h
}

// tidy drops an extension that holds nothing.
func (s *KeyState) tidy() {
	if s.ext != nil && len(s.ext.held) == 0 && s.ext.parked == 0 {
		s.ext = nil
	}
}

// earliest returns the partial match that started first, or nil.
func (s *KeyState) earliest() *partial {
	var best *partial
	var bestEv *event.Event
	if len(s.parts) > 0 {
		best = &s.parts[0]
		bestEv = best.first().ev
	}
	if f := s.parkedFront(); f != nil && (best == nil || before(f.first, bestEv)) {
		best = &f.p
	}
	return best
}

// each calls f for every partial match of the key, in start order.
func (s *KeyState) each(f func(p *partial)) {
	if s.parkedLen() == 0 {
		for i := range s.parts {
			f(&s.parts[i])
		}
		return
	}
	for _, p := range s.ordered() {
		f(&p)
	}
}

// ordered returns every partial match of the key in start order, in a new
// slice: the working ones merged with the parked ones. Off the hot path.
func (s *KeyState) ordered() []partial {
	out := append([]partial(nil), s.parts...)
	if s.ext == nil {
		return out
	}
	for i := range s.ext.park {
		out = mergeParked(nil, out, s.ext.park[i].live())
	}
	return out
}
