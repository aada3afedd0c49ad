package nfa

import "github.com/cep-project/cep/event"

// Match is a completed (or, with EmitTimeouts, expired) match of one key.
type Match struct {
	// Key is the partition key the match belongs to.
	Key string
	// Events is the evidence in match order. A looping step contributes one
	// entry per event it took; optional steps that took nothing and not
	// steps contribute none.
	Events []Evidence
	// Time is the event time at which the match completed: the time of the
	// event that completed it, or the deadline for an absence or a timeout.
	Time int64
	// TimedOut marks a partial match emitted because its window closed.
	TimedOut bool
}

// Evidence is one event of a match and the step that took it. The event
// may be held (event.Event.Hold), its line unpacked: whoever reads its
// values thaws it (event.Event.Thaw).
type Evidence struct {
	Step  int
	Name  string
	Event *event.Event
}

// Step returns the events the named step took, in order.
func (m Match) Step(name string) []*event.Event {
	var out []*event.Event
	for _, e := range m.Events {
		if e.Name == name {
			out = append(out, e.Event)
		}
	}
	return out
}
