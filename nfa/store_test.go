package nfa

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// bytesStore keeps every key's state serialised, as an external store
// (Redis) would: each Get decodes a fresh copy.
type bytesStore struct {
	data      map[string][]byte
	deadlines map[string]int64
}

func newBytesStore() *bytesStore {
	return &bytesStore{data: map[string][]byte{}, deadlines: map[string]int64{}}
}

func (s *bytesStore) Get(key string) (*KeyState, error) {
	b, ok := s.data[key]
	if !ok {
		return nil, nil
	}
	ks := new(KeyState)
	if err := ks.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return ks, nil
}

func (s *bytesStore) Put(key string, ks *KeyState) error {
	b, err := ks.MarshalBinary()
	if err != nil {
		return err
	}
	s.data[key] = b
	if d, ok := ks.Deadline(); ok {
		s.deadlines[key] = d
	} else {
		delete(s.deadlines, key)
	}
	return nil
}

func (s *bytesStore) Delete(key string) error {
	delete(s.data, key)
	delete(s.deadlines, key)
	return nil
}

func (s *bytesStore) Due(t int64, keys []string) ([]string, error) {
	best := int64(math.MaxInt64)
	for _, d := range s.deadlines {
		best = min(best, d)
	}
	if best > t {
		return keys, nil
	}
	from := len(keys)
	for k, d := range s.deadlines {
		if d == best {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys[from:])
	return keys, nil
}

// TestExternalStore runs the conformance table through a store that keeps
// state only in serialised form, and checks it matches the MemoryStore.
func TestExternalStore(t *testing.T) {
	for _, c := range conformance {
		t.Run(c.name, func(t *testing.T) {
			n := mustCompile(t, c.p)
			evs := withRaw(events(t, c.in))
			keys := []string{"k1", "k2"}
			want := feed(t, NewMatcher(n, Options{}), keys, evs, math.MaxInt64)
			store := newBytesStore()
			m := NewMatcher(n, Options{Store: store})
			got := feed(t, m, keys, evs, math.MaxInt64)
			if !slices.Equal(got, want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
			if s := m.Stats(); s.Keys != 0 || s.Partials != 0 || s.Nodes != 0 || s.Held != 0 {
				t.Errorf("the matcher holds state it handed to the store: %+v", s)
			}
			if c.p.Within > 0 && len(store.data) != 0 {
				t.Errorf("the store keeps %d keys after every window closed", len(store.data))
			}
		})
	}
}

func TestMemoryStoreDueOrder(t *testing.T) {
	s := NewMemoryStore()
	mk := func(key string, deadlines ...int64) *KeyState {
		ks := newKeyState(key, 1)
		for _, d := range deadlines {
			ks.parts = append(ks.parts, partial{deadline: d})
		}
		return ks
	}
	for _, ks := range []*KeyState{mk("c", 5), mk("a", 5), mk("b", 3), mk("d", 9, 4), mk("e")} {
		if err := s.Put(ks.key, ks); err != nil {
			t.Fatal(err)
		}
	}
	// Move b's deadline: its old entry must be skipped.
	b, _ := s.Get("b")
	b.parts[0].deadline = 7
	s.Put("b", b)
	var got []string
	for {
		keys, _ := s.Due(100, nil)
		if len(keys) == 0 {
			break
		}
		got = append(got, strings.Join(keys, ","))
		for _, k := range keys {
			ks, _ := s.Get(k)
			ks.parts = ks.parts[:0]
			if k == "d" && !slices.Contains(got, "d!") {
				ks.parts = append(ks.parts, partial{deadline: 9})
				got = append(got, "d!")
				s.Put(k, ks)
				continue
			}
			s.Delete(k)
		}
	}
	want := []string{"d", "d!", "a,c", "b", "d"}
	if !slices.Equal(got, want) {
		t.Errorf("due order %q, want %q", got, want)
	}
	if keys, _ := s.Due(math.MaxInt64, nil); len(keys) != 0 || s.Len() != 1 {
		t.Errorf("left: due %q, %d keys", keys, s.Len())
	}
}

func TestMemoryStoreShrinks(t *testing.T) {
	s := NewMemoryStore()
	var all []*KeyState
	for i := range 20000 {
		ks := newKeyState(strings.Repeat("k", 1+i%7)+string(rune('a'+i%26))+string(rune(i)), 1)
		ks.parts = append(ks.parts, partial{deadline: int64(i)})
		s.Put(ks.key, ks)
		all = append(all, ks)
	}
	for i, ks := range all {
		if i%100 != 0 {
			s.Delete(ks.key)
		} else {
			ks.parts[0].deadline += 50000
			s.Put(ks.key, ks)
		}
	}
	if s.Len() != 200 || len(s.table) > 1024 || s.q.Len() > 2*200+1024 {
		t.Errorf("after a burst: %d keys, table %d, %d timers", s.Len(), len(s.table), s.q.Len())
	}
	keys, _ := s.Due(math.MaxInt64, nil)
	if len(keys) != 1 || keys[0] != all[0].key {
		t.Errorf("earliest after shrinking: %q", keys)
	}
}

// A queue entry stands while its deadline is the one its state was last
// indexed at: one that moved away and back fires once, and a deleted
// state's entry does not fire for the state that takes its handle.
func TestMemoryStoreStaleEntries(t *testing.T) {
	s := NewMemoryStore()
	put := func(key string, deadline int64) {
		ks, _ := s.Get(key)
		if ks == nil {
			ks = newKeyState(key, 1)
		}
		ks.parts = append(ks.parts[:0], partial{deadline: deadline})
		s.Put(key, ks)
	}
	put("x", 5)
	put("x", 7)
	put("x", 5)
	put("y", 3)
	s.Delete("y")
	put("z", 4)
	var got []string
	for {
		keys, _ := s.Due(100, nil)
		if len(keys) == 0 {
			break
		}
		got = append(got, fmt.Sprintf("%s@%d", strings.Join(keys, ","), s.dueAt))
		for _, k := range keys {
			s.Delete(k)
		}
	}
	if want := []string{"z@4", "x@5"}; !slices.Equal(got, want) {
		t.Errorf("due %q, want %q", got, want)
	}
}
