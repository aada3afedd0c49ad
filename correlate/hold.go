package correlate

import (
	"bytes"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

// Detectors keep some events for long: a sequence's partial matches, a
// join's buffers, a window's evidence. They keep a held copy
// (event.Event.Hold): the event's line but none of its values, which are
// decoded again, as far as the rules read them, only when read. A
// twelve-hour sequence keyed by user keeps every login of the last twelve
// hours and reads each once or twice; most of a decoded login is what
// other rules read. Whoever reads a held event thaws it first
// (event.Event.Thaw). While the engine is packing (its state is past a
// quarter of its budget), the line is packed too, against its stream's
// earlier lines.
//
// Every rule that holds events of a stream holds the same copy: it keeps
// what any of them reads (their projections together), so that two hour
// windows over payments keep one 128-byte copy of a payment, not two.
// A restore shares them as the run did: the copies of one event, which
// each rule's state stores apart, become one again.
type heldCopies struct {
	rules []*rules.Rule
	projs map[string]*event.Projection
	// last is the event held last and its copy: the rules an event is
	// dispatched to hold it one after the other.
	last, lastCopy *event.Event
	lastPacked     bool
	// restoring, during a restore, has the copies made so far.
	restoring map[storedEvent]*event.Event
	// copies counts the copies made, for tests; ahead those of them the
	// decoders made (see holdAheadFor).
	copies, ahead uint64
}

// storedEvent is what a checkpoint keeps of an event beside its line.
type storedEvent struct {
	stream, id string
	time       int64
	seq        uint64
	line       int
}

// holder returns what r's detector calls to hold an event, and counts r
// among the rules whose reads the copies keep. A rule that reads events
// whole keeps them as they are, and does not make the others do so.
func (e *Engine) holder(r *rules.Rule) func(*event.Event) *event.Event {
	if r.Reads().Whole {
		return func(ev *event.Event) *event.Event { return ev }
	}
	e.held.rules = append(e.held.rules, r)
	return e.lockedHold(e.hold)
}

func (e *Engine) hold(ev *event.Event) *event.Event {
	h := &e.held
	if ev == h.last && e.packing.Load() == h.lastPacked {
		return h.lastCopy
	}
	if h.restoring != nil {
		k := storedEvent{ev.Stream, ev.ID, ev.Time, ev.Seq, ev.Line}
		if c := h.restoring[k]; c != nil && bytes.Equal(c.RawLine(), ev.RawLine()) {
			return c
		}
		c := e.holdCopy(ev)
		h.restoring[k] = c
		return c
	}
	h.last, h.lastCopy, h.lastPacked = ev, e.holdCopy(ev), e.packing.Load()
	return h.lastCopy
}

func (e *Engine) holdCopy(ev *event.Event) *event.Event {
	e.held.copies++
	p := e.heldProjection(ev.Stream)
	if !e.packing.Load() {
		if pp := ev.Prepared; pp != nil && pp.Held != nil && pp.By == e.prepBy {
			// Held ahead by this engine's decoders (see holdAheadFor),
			// before the source numbered the event: a pipeline's
			// emitter does so once its decoders are done, in the order
			// of the lines, and until then a decoder's own count is
			// all the event has. Evidence is kept and ordered by that
			// number among events of one time.
			e.held.ahead++
			h := pp.Held
			h.Seq, h.Line = ev.Seq, ev.Line
			return h
		}
		return ev.Hold(p, nil)
	}
	if pp := ev.Prepared; pp != nil && pp.Packed != nil && pp.By == e.prepBy {
		// Packed ahead by this engine's decoders, with this Packer.
		return ev.HoldPacked(p, e.packer(ev.Stream), pp.Packed)
	}
	return ev.Hold(p, e.packer(ev.Stream))
}

// heldProjection returns what the held copies of a stream's events keep.
func (e *Engine) heldProjection(stream string) *event.Projection {
	h := &e.held
	p, ok := h.projs[stream]
	if !ok {
		if h.projs == nil {
			h.projs = map[string]*event.Projection{}
		}
		p = rules.Projection(h.rules, stream)
		h.projs[stream] = p
	}
	return p
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

// keepPlan marks the detectors that may keep an event, or a string of its
// memory, past its dispatch (mayKeep), so that the engine releases the
// others' events to their decoders' slabs (see dispatch, Screens). What
// a detector keeps of an event is a held copy, which owns its line
// (event.Event.Hold), or its own copy of a key or value
// (window.Aggregator.Add, join.Joiner.Add), and an alert is made of
// copies (filter.fire, nfa.Matcher's evidence, joinDet.emit); baselines
// keep numbers under keys of their own. Three kinds of rule may keep more:
// one whose expressions read facts, which a Redis store caches under the
// event's strings; one that reads events whole, whose detector keeps the
// event itself (holder); and a sharded one, stepped after the dispatch
// on other goroutines. While explaining, every rule may keep the event.
func (e *Engine) keepPlan() {
	if e.cfg.Explain != nil {
		e.mayKeep = nil
		return
	}
	keep := make([]bool, len(e.dets))
	for i, d := range e.dets {
		r := d.rule()
		switch d.(type) {
		case *filter:
			keep[i] = r.CallsFacts()
		case *sequence, *aggregate, *joinDet:
			keep[i] = r.CallsFacts() || r.Reads().Whole
		default:
			keep[i] = true
		}
	}
	e.mayKeep = keep
}

// keeps reports whether detector i may keep an event it is shown.
func (e *Engine) keeps(i int) bool { return e.mayKeep == nil || e.mayKeep[i] }

// keepsAny reports whether any of the detectors dets may keep an event.
func (e *Engine) keepsAny(dets []int) bool {
	for _, i := range dets {
		if e.keeps(i) {
			return true
		}
	}
	return false
}
