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
// (event.Event.Thaw). While the engine is packing (its state is past a
// quarter of its budget), the line is packed too, against its stream's
// earlier lines.
type holder struct {
	e     *Engine
	r     *rules.Rule
	projs []streamProjection
}

type streamProjection struct {
	stream string
	proj   *event.Projection
	pk     *event.Packer
}

func (h *holder) hold(ev *event.Event) *event.Event {
	var p *streamProjection
	for i := range h.projs {
		if h.projs[i].stream == ev.Stream {
			p = &h.projs[i]
			break
		}
	}
	if p == nil {
		h.projs = append(h.projs, streamProjection{ev.Stream, rules.Projection([]*rules.Rule{h.r}, ev.Stream), h.e.packer(ev.Stream)})
		p = &h.projs[len(h.projs)-1]
	}
	if !h.e.packing {
		return ev.Hold(p.proj, nil)
	}
	return ev.Hold(p.proj, p.pk)
}

// packer returns the Packer of a stream's held lines, which every rule
// shares: the lines are the same whoever holds them.
func (e *Engine) packer(stream string) *event.Packer {
	pk := e.packers[stream]
	if pk == nil {
		if e.packers == nil {
			e.packers = map[string]*event.Packer{}
		}
		pk = &event.Packer{}
		e.packers[stream] = pk
	}
	return pk
}
