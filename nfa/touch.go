package nfa

import "unsafe"

// Touch reads ahead the states of keys in the memory store, and returns
// something of them for the caller to keep so that the reads are not
// compiled away. With many keys, each event's state is a few cache misses
// that processing takes one at a time: its slot in the table, the state,
// its key's bytes, its first partial match's node and the node before
// that, which a match walks back through. Touch takes them for a batch
// of events in phases, a phase's reads independent of one another, so
// that their misses overlap.
func (m *Matcher) Touch(keys [][]byte) uintptr {
	if m.mem == nil || m.mem.keys.n == 0 {
		return 0
	}
	x := &m.mem.keys
	// Only slots: while a table moves (keyIndex.migrate), the states
	// still in old go untouched, which costs their misses and nothing
	// else.
	mask := uint64(len(x.slots) - 1)
	var t uintptr
	hs := m.touchHashes[:0]
	for _, k := range keys {
		h := x.hashBytes(k)
		hs = append(hs, h)
		t += uintptr(x.slots[h&mask].h)
	}
	m.touchHashes = hs
	sts := m.touchStates[:0]
	for _, h := range hs {
		// Found by its hash alone: a state of another key whose hash is
		// the same is read for nothing, which is all it costs.
		for i := h & mask; x.slots[i].h != 0; i = (i + 1) & mask {
			if x.slots[i].h == h {
				ks := x.slots[i].ks
				sts = append(sts, ks)
				t += uintptr(len(ks.parts))
				break
			}
		}
	}
	for _, ks := range sts {
		if len(ks.key) > 0 {
			t += uintptr(ks.key[0])
		}
		if len(ks.parts) > 0 {
			t += uintptr(unsafe.Pointer(ks.parts[0].node))
		}
	}
	for _, ks := range sts {
		if len(ks.parts) > 0 && ks.parts[0].node != nil {
			t += uintptr(ks.parts[0].node.step)
		}
	}
	for _, ks := range sts {
		if len(ks.parts) > 0 && ks.parts[0].node != nil && ks.parts[0].node.prev != nil {
			t += uintptr(ks.parts[0].node.prev.step)
		}
	}
	clear(sts)
	m.touchStates = sts[:0]
	return t
}
