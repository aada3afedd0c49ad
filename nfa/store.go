package nfa

import (
	"slices"
	"strings"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/timerq"
)

// Store keeps the KeyState of every key, indexed by deadline. The matcher
// calls Get before it works on a key and Put or Delete after; between the two
// it changes the KeyState in place. Implementations need not be safe for
// concurrent use: a matcher is used by one goroutine.
type Store interface {
	// Get returns the state of key, or nil when the key has none.
	Get(key string) (*KeyState, error)
	// Put records s as the state of key. The matcher calls it for a new
	// key, when the key's Deadline moved, and after a change through any
	// store other than MemoryStore.
	Put(key string, s *KeyState) error
	// Delete forgets key.
	Delete(key string) error
	// Due appends to keys, sorted, every key whose deadline is the earliest
	// of all the store's deadlines, provided that is at or before t.
	Due(t int64, keys []string) ([]string, error)
}

// MemoryStore is the in-process Store: a table of states by key
// (keyIndex) and a queue of deadlines (internal/timerq). Queue entries refer to states through a
// handle table, so moving a deadline adds an entry and leaves the old one
// behind, to be skipped when it surfaces; nothing is written into states
// while the queue reorders, and a deleted key leaves no reference to its
// state.
type MemoryStore struct {
	keys  keyIndex
	q     timerq.Queue[uint32]
	table []*KeyState
	// at is, by handle, the deadline the state was last indexed at
	// (noDeadline for none or a free handle): the one queue entry of the
	// handle that stands. Judging an entry by it reads one word of a
	// dense array; judging it by the state's deadline reached the state
	// and its partial matches, a cache miss or two each for entries that
	// surface after their state moved on (a tenth of the engine's time in
	// the sequence scenario was Advance, a third of that this check).
	at    []int64
	free  []uint32
	batch []*KeyState
	// peak is the most keys the store held since it last shrank its
	// queue and handles, which it does when far fewer keys remain.
	peak int
	// dueAt is the deadline of the keys due returned last.
	dueAt int64
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{keys: newKeyIndex()} }

// Len returns the number of keys with state.
func (s *MemoryStore) Len() int { return s.keys.len() }

// Range calls f for every key in key order until f returns false. f must not
// change the store.
func (s *MemoryStore) Range(f func(key string, ks *KeyState) bool) {
	states := make([]*KeyState, 0, s.keys.len())
	s.keys.each(func(ks *KeyState) { states = append(states, ks) })
	slices.SortFunc(states, func(a, b *KeyState) int { return strings.Compare(a.key, b.key) })
	for _, ks := range states {
		if !f(ks.key, ks) {
			return
		}
	}
}

// Get returns the state of key.
func (s *MemoryStore) Get(key string) (*KeyState, error) { return s.keys.get(key), nil }

// Put records the state of key and its deadline.
func (s *MemoryStore) Put(key string, ks *KeyState) error {
	if ks.handle == 0 {
		if old := s.keys.get(key); old != nil && old != ks {
			s.remove(old)
		}
		s.insert(key, ks)
		return nil
	}
	s.index(ks)
	return nil
}

// insert adds the state of a key the store does not hold.
func (s *MemoryStore) insert(key string, ks *KeyState) {
	var h uint32
	if n := len(s.free); n > 0 {
		h = s.free[n-1]
		s.free = s.free[:n-1]
		s.table[h] = ks
	} else {
		h = uint32(len(s.table))
		s.table = append(s.table, ks)
		s.at = append(s.at, noDeadline)
	}
	ks.handle = h + 1
	ks.key = key
	s.keys.put(ks)
	s.peak = max(s.peak, s.keys.len())
	s.index(ks)
}

// index records the state's current deadline.
func (s *MemoryStore) index(ks *KeyState) {
	d := ks.deadline()
	s.at[ks.handle-1] = d
	if d == noDeadline {
		return
	}
	s.q.Push(timerq.Timer[uint32]{At: d, Key: ks.handle - 1})
	if n := s.keys.len(); s.q.Len() > n+n/2+1024 {
		s.compact()
	}
}

