package window

import "github.com/cep-project/cep/event"

// DefaultEvidence is how many events a result carries when Config.Evidence
// is 0: enough for an analyst to see what happened without making a window
// of a million events a million-event alert.
const DefaultEvidence = 10

// evidence keeps the most recent events (in event order) up to a limit,
// oldest first.
type evidence []*event.Event

func (e *evidence) add(ev *event.Event, limit int) {
	if ev == nil || limit <= 0 {
		return
	}
	s := *e
	if len(s) == limit {
		if !s[0].Before(ev) {
			return
		}
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
}
