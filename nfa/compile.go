package nfa

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"github.com/cep-project/cep/event"
)

// maxStates bounds the compiled graph so state indices fit the partial
// match's 16-bit field.
const maxStates = math.MaxUint16

type stepInfo struct {
	name       string
	where      Guard
	pre        func(*event.Event) bool
	key        *StepKey
	stream     string
	until      Guard
	q          Quantifier
	contiguity Contiguity
	loop       LoopContiguity
	greedy     bool
	not        bool
	viewFree   bool
	forWindow  int64
}

// NFA is a compiled pattern. It is immutable and safe to share between
// matchers.
type NFA struct {
	steps  []stepInfo
	byName map[string]int
	states []state
	conds  []cond
	start  int32
	final  int32
	// within is the first_and_last window in nanoseconds, 0 when none.
	within       int64
	skip         SkipStrategy
	skipStep     int
	until        func(*event.Event) bool
	emitTimeouts bool
	// stateWindows is set when some state has its own window (a
	// previous_and_current window or an absence's For), so a partial
	// match's deadline depends on its state and last event.
	stateWindows bool
	// parkable marks the states whose partial matches can be parked (see
	// park.go); canPark is set when any is.
	parkable []bool
	canPark  bool
	// parkKey is, for each parkable state, the step whose Key its
	// partial matches are parked by, or -1 (see park.go).
	parkKey []int16
	// keyedStates are the states whose parkKey is a step.
	keyedStates []uint16
	// viewSteps are the steps whose guards read the partial match, not
	// only the event: their verdicts are decided again for each partial
	// match, the others once an event.
	viewSteps []int32
	// freeMask has both bits of each view-free step in a Decided.
	freeMask Decided
	// blind is set when no step notices an event it does not take (see
	// Untaken).
	blind       bool
	fingerprint uint64
	pattern     string
}

// Compile validates p and compiles it. The error lists every problem found,
// each naming its step.
func Compile(p Pattern) (*NFA, error) {
	if err := validate(p); err != nil {
		return nil, err
	}
	n := &NFA{
		byName:       make(map[string]int, len(p.Steps)),
		skip:         p.AfterMatch,
		skipStep:     -1,
		until:        p.Until,
		emitTimeouts: p.EmitTimeouts,
	}
	for i, s := range p.Steps {
		n.steps = append(n.steps, stepInfo{
			name: s.Name, where: s.Where, pre: s.Pre, key: s.Key, stream: s.Stream, until: s.Until,
			q: s.Times.norm(), contiguity: s.Contiguity, loop: s.Loop,
			greedy: s.Greedy, not: s.Not, viewFree: s.ViewFree, forWindow: int64(s.For),
		})
		n.byName[s.Name] = i
		if !s.ViewFree && (s.Where != nil || s.Until != nil) {
			n.viewSteps = append(n.viewSteps, int32(i))
		} else if i < MaxDecided {
			n.freeMask |= 3 << (2 * i)
		}
	}
	if k := p.AfterMatch.Kind; k == SkipToFirst || k == SkipToLast {
		n.skipStep = n.byName[p.AfterMatch.Step]
	}
	b := &builder{steps: n.steps, stops: map[int]int32{}, originals: map[int32]int32{}}
	if p.WithinType == PreviousAndCurrent {
		b.prevWindow = int64(p.Within)
	} else {
		b.firstWindow = int64(p.Within)
		n.within = int64(p.Within)
	}
	n.start, n.final = b.build()
	if len(b.states) > maxStates {
		return nil, fmt.Errorf("pattern compiles to %d states, more than the %d supported; lower the counts in times", len(b.states), maxStates)
	}
	n.states, n.conds = b.states, b.conds
	for _, s := range n.states {
		if s.window > 0 {
			n.stateWindows = true
		}
	}
	n.computeParkable()
	n.blind = p.Until == nil && len(p.Steps) <= MaxDecided
	for i, s := range p.Steps {
		if s.Until != nil || s.Loop == Consecutive || i > 0 && s.Contiguity == Strict {
			n.blind = false
		}
	}
	n.pattern = describe(p)
	n.fingerprint = n.hash() | 1
	return n, nil
}

