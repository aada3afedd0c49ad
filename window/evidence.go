package window

import (
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// DefaultEvidence is how many events a result carries when Config.Evidence
// is 0: enough for an analyst to see what happened without making a window
// of a million events a million-event alert.
const DefaultEvidence = 10

// evidence keeps the most recent events (in event order) up to a limit,
// oldest first.
type evidence []*event.Event

// add keeps ev if it is among the limit most recent, and returns the change
// in the memory the evidence holds (see wire.MemSize).
func (e *evidence) add(ev *event.Event, limit int) int64 {
	if ev == nil || limit <= 0 {
		return 0
	}
	s := *e
	var delta int64
	if len(s) == limit {
		if !s[0].Before(ev) {
			return 0
		}
		delta -= wire.MemSize(s[0])
		copy(s, s[1:])
		s = s[:len(s)-1]
	}
	// Events come in order, so this is almost always an append.
	i := len(s)
	for i > 0 && ev.Before(s[i-1]) {
		i--
	}
	if s == nil {
		s = make(evidence, 0, min(limit, 4))
	}
	s = append(s, nil)
	copy(s[i+1:], s[i:])
	s[i] = ev
	*e = s
	return delta + wire.MemSize(ev)
}

// mem is the memory of the evidence slice itself; the events are counted
// by the owner as add reports them.
func (e evidence) mem() int64 { return int64(cap(e)) * ptrBytes }
