package nfa

// The compiled automaton follows the construction of Flink's NFACompiler, so
// that every construct Flink has behaves as in Flink: a pattern becomes a
// graph of states whose transitions TAKE the event (and move on), IGNORE it
// (and stay or move), or PROCEED without consuming it (an epsilon move whose
// condition is still tested against the event). Several states may belong to
// one step: a step taking n..m events has one state per occurrence, an
// optional step has a twin that only waits, and greedy or until steps copy
// the state that follows them.

type stateKind uint8

const (
	kindNormal stateKind = iota
	// kindFinal completes a match when reached.
	kindFinal
	// kindStop discards the whole partial match when reached: a negative
	// step saw its event.
	kindStop
	// kindPending waits for an absence window to close; it completes a match
	// when it expires.
	kindPending
)

type action uint8

const (
	actTake action = iota
	actIgnore
	actProceed
)

func (a action) String() string {
	switch a {
	case actTake:
		return "take"
	case actIgnore:
		return "ignore"
	}
	return "proceed"
}

// condTrue is the index of the condition that always holds.
const condTrue int32 = -1

type condOp uint8

const (
	// opStep is the step's acceptance test: its stream restriction and
	// Where guard.
	opStep condOp = iota
	// opUntil is the step's Until guard.
	opUntil
	opNot
	opAnd
)

type cond struct {
	op   condOp
	step int16
	a, b int32
}

type transition struct {
	act  action
	to   int32
	cond int32
}

type state struct {
	trans []transition
	// window is the previous_and_current window (or a trailing absence's
	// For) of partial matches waiting in this state, in nanoseconds; 0 is
	// none.
	window int64
	// step is the pattern step the state belongs to; -1 for the final state.
	step int16
	kind stateKind
}

// builder holds what the construction shares between its recursive parts.
type builder struct {
	steps  []stepInfo
	states []state
	conds  []cond
	// stops caches the stop state of each negative step.
	stops map[int]int32
	// originals maps a state to the unmodified copy made before a greedy
	// step restricted it, so an until event can still reach the original.
	originals map[int32]int32
	// cur and following are the step being converted and the one after it
	// (-1 at the end), as the construction walks the pattern backwards.
	cur, following int
	// prevWindow is the previous_and_current window given to waiting states.
	prevWindow int64
	// firstWindow is the first_and_last window.
	firstWindow int64
}

func (b *builder) newState(step int, kind stateKind) int32 {
	b.states = append(b.states, state{step: int16(step), kind: kind})
	return int32(len(b.states) - 1)
}

// newWaiting creates a state in which partial matches wait for the current
// step, subject to the previous_and_current window.
func (b *builder) newWaiting(kind stateKind) int32 {
	s := b.newState(b.cur, kind)
	b.states[s].window = b.prevWindow
	return s
}

func (b *builder) add(from int32, act action, to int32, c int32) {
	b.states[from].trans = append(b.states[from].trans, transition{act: act, to: to, cond: c})
}

func (b *builder) cond(c cond) int32 {
	b.conds = append(b.conds, c)
	return int32(len(b.conds) - 1)
}

func (b *builder) not(c int32) int32 {
	if c == condTrue {
		return b.cond(cond{op: opNot, a: condTrue})
	}
	return b.cond(cond{op: opNot, a: c})
}

func (b *builder) and(x, y int32) int32 {
	if x == condTrue {
		return y
	}
	if y == condTrue {
		return x
	}
	return b.cond(cond{op: opAnd, a: x, b: y})
}

func (b *builder) take(step int) int32 { return b.cond(cond{op: opStep, step: int16(step)}) }

func (b *builder) until(step int) int32 {
	if b.steps[step].until == nil {
		return condTrue
	}
	return b.cond(cond{op: opUntil, step: int16(step)})
}

// consuming strategies, named as in Flink.
type consuming uint8

const (
	strict consuming = iota
	skipTillNext
	skipTillAny
	notNext
	notFollow
)

func (b *builder) strategy(i int) consuming {
	s := b.steps[i]
	switch {
	case s.not && s.contiguity == Strict:
		return notNext
	case s.not:
		return notFollow
	case i == 0:
		// Flink's begin() uses skip-till-next; it only shows on the inner
		// states of a first step that takes several events.
		return skipTillNext
	}
	switch s.contiguity {
	case Strict:
		return strict
	case Any:
		return skipTillAny
	}
	return skipTillNext
}

func (b *builder) innerStrategy(i int) consuming {
	switch b.steps[i].loop {
	case Consecutive:
		return strict
	case Combinations:
		return skipTillAny
	}
	return skipTillNext
}

