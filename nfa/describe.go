package nfa

import "github.com/cep-project/cep/event"

// PartialView describes one live partial match, for an operator asking
// why a key has not matched yet.
type PartialView struct {
	// ID is the partial match's id in the matcher's explanations.
	ID uint32
	// Taken is its evidence so far, in match order.
	Taken []Taken
	// Deadline is when its window closes; 0 when it has none.
	Deadline int64
}

// Taken is one event a partial match took, and the step that took it.
type Taken struct {
	Step  string
	Event *event.Event
}

// Describe lists the key's live partial matches, and how many completed
// matches it holds back for the after-match strategy. n is the automaton
// the state belongs to.
func (s *KeyState) Describe(n *NFA) (parts []PartialView, held int) {
	for i := range s.parts {
		p := &s.parts[i]
		v := PartialView{ID: p.id}
		if p.deadline != noDeadline {
			v.Deadline = p.deadline
		}
		for x := p.node; x != nil; x = x.prev {
			name := ""
			if int(x.step) < len(n.steps) {
				name = n.steps[x.step].name
			}
			v.Taken = append(v.Taken, Taken{Step: name, Event: x.ev.Thaw()})
		}
		for l, r := 0, len(v.Taken)-1; l < r; l, r = l+1, r-1 {
			v.Taken[l], v.Taken[r] = v.Taken[r], v.Taken[l]
		}
		parts = append(parts, v)
	}
	return parts, s.heldLen()
}

// SetObserver replaces the matcher's observer (nil for none) between
// calls: explanations can be switched on for a while in a running
// matcher.
func (m *Matcher) SetObserver(o Observer) { m.obs = o }