func validate(p Pattern) error {
	var errs []error
	bad := func(i int, format string, args ...any) {
		name := fmt.Sprintf("step %d", i+1)
		if p.Steps[i].Name != "" {
			name = fmt.Sprintf("step %q", p.Steps[i].Name)
		}
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if len(p.Steps) == 0 {
		return errors.New("pattern has no steps")
	}
	if len(p.Steps) > math.MaxInt16 {
		return fmt.Errorf("pattern has %d steps, more than %d", len(p.Steps), math.MaxInt16)
	}
	if p.Within < 0 {
		errs = append(errs, fmt.Errorf("within %v is negative", p.Within))
	}
	switch p.WithinType {
	case FirstAndLast:
	case PreviousAndCurrent:
		if p.Within == 0 {
			errs = append(errs, errors.New("within_type previous_and_current needs a within"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown within_type %v", p.WithinType))
	}
	seen := map[string]int{}
	last := len(p.Steps) - 1
	for i, s := range p.Steps {
		if s.Name == "" {
			bad(i, "name is empty")
		} else if j, dup := seen[s.Name]; dup {
			bad(i, "name is already used by step %d", j+1)
		} else {
			seen[s.Name] = i
		}
		if err := s.Times.validate(); err != nil {
			bad(i, "%v", err)
			continue
		}
		q := s.Times.norm()
		if s.Contiguity > Any {
			bad(i, "unknown contiguity %v", s.Contiguity)
		}
		if s.Loop > Combinations {
			bad(i, "unknown loop contiguity %v", s.Loop)
		}
		if s.For < 0 {
			bad(i, "for %v is negative", s.For)
		}
		if s.Not {
			validateNot(p, i, q, bad)
			continue
		}
		if s.For != 0 {
			bad(i, "for applies only to a trailing not step (absence)")
		}
		if s.Greedy && !q.multi() {
			bad(i, "greedy applies only to a step that takes more than one event (times is %s)", q)
		}
		if s.Until != nil && q.Max != Unbounded {
			bad(i, "until applies only to a looping step without an upper bound (times n+ or 0+), not %s", q)
		}
		if s.Loop != LoopRelaxed && !q.multi() {
			bad(i, "loop %s applies only to a step that takes more than one event (times is %s)", s.Loop, q)
		}
		if q.Optional && i > 0 && p.Steps[i-1].Greedy {
			bad(i, "an optional step cannot follow the greedy step %q", p.Steps[i-1].Name)
		}
	}
	if p.Steps[last].Not && p.Steps[last].Contiguity == Relaxed && last > 0 {
		s := p.Steps[last]
		if p.Within == 0 && s.For == 0 {
			bad(last, "a trailing not step detects absence and needs the pattern's within or its own for")
		}
		if p.WithinType == FirstAndLast && p.Within > 0 && s.For > p.Within {
			bad(last, "for %v exceeds the pattern's within %v", s.For, p.Within)
		}
		if p.Steps[last-1].Not {
			bad(last, "a trailing absence step cannot follow another not step (%q); fold both conditions into one step", p.Steps[last-1].Name)
		}
	}
	switch k := p.AfterMatch.Kind; k {
	case SkipPastLast, NoSkip, SkipToNext:
	case SkipToFirst, SkipToLast:
		j, ok := seen[p.AfterMatch.Step]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("after_match %s: no step is named %q", p.AfterMatch, p.AfterMatch.Step))
		case p.Steps[j].Not:
			errs = append(errs, fmt.Errorf("after_match %s: step %q is a not step and never holds events", p.AfterMatch, p.AfterMatch.Step))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown after_match strategy %v", p.AfterMatch))
	}
	return errors.Join(errs...)
}

func validateNot(p Pattern, i int, q Quantifier, bad func(int, string, ...any)) {
	s := p.Steps[i]
	last := i == len(p.Steps)-1
	if i == 0 {
		bad(i, "a pattern cannot start with a not step")
	}
	if q.Optional {
		bad(i, "a not step cannot be optional")
	}
	if q.multi() {
		bad(i, "a not step cannot take more than one event (times is %s)", q)
	}
	if s.Greedy {
		bad(i, "a not step cannot be greedy")
	}
	if s.Until != nil {
		bad(i, "a not step cannot have until")
	}
	if s.Loop != LoopRelaxed {
		bad(i, "a not step has no loop contiguity")
	}
	if s.Contiguity == Any {
		bad(i, "a not step takes strict (not next) or relaxed (not followed by) contiguity, not any")
	}
	if s.For != 0 && (!last || s.Contiguity != Relaxed) {
		bad(i, "for applies only to a trailing not step with relaxed contiguity (absence)")
	}
	if i > 0 && p.Steps[i-1].Times.norm().Optional {
		bad(i, "a not step cannot follow the optional step %q; write one pattern with and one without it", p.Steps[i-1].Name)
	}
}

// Steps returns the step names in pattern order.
func (n *NFA) Steps() []string {
	out := make([]string, len(n.steps))
	for i, s := range n.steps {
		out[i] = s.name
	}
	return out
}

// StepIndex returns the index of the named step, or -1.
func (n *NFA) StepIndex(name string) int {
	if i, ok := n.byName[name]; ok {
		return i
	}
	return -1
}

// String describes the pattern the NFA was compiled from.
func (n *NFA) String() string { return n.pattern }

// Untaken reports whether an event whose verdicts d refute every step
// (Decided.Refuted) would change nothing of its key's state, once the
// matcher's time has reached the event (Matcher.Advance): no step takes
// it, and no step notices an event it does not take, which a strict
// contiguity (next, not next), a consecutive loop and an until do. Its
// consumer may then leave it out, and the lookup of its key's state:
// most events of a stream reach no step of a sequence over it (the
// payments of an account takeover that are not transfers).
func (n *NFA) Untaken(d Decided) bool { return n.blind && d.Refuted(len(n.steps)) }

// Starts reports whether d says that the first step takes the event, so
// that the event starts a partial match, which holds it.
func (n *NFA) Starts(d Decided) bool {
	return len(n.steps) > 0 && !n.steps[0].not && n.freeMask&3 != 0 && d&3 == Decided(boolMemo(true))
}

func describe(p Pattern) string {
	var b strings.Builder
	for i, s := range p.Steps {
		if i > 0 {
			b.WriteString(" ")
			switch {
			case s.Not && s.Contiguity == Strict:
				b.WriteString("!next ")
			case s.Not:
				b.WriteString("!followed-by ")
			case s.Contiguity == Strict:
				b.WriteString("next ")
			case s.Contiguity == Any:
				b.WriteString("followed-by-any ")
			}
		}
		b.WriteString(s.Name)
		if q := s.Times.norm(); q != Once() {
			b.WriteString("{" + q.String() + "}")
		}
	}
	if p.Within > 0 {
		fmt.Fprintf(&b, " within %v", p.Within)
		if p.WithinType == PreviousAndCurrent {
			b.WriteString(" (previous_and_current)")
		}
	}
	b.WriteString(" " + p.AfterMatch.String())
	return b.String()
}

// hash fingerprints the compiled graph, so state saved by one compilation is
// not resumed by an incompatible one.
func (n *NFA) hash() uint64 {
	h := fnv.New64a()
	var buf [8]byte
	put := func(v int64) {
		binary.LittleEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	put(int64(len(n.states)))
	for _, s := range n.states {
		put(int64(s.kind)<<32 | int64(uint16(s.step)))
		put(s.window)
		for _, t := range s.trans {
			put(int64(t.act)<<48 | int64(t.to)<<16 ^ int64(t.cond))
		}
	}
	for _, c := range n.conds {
		put(int64(c.op)<<56 | int64(c.step)<<40 ^ int64(c.a)<<20 ^ int64(c.b))
	}
	put(n.within)
	put(int64(n.skip.Kind))
	h.Write([]byte(n.skip.Step))
	for _, s := range n.steps {
		h.Write([]byte(s.name))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func durationText(ns int64) string { return time.Duration(ns).String() }
