package nfa

import "github.com/cep-project/cep/event"

// Observer receives a note for every change to partial matches, for
// `cep test --explain`. The matcher builds notes only when an observer is
// set; without one, explaining costs nothing.
type Observer interface {
	Observe(Note)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Note)

// Observe calls f.
func (f ObserverFunc) Observe(n Note) { f(n) }

// NoteKind is what happened to a partial match.
type NoteKind uint8

// The kinds of note.
const (
	// Created: an event started a new partial match.
	Created NoteKind = iota
	// Extended: a partial match took the event (Partial is the result,
	// Parent the partial match it grew from).
	Extended
	// Forked: a partial match moved on without taking the event (it skipped
	// an optional step or waits in another state), alongside its parent.
	Forked
	// Completed: a match was emitted.
	Completed
	// Held: a match completed but waits for an earlier partial match to
	// finish first, as the after-match strategy requires.
	Held
	// TimedOut: an expired partial match was emitted (emit_timeouts).
	TimedOut
	// Expired: a partial match's window closed and it was dropped.
	Expired
	// Discarded: a partial match ended without a match; Reason says why.
	Discarded
	// Dropped: a partial match was shed by a limit.
	Dropped
)

func (k NoteKind) String() string {
	switch k {
	case Created:
		return "created"
	case Extended:
		return "extended"
	case Forked:
		return "forked"
	case Completed:
		return "completed"
	case Held:
		return "held"
	case TimedOut:
		return "timed out"
	case Expired:
		return "expired"
	case Discarded:
		return "discarded"
	case Dropped:
		return "dropped"
	}
	return "note"
}

// Note is one change to a partial match.
type Note struct {
	Kind NoteKind
	Key  string
	// Event is the event being processed; nil when a timer fired.
	Event *event.Event
	// Time is the event time of the change.
	Time int64
	// Partial identifies the partial match; ids are unique per matcher
	// until they wrap.
	Partial uint32
	// Parent is the partial match it came from; 0 for the start state.
	Parent uint32
	// Step is the step that took the event, for Created and Extended.
	Step string
	// Reason says why, for Discarded, Expired, TimedOut and Dropped.
	Reason string
	// Match is the emitted match, for Completed and TimedOut.
	Match *Match
}
