package nfa

import (
	"strconv"
	"time"

	"github.com/cep-project/cep/event"
)

// Guard decides whether an event may be taken by a step. It sees the event
// under test and the events the partial match has taken so far. Guards must be
// pure: the matcher may call a guard several times, or not at all, for the
// same event and partial match.
type Guard func(ev *event.Event, m View) bool

// Contiguity is how a step's first event relates to the event taken before it.
type Contiguity uint8

// The contiguities between neighbouring steps.
const (
	// Relaxed ignores events that do not match the step until one does
	// (Flink followedBy). It is the default.
	Relaxed Contiguity = iota
	// Strict requires the step's event to be the very next event of the key
	// (Flink next).
	Strict
	// Any tries every matching event, producing one match per choice
	// (Flink followedByAny).
	Any
)

func (c Contiguity) String() string {
	switch c {
	case Relaxed:
		return "relaxed"
	case Strict:
		return "strict"
	case Any:
		return "any"
	}
	return "contiguity(" + strconv.Itoa(int(c)) + ")"
}

// LoopContiguity is how the events taken by one looping step relate to each
// other.
type LoopContiguity uint8

// The contiguities inside a looping step.
const (
	// LoopRelaxed skips events that do not match between two taken events.
	// It is the default.
	LoopRelaxed LoopContiguity = iota
	// Consecutive requires the taken events to follow each other directly
	// (Flink consecutive()).
	Consecutive
	// Combinations takes every combination of matching events (Flink
	// allowCombinations()).
	Combinations
)

func (c LoopContiguity) String() string {
	switch c {
	case LoopRelaxed:
		return "relaxed"
	case Consecutive:
		return "consecutive"
	case Combinations:
		return "combinations"
	}
	return "loop(" + strconv.Itoa(int(c)) + ")"
}

// Step is one element of a pattern.
type Step struct {
	// Name identifies the step in matches and views; names are unique within
	// a pattern.
	Name string
	// Where accepts events for the step; nil accepts every event.
	Where Guard
	// Stream, when set, restricts the step to events of that stream.
	Stream string
	// Times is how many events the step takes. The zero value is exactly one.
	Times Quantifier
	// Contiguity relates the step to the previous one. It is ignored on the
	// first step.
	Contiguity Contiguity
	// Loop relates the events taken by a step that can take more than one.
	Loop LoopContiguity
	// Greedy makes a looping step take as many events as it can before the
	// next step may start.
	Greedy bool
	// Until stops an unbounded looping step: the event that satisfies it is
	// not taken and ends the loop.
	Until Guard
	// Not makes the step negative: with Strict contiguity no matching event
	// may come right after the previous step (Flink notNext), with Relaxed
	// none may come before the next step (Flink notFollowedBy). As the last
	// step it detects absence: the match completes when the window closes
	// without a matching event.
	Not bool
	// For is the absence window of a trailing Not step, counted from the
	// event taken before it. Without it the pattern's Within applies.
	For time.Duration
	// ViewFree declares that Where and Until read only the event under
	// test and never their View: no earlier step, and not the events this
	// step took before. The matcher may then decide for all partial matches
	// waiting in one state at once, which keeps a burst of events on one
	// key linear (see Matcher). Results are the same either way; a guard
	// declared ViewFree that reads its View sees an empty one.
	ViewFree bool
	// Pre, when set on a step whose Where reads its View, is a condition
	// on the event alone that Where implies: where Pre is false, so is
	// Where, for every partial match. The matcher asks it once an event,
	// and Where only for the events it does not rule out: a where such as
	// `event.kind == "write" && event.image == first.image` then costs one
	// test per event that is not a write, not one per partial match.
	Pre func(*event.Event) bool
	// Key, when set on a step whose Where reads its View, is what Where
	// compares for equality between the event and the partial match
	// (`event.image == first.image`): where both have a key and the keys
	// differ, Where is false for that partial match, with no side
	// effect and no error. The matcher then parks the partial matches
	// waiting for the step by their key, and offers an event only those
	// of its own key, which keeps a key with many partial matches from
	// testing each against each event (see park.go). The step must have
	// no Until. Results are the same with and without it.
	Key *StepKey
}

// StepKey extracts the key of a step's Key. Keys are compared as bytes:
// two values Where could find equal must append the same bytes. A key
// may have parts, one for each equality, and a first part of its own: a
// partial match whose first part differs from the event's fails that
// equality whatever the rest.
type StepKey struct {
	// Event appends the event's key to dst, and says whether it has
	// one; with FirstPart it appends only the key's first part.
	Event func(dst []byte, ev *event.Event) ([]byte, KeyVerdict)
	// View appends the partial match's key to dst, with the length of
	// its first part (all of it for a key of one part), and returns
	// false when it has none (a missing field, a value the equality is
	// not a comparison of bytes for).
	View func(dst []byte, v View) (key []byte, first int, ok bool)
}

// KeyVerdict is what StepKey.Event found.
type KeyVerdict uint8

// The verdicts on an event's key.
const (
	// NoKey: the event has none, and Where is asked of every partial
	// match.
	NoKey KeyVerdict = iota
	// HasKey: Where may hold only for the partial matches of the key.
	HasKey
	// MatchesNone: Where is false for every partial match, whatever its
	// key (a missing field, with missing_fields: false_if_missing).
	MatchesNone
	// FirstPart: the event has the key's first part, not the rest (a
	// field of a later equality missing): Where may hold, or fail, only
	// for the partial matches whose key starts with it.
	FirstPart
)

// WithinType is what the pattern's Within measures.
type WithinType uint8

// The kinds of window.
const (
	// FirstAndLast bounds the span from the first to the last event of a
	// match. It is the default.
	FirstAndLast WithinType = iota
	// PreviousAndCurrent bounds the gap between each event and the event
	// taken before it.
	PreviousAndCurrent
)

func (w WithinType) String() string {
	switch w {
	case FirstAndLast:
		return "first_and_last"
	case PreviousAndCurrent:
		return "previous_and_current"
	}
	return "within_type(" + strconv.Itoa(int(w)) + ")"
}

// Pattern is a sequence of steps with its window and match policy.
type Pattern struct {
	Steps []Step
	// Within is the window; 0 means none. It is exclusive: a partial match
	// whose span reaches Within is expired.
	Within time.Duration
	// WithinType says what Within measures.
	WithinType WithinType
	// AfterMatch says which partial matches are discarded after a match. The
	// zero value is skip_past_last.
	AfterMatch SkipStrategy
	// Until, when set, discards every partial match of the key when an event
	// satisfies it (Elastic EQL until). That event is not offered to the
	// steps.
	Until func(ev *event.Event) bool
	// EmitTimeouts emits expired partial matches as matches marked TimedOut
	// instead of dropping them.
	EmitTimeouts bool
}
