package nfa

import "github.com/cep-project/cep/event"

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

// Refuted reports whether d holds a verdict of false on each of the first
// n steps. A verdict on a step that is not view-free can only be false
// (a test of the event alone that its where needs fails): the matcher
// ignores it (apply), and Untaken reads it.
func (d Decided) Refuted(n int) bool {
	if n > MaxDecided {
		return false
	}
	for i := range n {
		if d>>(2*i)&3 != Decided(boolMemo(false)) {
			return false
		}
	}
	return true
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