// ignoreCond is the condition under which a waiting state lets an event pass
// by; false when none may (strict contiguity).
func (b *builder) ignoreCond(s consuming, step int) (int32, bool) {
	switch s {
	case skipTillNext:
		return b.not(b.take(step)), true
	case skipTillAny:
		return condTrue, true
	}
	return 0, false
}

// withUntil folds the step's until condition into a take or ignore
// condition: an event that satisfies until is neither taken nor ignored by
// the loop.
func (b *builder) withUntil(c int32, ok bool, isTake bool) (int32, bool) {
	u := b.until(b.cur)
	if u == condTrue {
		return c, ok
	}
	if ok {
		return b.and(b.not(u), c), true
	}
	if isTake {
		return b.not(u), true
	}
	return c, ok
}

type notCond struct {
	cond int32
	step int
}

// currentNots lists the negative steps that still constrain the current
// step: a notFollowedBy right before it, or before optional steps that may
// be skipped to reach it.
func (b *builder) currentNots() []notCond {
	var out []notCond
	for j := b.cur; j-1 >= 0; {
		prev := j - 1
		if !b.steps[prev].q.Optional && b.strategy(prev) != notFollow {
			break
		}
		j = prev
		if b.strategy(j) == notFollow {
			out = append(out, notCond{cond: b.take(j), step: j})
		}
	}
	return out
}

func (b *builder) stopState(c int32, step int) int32 {
	if s, ok := b.stops[step]; ok {
		return s
	}
	s := b.newState(step, kindStop)
	b.add(s, actTake, s, c)
	b.stops[step] = s
	return s
}

func (b *builder) addStops(s int32) {
	for _, n := range b.currentNots() {
		b.add(s, actProceed, b.stopState(n.cond, n.step), n.cond)
	}
}

func (b *builder) addStopToLooping(s int32) {
	if b.following >= 0 && b.strategy(b.following) == notFollow {
		c := b.take(b.following)
		b.add(s, actProceed, b.stopState(c, b.following), c)
	}
}

func (b *builder) copyState(s int32) int32 {
	src := b.states[s]
	c := b.newState(int(src.step), src.kind)
	b.states[c].window = src.window
	for _, t := range src.trans {
		to := t.to
		if to == s {
			to = c
		}
		b.add(c, t.act, to, t.cond)
	}
	return c
}

// copyWithoutTransitiveNots returns a copy of sink without the stop
// transitions of negative steps that an optional current step shields: once
// the optional step took an event, a notFollowedBy before it no longer
// applies after it.
func (b *builder) copyWithoutTransitiveNots(sink int32) int32 {
	nots := b.currentNots()
	if len(nots) == 0 || !b.steps[b.cur].q.Optional {
		return sink
	}
	src := b.states[sink]
	c := b.newState(int(src.step), src.kind)
	b.states[c].window = src.window
	for _, t := range src.trans {
		if t.act != actProceed {
			to := t.to
			if to == sink {
				to = c
			}
			b.add(c, t.act, to, t.cond)
			continue
		}
		target := t.to
		if b.states[target].kind == kindStop {
			drop := false
			for _, n := range nots {
				if int(b.states[target].step) == n.step {
					drop = true
				}
			}
			if drop {
				continue
			}
		} else {
			target = b.copyWithoutTransitiveNots(target)
		}
		b.add(c, t.act, target, t.cond)
	}
	return c
}

// restrictGreedy makes every transition of s also require that the event
// does not fit the greedy step, so the step keeps taking while it can.
func (b *builder) restrictGreedy(s int32, takeCond int32) {
	n := b.not(takeCond)
	for i := range b.states[s].trans {
		t := &b.states[s].trans[i]
		t.cond = b.and(t.cond, n)
	}
}

func (b *builder) singleton(sink, proceedTo int32, takeCond int32, ignore int32, hasIgnore, optional bool) int32 {
	s := b.newWaiting(kindNormal)
	target := b.copyWithoutTransitiveNots(sink)
	b.add(s, actTake, target, takeCond)
	if optional {
		u := b.until(b.cur)
		if b.steps[b.cur].greedy && u != condTrue {
			orig, ok := b.originals[proceedTo]
			if !ok {
				orig = proceedTo
			}
			b.add(s, actProceed, orig, u)
			b.add(s, actProceed, proceedTo, b.not(u))
		} else {
			b.add(s, actProceed, proceedTo, condTrue)
		}
	}
	if hasIgnore {
		ig := s
		if optional {
			// The twin waits after skipping events, without the proceed
			// move, so each skip over the optional step happens once.
			ig = b.newWaiting(kindNormal)
			b.add(ig, actTake, target, takeCond)
			b.add(ig, actIgnore, ig, ignore)
			b.addStops(ig)
		}
		b.add(s, actIgnore, ig, ignore)
	}
	return s
}

