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

// MemoryStore is the in-process Store: a map of states and an index of
// deadlines. Index entries refer to states through a handle table, so moving
// a deadline adds an entry and leaves the old one behind, to be skipped when
// it surfaces; nothing is written into states while the index reorders, and
// a deleted key leaves no reference to its state. Deadlines that arrive in
// increasing order, as new windows do when events come in time order, go to
// a queue at no cost; the others go to a 4-ary heap.
type MemoryStore struct {
	keys  map[string]*KeyState
	fifo  []timer
	head  int
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
	}
	ks.handle = h + 1
	ks.key = key
	s.keys[key] = ks
	s.peak = max(s.peak, len(s.keys))
	s.index(ks)
}

// index records the state's current deadline.
func (s *MemoryStore) index(ks *KeyState) {
	d := ks.deadline()
	if d == noDeadline {
		return
	}
	t := timer{deadline: d, h: ks.handle - 1}
	if n := len(s.fifo); n == s.head || s.fifo[n-1].deadline <= t.deadline {
		s.fifo = append(s.fifo, t)
	} else {
		s.push(t)
	}
	if s.entries() > len(s.keys)+len(s.keys)/2+1024 {
		s.compact()
	}
}

func (s *MemoryStore) entries() int { return len(s.fifo) - s.head + len(s.heap) }

// Delete forgets key.
func (s *MemoryStore) Delete(key string) error {
	if ks, ok := s.keys[key]; ok {
		s.remove(ks)
	}
	return nil
}

// remove forgets a state the store holds.
func (s *MemoryStore) remove(ks *KeyState) {
	h := ks.handle - 1
	s.table[h] = nil
	s.free = append(s.free, h)
	ks.handle = 0
	delete(s.keys, ks.key)
	switch n := len(s.keys); {
	case n == 0:
		// Start afresh once idle, so a burst of short-lived keys leaves
		// nothing behind.
		s.keys = map[string]*KeyState{}
		s.fifo, s.head, s.heap, s.table, s.free = nil, 0, nil, nil, nil
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
}

// valid reports whether an index entry still stands for its state's
// deadline.
func (s *MemoryStore) valid(t timer) bool {
	ks := s.table[t.h]
	return ks != nil && ks.deadline() == t.deadline
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
	for s.head < len(s.fifo) && !s.valid(s.fifo[s.head]) {
		s.dequeue()
	}
	for len(s.heap) > 0 && !s.valid(s.heap[0]) {
		s.pop()
	}
	d := int64(noDeadline)
	if s.head < len(s.fifo) {
		d = s.fifo[s.head].deadline
	}
	if len(s.heap) > 0 {
		d = min(d, s.heap[0].deadline)
	}
	if d == noDeadline || d > t {
		return s.batch
	}
	for i := s.head; i < len(s.fifo) && s.fifo[i].deadline == d; i++ {
		if s.valid(s.fifo[i]) {
			s.batch = append(s.batch, s.table[s.fifo[i].h])
		}
	}
	if len(s.heap) > 0 && s.heap[0].deadline == d {
		// Every entry with the minimum deadline hangs from the root through
		// entries with that same deadline.
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
	}
	if len(s.batch) > 1 {
		slices.SortFunc(s.batch, func(a, b *KeyState) int { return strings.Compare(a.key, b.key) })
		s.batch = slices.Compact(s.batch)
	}
	return s.batch
}

func (s *MemoryStore) dequeue() {
	s.fifo[s.head] = timer{}
	s.head++
	if s.head >= 1024 && 2*s.head >= len(s.fifo) {
		n := copy(s.fifo, s.fifo[s.head:])
		s.fifo = s.fifo[:n]
		s.head = 0
		if cap(s.fifo) > 4096 && n < cap(s.fifo)/4 {
			s.fifo = append(make([]timer, 0, 2*n), s.fifo...)
		}
	}
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

// compact drops stale entries, so entries left behind by moved deadlines
// never outnumber the keys.
func (s *MemoryStore) compact() {
	fifo := s.fifo[:0]
	for _, t := range s.fifo[s.head:] {
		if s.valid(t) {
			fifo = append(fifo, t)
		}
	}
	clear(s.fifo[len(fifo):])
	s.fifo, s.head = fifo, 0
	heap := s.heap[:0]
	for _, t := range s.heap {
		if s.valid(t) {
			heap = append(heap, t)
		}
	}
	clear(s.heap[len(heap):])
	s.heap = heap
	if len(s.heap) > 1 {
		for i := (len(s.heap) - 2) / 4; i >= 0; i-- {
			s.down(i, s.heap[i])
		}
	}
	if len(s.free) > 1024 && len(s.free) > len(s.table)/2 {
		s.shrinkTable()
	}
}

// shrinkTable renumbers handles densely once most are free, so a burst of
// keys does not leave a large table behind. The index must be compact.
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
	for _, q := range [][]timer{s.fifo[s.head:], s.heap} {
		for i := range q {
			q[i].h = remap[q[i].h]
		}
	}
	s.table = table
	s.free = nil
}