// Delete forgets key.
func (s *MemoryStore) Delete(key string) error {
	if ks := s.keys.get(key); ks != nil {
		s.remove(ks)
	}
	return nil
}

// remove forgets a state the store holds.
func (s *MemoryStore) remove(ks *KeyState) {
	h := ks.handle - 1
	s.table[h] = nil
	s.at[h] = noDeadline
	s.free = append(s.free, h)
	ks.handle = 0
	s.keys.remove(ks)
	switch n := s.keys.len(); {
	case n == 0:
		// Start afresh once idle, so a burst of short-lived keys leaves
		// nothing behind.
		s.q, s.table, s.at, s.free = timerq.Queue[uint32]{}, nil, nil, nil
		s.peak = 0
	case s.peak > 4096 && n < s.peak/8:
		s.peak = n
		s.compact()
		s.shrinkTable()
	}
}

// oldestStart returns the key whose oldest partial match started first, by
// a scan: for shedding state that no window bounds, which is rare.
func (s *MemoryStore) oldestStart() (string, bool) {
	var best *KeyState
	var bestEv *event.Event
	s.keys.each(func(ks *KeyState) {
		p := ks.earliest()
		if p == nil {
			return
		}
		f := p.first().ev
		if best == nil || before(f, bestEv) || f == bestEv && ks.key < best.key {
			best, bestEv = ks, f
		}
	})
	if best == nil {
		return "", false
	}
	return best.key, true
}

// valid reports whether a queue entry still stands: its deadline is the
// one its state was last indexed at.
func (s *MemoryStore) valid(t timerq.Timer[uint32]) bool {
	return s.at[t.Key] == t.At
}

// Due returns the keys whose deadline comes first, if it is at or before t.
// The store keeps their deadlines: Due only looks.
func (s *MemoryStore) Due(t int64, keys []string) ([]string, error) {
	for _, ks := range s.due(t) {
		keys = append(keys, ks.key)
		s.index(ks)
	}
	return keys, nil
}

// due takes out of the queue the states whose deadline comes first, if it
// is at or before t, and returns them in key order. The caller must index
// each again (the matcher does when it saves it). The slice is reused by
// the next call.
func (s *MemoryStore) due(t int64) []*KeyState {
	s.batch = s.batch[:0]
	for {
		x, ok := s.q.Peek()
		if !ok || s.valid(x) {
			break
		}
		s.q.Pop()
	}
	x, ok := s.q.Peek()
	if !ok || x.At > t {
		return s.batch
	}
	d := x.At
	s.dueAt = d
	for {
		x, ok := s.q.Peek()
		if !ok || x.At != d {
			break
		}
		s.q.Pop()
		if s.valid(x) {
			s.batch = append(s.batch, s.table[x.Key])
		}
	}
	if len(s.batch) > 1 {
		slices.SortFunc(s.batch, func(a, b *KeyState) int { return strings.Compare(a.key, b.key) })
		s.batch = slices.Compact(s.batch)
	}
	return s.batch
}

// compact drops stale entries, so entries left behind by moved deadlines
// never outnumber the keys.
func (s *MemoryStore) compact() {
	s.q.Retain(func(t *timerq.Timer[uint32]) bool { return s.valid(*t) })
	if len(s.free) > 1024 && len(s.free) > len(s.table)/2 {
		s.shrinkTable()
	}
}

// shrinkTable renumbers handles densely once most are free, so a burst of
// keys does not leave a large table behind. The queue must be compact.
func (s *MemoryStore) shrinkTable() {
	table := make([]*KeyState, 0, s.keys.len())
	at := make([]int64, 0, s.keys.len())
	remap := make(map[uint32]uint32, s.keys.len())
	for h, ks := range s.table {
		if ks != nil {
			remap[uint32(h)] = uint32(len(table))
			ks.handle = uint32(len(table)) + 1
			table = append(table, ks)
			at = append(at, s.at[h])
		}
	}
	s.q.Retain(func(t *timerq.Timer[uint32]) bool {
		t.Key = remap[t.Key]
		return true
	})
	s.table, s.at = table, at
	s.free = nil
}
