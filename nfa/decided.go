package nfa

import (
	"unsafe"

	"github.com/cep-project/cep/event"
)

// Decided carries the verdicts of steps' guards on one event, worked out
// before the matcher sees it (Matcher.ProcessDecided): two bits a step, for
// the first MaxDecided steps, zero for a step left to the matcher. Only a
// step whose guards read the event alone (Step.ViewFree) may be decided
// ahead; its verdict is that of its stream and its where together, as the
// matcher would find it. Deciding ahead moves the work elsewhere, such as
// onto the goroutines that decode events, which the matcher's cannot.
type Decided uint64

// MaxDecided is how many steps a Decided can carry.
const MaxDecided = 32

// With returns d with step i's verdict set to ok; a step past MaxDecided
// stays the matcher's to decide.
func (d Decided) With(i int, ok bool) Decided {
	if i >= MaxDecided {
		return d
	}
	return d&^(3<<(2*i)) | Decided(boolMemo(ok))<<(2*i)
}

// apply writes d's verdicts on the view-free steps into the matcher's
// memo of the current event.
func (m *Matcher) apply(d Decided) {
	d &= m.nfa.freeMask
	for i := 0; d != 0; i, d = i+1, d>>2 {
		if v := int8(d & 3); v != 0 {
			m.memo[i] = v
		}
	}
}

// ProcessDecided is ProcessBytes for an event whose view-free steps'
// verdicts were decided ahead; a verdict on another step is ignored.
func (m *Matcher) ProcessDecided(key []byte, ev *event.Event, d Decided, emit func(Match)) error {
	m.decided = d
	err := m.ProcessBytes(key, ev, emit)
	m.decided = 0
	return err
}

// Touch reads ahead the states of keys in the memory store, and returns
// something of them for the caller to keep so that the reads are not
// compiled away. With many keys, each event's state is a few cache misses
// that processing takes one at a time: its slot in the table, the state,
// its key's bytes and its first partial match's node. Touch takes them
// for a batch of events in phases, a phase's reads independent of one
// another, so that their misses overlap.
func (m *Matcher) Touch(keys [][]byte) uintptr {
	if m.mem == nil || m.mem.keys.n == 0 {
		return 0
	}
	x := &m.mem.keys
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
	clear(sts)
	m.touchStates = sts[:0]
	return t
}
