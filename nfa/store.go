package nfa

import "math"

// noDeadline marks a key without timers.
const noDeadline = math.MaxInt64

// Slots of a KeyState in a MemoryStore.
const (
	slotAbsent  = -2 // not in the store
	slotNoTimer = -1 // in the store, without a deadline
)

// partial is one partial match: the state it waits in and its newest
// evidence node. first is the node of its first event (an ancestor of node,
// kept alive through the chain), which gives its start time and order.
type partial struct {
	node  *node
	first *node
	id    uint32
	state uint16
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
	// deadline is the earliest time at which a window of a partial match
	// closes, or noDeadline.
	deadline int64
	slot     int32
	// fp is the low half of the fingerprint of the NFA that built the
	// state.
	fp uint32
}

func newKeyState(key string, fp uint32) *KeyState {
	return &KeyState{key: key, deadline: noDeadline, slot: slotAbsent, fp: fp}
}

// Key returns the partition key.
func (s *KeyState) Key() string { return s.key }

// Deadline returns the earliest event time at which a timer of the key fires,
// and false when the key has none.
func (s *KeyState) Deadline() (int64, bool) { return s.deadline, s.deadline != noDeadline }

// Len returns the number of live partial matches.
func (s *KeyState) Len() int { return len(s.parts) }

func (s *KeyState) heldLen() int {
	if s.held == nil {
		return 0
	}
	return len(*s.held)
}

func (s *KeyState) empty() bool { return len(s.parts) == 0 && s.heldLen() == 0 }

// Store keeps the KeyState of every key, indexed by deadline. The matcher
// calls Get before it works on a key and Put or Delete after; between the two
// it changes the KeyState in place. Implementations need not be safe for
// concurrent use: a matcher is used by one goroutine.
type Store interface {
	// Get returns the state of key, or nil when the key has none.
	Get(key string) (*KeyState, error)
	// Put records s as the state of key, with its current Deadline.
	Put(key string, s *KeyState) error
	// Delete forgets key.
	Delete(key string) error
	// Earliest returns the key with the earliest deadline, ties broken by
	// key; ok is false when no key has a deadline.
	Earliest() (key string, s *KeyState, ok bool, err error)
}

// MemoryStore is the in-process Store: a map and a 4-ary heap of deadlines.
type MemoryStore struct {
	keys map[string]*KeyState
	heap []heapItem
}

type heapItem struct {
	deadline int64
	ks       *KeyState
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{keys: map[string]*KeyState{}} }

// Len returns the number of keys with state.
func (s *MemoryStore) Len() int { return len(s.keys) }

// Range calls f for every key until f returns false, in no particular order.
// f must not change the store.
func (s *MemoryStore) Range(f func(key string, ks *KeyState) bool) {
	for k, v := range s.keys {
		if !f(k, v) {
			return
		}
	}
}

// Get returns the state of key.
func (s *MemoryStore) Get(key string) (*KeyState, error) { return s.keys[key], nil }

// Put records the state of key and its deadline.
func (s *MemoryStore) Put(key string, ks *KeyState) error {
	if ks.slot == slotAbsent {
		if old, ok := s.keys[key]; ok && old != ks && old.slot >= 0 {
			s.remove(int(old.slot))
		}
		s.keys[key] = ks
		ks.key = key
		ks.slot = slotNoTimer
	}
	switch {
	case ks.deadline == noDeadline:
		if ks.slot >= 0 {
			s.remove(int(ks.slot))
			ks.slot = slotNoTimer
		}
	case ks.slot >= 0:
		i := int(ks.slot)
		if s.heap[i].deadline != ks.deadline {
			s.heap[i].deadline = ks.deadline
			if !s.up(i) {
				s.down(i)
			}
		}
	default:
		s.heap = append(s.heap, heapItem{deadline: ks.deadline, ks: ks})
		i := len(s.heap) - 1
		ks.slot = int32(i)
		s.up(i)
	}
	return nil
}

// Delete forgets key.
func (s *MemoryStore) Delete(key string) error {
	ks, ok := s.keys[key]
	if !ok {
		return nil
	}
	if ks.slot >= 0 {
		s.remove(int(ks.slot))
	}
	ks.slot = slotAbsent
	delete(s.keys, key)
	if len(s.keys) == 0 {
		// A map keeps its buckets after deletes; start afresh once idle so a
		// burst of short-lived keys leaves nothing behind.
		s.keys = map[string]*KeyState{}
	}
	return nil
}

// Earliest returns the key whose deadline comes first.
func (s *MemoryStore) Earliest() (string, *KeyState, bool, error) {
	if len(s.heap) == 0 {
		return "", nil, false, nil
	}
	ks := s.heap[0].ks
	return ks.key, ks, true, nil
}

func (s *MemoryStore) less(i, j int) bool {
	a, b := &s.heap[i], &s.heap[j]
	if a.deadline != b.deadline {
		return a.deadline < b.deadline
	}
	return a.ks.key < b.ks.key
}

func (s *MemoryStore) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.heap[i].ks.slot = int32(i)
	s.heap[j].ks.slot = int32(j)
}

// up restores the heap above i and reports whether i moved.
func (s *MemoryStore) up(i int) bool {
	moved := false
	for i > 0 {
		p := (i - 1) / 4
		if !s.less(i, p) {
			break
		}
		s.swap(i, p)
		i = p
		moved = true
	}
	return moved
}

func (s *MemoryStore) down(i int) {
	n := len(s.heap)
	for {
		c := 4*i + 1
		if c >= n {
			return
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if s.less(k, m) {
				m = k
			}
		}
		if !s.less(m, i) {
			return
		}
		s.swap(i, m)
		i = m
	}
}

func (s *MemoryStore) remove(i int) {
	last := len(s.heap) - 1
	s.heap[i].ks.slot = slotNoTimer
	if i != last {
		s.heap[i] = s.heap[last]
		s.heap[i].ks.slot = int32(i)
	}
	s.heap[last] = heapItem{}
	s.heap = s.heap[:last]
	if i < len(s.heap) && !s.up(i) {
		s.down(i)
	}
	if cap(s.heap) > 1024 && len(s.heap) < cap(s.heap)/4 {
		s.heap = append(make([]heapItem, 0, cap(s.heap)/2), s.heap...)
	}
}
