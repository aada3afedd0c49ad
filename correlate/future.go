package correlate

import (
	"fmt"
	"time"

	"github.com/cep-project/cep/event"
)

// DefaultMaxFuture is how far ahead of its stream an event may be before
// it is held back as suspect.
const DefaultMaxFuture = time.Hour

// confirmJump is how many consecutive events of a stream must agree on a
// jump ahead before it is believed: one event stamped in 2200 among
// ordinary ones must not move event time (and make every later event
// late), but a stream that resumes after a real gap moves on after a few.
const confirmJump = 3

// futureGuard holds back events far ahead of their stream's newest event
// (or, in service mode, of the wall clock). A stream's suspects are let in
// once confirmJump consecutive events agree on the jump, or when the
// stream ends; an ordinary event after them shows they were outliers, and
// they are quarantined.
type futureGuard struct {
	max     int64
	pending map[string]*suspects
}

type suspects struct {
	evs     []*event.Event
	arrived time.Time // wall clock of the first, in service mode
}

// plain reports, cheaply, whether ev goes in as it is: no suspects wait
// for its stream and its time is within bounds. Almost every event is
// plain, and this path must not allocate.
func (g *futureGuard) plain(ev *event.Event, r *reorder, now time.Time) bool {
	if len(g.pending) > 0 {
		if _, ok := g.pending[ev.Stream]; ok {
			return false
		}
	}
	if !now.IsZero() && ev.Time > now.UnixNano()+g.max {
		return false
	}
	sc := r.clock(ev.Stream)
	return sc != nil && sc.seen && ev.Time <= sc.max+g.max
}

// offer decides about ev: what to let in now, in order, and what to
// quarantine, with why.
func (g *futureGuard) offer(ev *event.Event, r *reorder, now time.Time) (admit, bad []*event.Event, why string) {
	if !now.IsZero() && ev.Time > now.UnixNano()+g.max {
		return nil, []*event.Event{ev}, fmt.Sprintf("more than %s ahead of the wall clock", time.Duration(g.max))
	}
	ref, ok := r.reference(ev.Stream)
	p := g.pending[ev.Stream]
	if ok && ev.Time > ref+g.max {
		if p != nil && ev.Time-p.evs[0].Time > g.max {
			// Not the same jump as the suspects before: those were
			// outliers, and this starts a new suspicion.
			bad, why = p.evs, g.outliers(ref)
			p = nil
		}
		if p == nil {
			p = &suspects{arrived: now}
			g.pending[ev.Stream] = p
		}
		p.evs = append(p.evs, ev)
		if len(p.evs) >= confirmJump {
			delete(g.pending, ev.Stream)
			return p.evs, bad, why
		}
		return nil, bad, why
	}
	if p != nil {
		delete(g.pending, ev.Stream)
		return []*event.Event{ev}, p.evs, g.outliers(ref)
	}
	return []*event.Event{ev}, nil, ""
}

func (g *futureGuard) outliers(ref int64) string {
	return fmt.Sprintf("more than %s ahead of its stream's newest event (%s), and events at ordinary times followed",
		time.Duration(g.max), time.Unix(0, ref).UTC().Format(time.RFC3339Nano))
}

// release lets in a stream's suspects: it ended, or they have waited an
// idle timeout of processing time with nothing to contradict them.
func (g *futureGuard) release(stream string) []*event.Event {
	p := g.pending[stream]
	if p == nil {
		return nil
	}
	delete(g.pending, stream)
	return p.evs
}

// stale lists streams whose suspects have waited longer than idle.
func (g *futureGuard) stale(now time.Time, idle time.Duration) []string {
	var out []string
	for s, p := range g.pending {
		if idle > 0 && !p.arrived.IsZero() && now.Sub(p.arrived) >= idle {
			out = append(out, s)
		}
	}
	return out
}
