package nfa

import (
	"slices"
	"strings"
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

// MemoryStore is the in-process Store: a map of states and a 4-ary min-heap
// of deadlines. Heap entries refer to states through a handle table, so
// moving a deadline pushes a new entry and leaves the old one behind, to be
// skipped when it surfaces; no state is written while the heap reorders, and
// a deleted key leaves no reference to its state.
type MemoryStore struct {
	keys  map[string]*KeyState
	heap  []timer
	table []*KeyState
	free  []uint32
	batch []*KeyState
	stack []int
	// peak is the most keys the map held since it was made; Go maps do not
	// shrink, so the store remakes it when far fewer keys remain.
	peak int
}

type timer struct {
	deadline int64
	h        uint32
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{keys: map[string]*KeyState{}} }

// Len returns the number of keys with state.
func (s *MemoryStore) Len() int { return len(s.keys) }

// Range calls f for every key in key order until f returns false. f must not
// change the store.
func (s *MemoryStore) Range(f func(key string, ks *KeyState) bool) {
	keys := make([]string, 0, len(s.keys))
	for k := range s.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !f(k, s.keys[k]) {
			return
		}
	}
}

// Get returns the state of key.
func (s *MemoryStore) Get(key string) (*KeyState, error) { return s.keys[key], nil }

// Put records the state of key and its deadline.
func (s *MemoryStore) Put(key string, ks *KeyState) error {
	if ks.handle == 0 {
		if old, ok := s.keys[key]; ok && old != ks {
			s.release(old)
		}
		var h uint32
		if n := len(s.free); n > 0 {
			h = s.free[n-1]
			s.free = s.free[:n-1]
			s.table[h] = ks
		} else {
			h = uint32(len(s.table))
			s.table = append(s.table, ks)
		}
		ks.handle = h + 1
		ks.key = key
		s.keys[key] = ks
		s.peak = max(s.peak, len(s.keys))
	}
	if ks.deadline != noDeadline {
		s.push(timer{deadline: ks.deadline, h: ks.handle - 1})
	}
	if len(s.heap) > 2*len(s.keys)+1024 {
		s.compact()
	}
	return nil
}

// Delete forgets key.
func (s *MemoryStore) Delete(key string) error {
	ks, ok := s.keys[key]
	if !ok {
		return nil
	}
	s.release(ks)
	delete(s.keys, key)
	switch n := len(s.keys); {
	case n == 0:
		// Start afresh once idle, so a burst of short-lived keys leaves
		// nothing behind.
		s.keys = map[string]*KeyState{}
		s.heap, s.table, s.free = nil, nil, nil
		s.peak = 0
	case s.peak > 4096 && n < s.peak/8:
		keys := make(map[string]*KeyState, n)
		for k, v := range s.keys {
			keys[k] = v
		}
		s.keys = keys
		s.peak = n
		s.compact()
		s.shrinkTable()
	}
	return nil
}

func (s *MemoryStore) release(ks *KeyState) {
	if ks.handle == 0 {
		return
	}
	h := ks.handle - 1
	s.table[h] = nil
	s.free = append(s.free, h)
	ks.handle = 0
}

// valid reports whether a heap entry still stands for its state's deadline.
func (s *MemoryStore) valid(t timer) bool {
	ks := s.table[t.h]
	return ks != nil && ks.deadline == t.deadline
}

// Due returns the keys whose deadline comes first, if it is at or before t.
func (s *MemoryStore) Due(t int64, keys []string) ([]string, error) {
	for _, ks := range s.due(t) {
		keys = append(keys, ks.key)
	}
	return keys, nil
}

// due returns the states whose deadline comes first, if it is at or before t,
// in key order. The slice is reused by the next call.
func (s *MemoryStore) due(t int64) []*KeyState {
	s.batch = s.batch[:0]
	for len(s.heap) > 0 && !s.valid(s.heap[0]) {
		s.pop()
	}
	if len(s.heap) == 0 || s.heap[0].deadline > t {
		return s.batch
	}
	// Every entry with the minimum deadline hangs from the root through
	// entries with that same deadline.
	d := s.heap[0].deadline
	s.stack = append(s.stack[:0], 0)
	for len(s.stack) > 0 {
		i := s.stack[len(s.stack)-1]
		s.stack = s.stack[:len(s.stack)-1]
		if s.valid(s.heap[i]) {
			s.batch = append(s.batch, s.table[s.heap[i].h])
		}
		for c := 4*i + 1; c < 4*i+5 && c < len(s.heap); c++ {
			if s.heap[c].deadline == d {
				s.stack = append(s.stack, c)
			}
		}
	}
	if len(s.batch) > 1 {
		slices.SortFunc(s.batch, func(a, b *KeyState) int { return strings.Compare(a.key, b.key) })
		s.batch = slices.Compact(s.batch)
	}
	return s.batch
}

func (s *MemoryStore) push(t timer) {
	s.heap = append(s.heap, t)
	i := len(s.heap) - 1
	for i > 0 {
		p := (i - 1) / 4
		if s.heap[p].deadline <= t.deadline {
			break
		}
		s.heap[i] = s.heap[p]
		i = p
	}
	s.heap[i] = t
}

func (s *MemoryStore) pop() {
	last := len(s.heap) - 1
	t := s.heap[last]
	s.heap = s.heap[:last]
	if last > 0 {
		s.down(0, t)
	}
	if cap(s.heap) > 4096 && len(s.heap) < cap(s.heap)/4 {
		s.heap = slices.Clip(append(make([]timer, 0, cap(s.heap)/2), s.heap...))
	}
}

// down places t at i or below, restoring the heap.
func (s *MemoryStore) down(i int, t timer) {
	n := len(s.heap)
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if s.heap[k].deadline < s.heap[m].deadline {
				m = k
			}
		}
		if s.heap[m].deadline >= t.deadline {
			break
		}
		s.heap[i] = s.heap[m]
		i = m
	}
	s.heap[i] = t
}

// compact drops stale entries and rebuilds the heap, so entries left behind
// by moved deadlines never outnumber the keys.
func (s *MemoryStore) compact() {
	live := s.heap[:0]
	for _, t := range s.heap {
		if s.valid(t) {
			live = append(live, t)
		}
	}
	clear(s.heap[len(live):])
	s.heap = live
	for i := (len(s.heap) - 2) / 4; i >= 0; i-- {
		s.down(i, s.heap[i])
	}
	if cap(s.heap) > 4096 && len(s.heap) < cap(s.heap)/4 {
		s.heap = append(make([]timer, 0, 2*len(s.heap)), s.heap...)
	}
	if len(s.free) > 1024 && len(s.free) > len(s.table)/2 {
		s.shrinkTable()
	}
}

// shrinkTable renumbers handles densely once most are free, so a burst of
// keys does not leave a large table behind.
func (s *MemoryStore) shrinkTable() {
	table := make([]*KeyState, 0, len(s.keys))
	remap := make(map[uint32]uint32, len(s.keys))
	for h, ks := range s.table {
		if ks != nil {
			remap[uint32(h)] = uint32(len(table))
			ks.handle = uint32(len(table)) + 1
			table = append(table, ks)
		}
	}
	live := s.heap[:0]
	for _, t := range s.heap {
		if nh, ok := remap[t.h]; ok {
			t.h = nh
			live = append(live, t)
		}
	}
	s.heap = live
	s.table = table
	s.free = nil
}
