package nfa

import "math"

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
type KeyState struct {
	key string
	// parts is ordered by start (first event), then creation.
	parts []partial
	held  *[]completed
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

func newKeyState(key string, fp uint32) *KeyState {
	ks := &KeyState{key: key, fp: fp}
	ks.parts = ks.one[:0]
	return ks
}

// setParts replaces the key's partial matches with ps, reusing storage.
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
// has one partial match, and the field would cost every key.
func (s *KeyState) deadline() int64 {
	d := int64(noDeadline)
	for i := range s.parts {
		d = min(d, s.parts[i].deadline)
	}
	return d
}

// first returns the node of the partial match's first event. Partial
// matches do not store it: it is the root of their evidence chain, and
// only the after-match strategies and snapshots need it.
func (p *partial) first() *node {
	n := p.node
	for n.prev != nil {
		n = n.prev
	}
	return n
}

// Len returns the number of live partial matches.
func (s *KeyState) Len() int { return len(s.parts) }

func (s *KeyState) heldLen() int {
	if s.held == nil {
		return 0
	}
	return len(*s.held)
}

func (s *KeyState) empty() bool { return len(s.parts) == 0 && s.heldLen() == 0 }
