package correlate

import (
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

// narrower makes what a detector keeps of the events it holds for long (a
// sequence's partial matches, a join's buffers): a copy with only the
// fields its rule reads (event.Event.Narrow). A twelve-hour sequence keyed
// by user keeps every login of the last twelve hours; most of each login
// is what other rules read.
type narrower struct {
	r     *rules.Rule
	projs []streamProjection
}

type streamProjection struct {
	stream string
	proj   *event.Projection
}

func (n *narrower) narrow(ev *event.Event) *event.Event {
	for _, p := range n.projs {
		if p.stream == ev.Stream {
			return ev.Narrow(p.proj)
		}
	}
	p := rules.Projection([]*rules.Rule{n.r}, ev.Stream)
	n.projs = append(n.projs, streamProjection{ev.Stream, p})
	return ev.Narrow(p)
}
