package nfa

import "github.com/cep-project/cep/event"

// View is a guard's read access to the events a partial match has taken so
// far, by step. It is valid only during the guard call that received it, and
// the slices it returns, and the events in them, must not be kept or
// modified: the matcher reuses them, the events' memory too (a thawed
// event's, event.ThawBuf). A guard that does not look at its View costs
// nothing.
type View struct{ c *cursor }

// cursor materialises a partial match's evidence on first use, thawing
// the events the matcher holds (see Options.Hold). The matcher
// keeps one and points it at each partial match before testing guards.
type cursor struct {
	nfa   *NFA
	node  *node
	built bool
	evs   []*event.Event
	lo    []int32
	hi    []int32
	reads []*event.Projection // Options.Reads
	// bufs hold the events thawed for the partial match the cursor is
	// on, one for each of its events: the view's events live until the
	// cursor moves (see View).
	bufs []event.ThawBuf
	// live and liveHeld, when set, are the event being processed and
	// what the nodes hold of it: build reads the event itself, decoded
	// already, instead of thawing its held copy.
	live, liveHeld *event.Event
}

func newCursor(n *NFA, reads []*event.Projection) *cursor {
	return &cursor{nfa: n, lo: make([]int32, len(n.steps)), hi: make([]int32, len(n.steps)), reads: reads}
}

func (c *cursor) reset(n *node) {
	c.node = n
	c.built = false
}

func (c *cursor) build() {
	c.built = true
	for i := range c.lo {
		c.lo[i], c.hi[i] = 0, 0
	}
	k := 0
	for x := c.node; x != nil; x = x.prev {
		k++
	}
	if cap(c.evs) < k {
		c.evs = make([]*event.Event, k, k+k/2)
	}
	c.evs = c.evs[:k]
	if len(c.bufs) < k {
		c.bufs = make([]event.ThawBuf, k+k/2)
	}
	// Steps are taken in pattern order, so each step's events form one run
	// in match order.
	i := k
	for x := c.node; x != nil; x = x.prev {
		i--
		s := x.step
		var p *event.Projection
		if int(s) < len(c.reads) {
			p = c.reads[s]
		}
		if x.ev == c.liveHeld && c.live != nil {
			c.evs[i] = c.live
		} else {
			c.evs[i] = x.ev.ThawInto(&c.bufs[i], p)
		}
		if c.hi[s] == 0 {
			c.hi[s] = int32(i + 1)
		}
		c.lo[s] = int32(i)
	}
}

// Len returns the number of events taken so far.
func (v View) Len() int {
	if v.c == nil {
		return 0
	}
	if !v.c.built {
		v.c.build()
	}
	return len(v.c.evs)
}

// Step returns the events taken by step i, in order; nil when it took none.
func (v View) Step(i int) []*event.Event {
	if v.c == nil || i < 0 || i >= len(v.c.lo) {
		return nil
	}
	if !v.c.built {
		v.c.build()
	}
	lo, hi := v.c.lo[i], v.c.hi[i]
	if hi == 0 {
		return nil
	}
	return v.c.evs[lo:hi:hi]
}

// Named returns the events taken by the named step; nil when it took none or
// no step has that name.
func (v View) Named(name string) []*event.Event {
	if v.c == nil {
		return nil
	}
	i, ok := v.c.nfa.byName[name]
	if !ok {
		return nil
	}
	return v.Step(i)
}
