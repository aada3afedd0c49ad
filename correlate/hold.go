package correlate

import (
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

// holder makes what a detector keeps of the events it holds for long (a
// sequence's partial matches, a join's buffers, a window's evidence): a
// copy with the event's line but none of its values, which are decoded
// again, as far as the rule reads them, only when read (event.Event.Hold).
// A twelve-hour sequence keyed by user keeps every login of the last
// twelve hours and reads each once or twice; most of a decoded login is
// what other rules read. Whoever reads a held event thaws it first
// (event.Event.Thaw).
type holder struct {
	r     *rules.Rule
	projs []streamProjection
}

type streamProjection struct {
	stream string
	proj   *event.Projection
}

func (h *holder) hold(ev *event.Event) *event.Event {
	for _, p := range h.projs {
		if p.stream == ev.Stream {
			return ev.Hold(p.proj)
		}
	}
	p := rules.Projection([]*rules.Rule{h.r}, ev.Stream)
	h.projs = append(h.projs, streamProjection{ev.Stream, p})
	return ev.Hold(p)
}
