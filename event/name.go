package event

import (
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
)

// names holds one copy of every member name that a projection or a
// reader of events asked for, each with an id from 1: the decoder's
// scratch, where a field more would cost every decode, carries a
// projected member's name as its id. Names are few (those the rules
// write), so the table only grows.
var names struct {
	mu  sync.Mutex
	ids map[string]uint32
	// byID[id-1] is the name of id. It is replaced, never changed in
	// place, so that decoders read it without the lock.
	byID atomic.Pointer[[]string]
}

// Name returns the copy of name that projections and the readers of
// events share. A projected event's members are named with the
// projection's copies (see Decoder.Project), and Go compares two strings
// at one address without reading their bytes: a reader that looks its
// members up by names from Name finds each with a length and an address
// compared, where a copy of its own took a comparison of the bytes, a
// twentieth of the filter scenario's CPU.
func Name(name string) string {
	name, _ = nameID(name)
	return name
}

// shareNames returns names with every one replaced by its shared copy
// (see Name), in a new slice.
func shareNames(path []string) []string {
	out := make([]string, len(path))
	for i, s := range path {
		out[i] = Name(s)
	}
	return out
}

// nameID returns the shared copy of name and its id.
func nameID(name string) (string, uint32) {
	names.mu.Lock()
	defer names.mu.Unlock()
	if id, ok := names.ids[name]; ok {
		return (*names.byID.Load())[id-1], id
	}
	if names.ids == nil {
		names.ids = map[string]uint32{}
	}
	var tab []string
	if p := names.byID.Load(); p != nil {
		tab = *p
	}
	name = strings.Clone(name)
	// A new slice each time: decoders may be reading the old one.
	tab = append(tab[:len(tab):len(tab)], name)
	names.byID.Store(&tab)
	id := uint32(len(tab))
	names.ids[name] = id
	return name, id
}

// nameTable returns the names by id, less one.
func nameTable() []string {
	if p := names.byID.Load(); p != nil {
		return *p
	}
	return nil
}

// AppendPathKey appends to b a key that tells path from every other, and
// ends where the path does, so that more may follow it in one key: the
// number of names, then each name after its length, since a name may
// hold any byte (a JSON member may be named "a\u0000b", which names
// joined with NULs would take for the path a.b).
func AppendPathKey(b []byte, path []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(path)))
	for _, n := range path {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	return b
}

// paths holds the copy of every path that SharedPath returned, by
// AppendPathKey's key.
var paths sync.Map // string → []string

// SharedPath returns the one copy of path, of names from Name, that every
// caller asking for the same path shares. Its callers must not change
// it; its capacity is its length, so appending to it copies it. Ten
// thousand rules that read event.merchant then read one slice, which
// stays in the cache, where each rule's own copy was a cache miss of
// its own on every test: 4% of the 10,000-rule filter scenario's CPU.
func SharedPath(path []string) []string {
	key := string(AppendPathKey(nil, path))
	if v, ok := paths.Load(key); ok {
		return v.([]string)
	}
	p := shareNames(path)
	v, _ := paths.LoadOrStore(key, p[:len(p):len(p)])
	return v.([]string)
}