func (b *builder) times(sink, proceedTo int32, from, to int) int32 {
	step := b.steps[b.cur]
	innerIgnore, hasInner := b.ignoreCondOf(b.innerStrategy(b.cur))
	innerIgnore, hasInner = b.withUntil(innerIgnore, hasInner, false)
	takeCond, _ := b.withUntil(b.take(b.cur), true, true)
	if step.greedy && from != to {
		if step.until != nil {
			b.originals[sink] = b.copyState(sink)
		}
		b.restrictGreedy(sink, takeCond)
	}
	last := sink
	for i := from; i < to; i++ {
		last = b.singleton(last, proceedTo, takeCond, innerIgnore, hasInner, true)
		b.addStopToLooping(last)
	}
	for i := 0; i < from-1; i++ {
		last = b.singleton(last, -1, takeCond, innerIgnore, hasInner, false)
		b.addStopToLooping(last)
	}
	ig, hasIg := b.ignoreCondOf(b.strategy(b.cur))
	return b.singleton(last, proceedTo, takeCond, ig, hasIg, step.q.Optional)
}

func (b *builder) ignoreCondOf(s consuming) (int32, bool) { return b.ignoreCond(s, b.cur) }

func (b *builder) looping(sink int32) int32 {
	step := b.steps[b.cur]
	ignore, hasIgnore := b.ignoreCondOf(b.innerStrategy(b.cur))
	ignore, hasIgnore = b.withUntil(ignore, hasIgnore, false)
	takeCond, _ := b.withUntil(b.take(b.cur), true, true)
	s := b.newWaiting(kindNormal)
	if step.greedy {
		u := b.until(b.cur)
		if u != condTrue {
			cp := b.copyState(sink)
			b.add(s, actProceed, cp, u)
			b.originals[sink] = cp
			b.add(s, actProceed, sink, b.not(u))
		} else {
			b.add(s, actProceed, sink, condTrue)
		}
		b.restrictGreedy(sink, b.take(b.cur))
	} else {
		b.add(s, actProceed, sink, condTrue)
	}
	b.add(s, actTake, s, takeCond)
	b.addStopToLooping(s)
	if hasIgnore {
		ig := b.newWaiting(kindNormal)
		b.add(ig, actTake, s, takeCond)
		b.add(ig, actIgnore, ig, ignore)
		b.add(s, actIgnore, ig, ignore)
		b.addStopToLooping(ig)
	}
	return s
}

func (b *builder) convert(sink int32) int32 {
	q := b.steps[b.cur].q
	var last int32
	switch {
	case q.Max == Unbounded:
		loop := b.looping(b.copyWithoutTransitiveNots(sink))
		last = b.times(loop, sink, q.Min, q.Min)
	case q.Max > 1:
		last = b.times(sink, sink, q.Min, q.Max)
	default:
		ig, hasIg := b.ignoreCondOf(b.strategy(b.cur))
		last = b.singleton(sink, sink, b.take(b.cur), ig, hasIg, q.Optional)
	}
	b.addStops(last)
	return last
}

// build constructs the graph backwards from the final state and returns the
// start state.
func (b *builder) build() (start, final int32) {
	final = b.newState(-1, kindFinal)
	sink := final
	b.following = -1
	for b.cur = len(b.steps) - 1; b.cur > 0; b.cur-- {
		switch b.strategy(b.cur) {
		case notFollow:
			// A notFollowedBy between two steps becomes stop transitions on
			// the states of the steps around it; only a trailing one needs
			// a state of its own, which waits for the window to close.
			if b.states[sink].kind == kindFinal {
				s := b.newWaiting(kindPending)
				if d := b.steps[b.cur].forWindow; d > 0 {
					b.states[s].window = d
				}
				c := b.take(b.cur)
				b.add(s, actProceed, b.stopState(c, b.cur), c)
				b.add(s, actIgnore, s, b.not(c))
				sink = s
			}
		case notNext:
			s := b.newWaiting(kindNormal)
			c := b.take(b.cur)
			stop := b.stopState(c, b.cur)
			if b.states[sink].kind == kindFinal {
				// A trailing notNext completes on the next event that is not
				// the negated one; it moves to the final state by ignoring
				// that event rather than proceeding over it.
				b.add(s, actIgnore, sink, b.not(c))
			} else {
				b.add(s, actProceed, sink, b.not(c))
			}
			b.add(s, actProceed, stop, c)
			sink = s
		default:
			sink = b.convert(sink)
		}
		b.following = b.cur
	}
	b.cur = 0
	start = b.convert(sink)
	return start, final
}
