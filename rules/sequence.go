package rules

import (
	"slices"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/nfa"
	"github.com/cep-project/cep/rules/celenv"
)

// Pattern builds the NFA pattern of a sequence rule. Its guards evaluate
// the rule's CEL programs with act, which the caller owns: one pattern per
// goroutine, since programs are shared but activations are not.
func (q *Sequence) Pattern(act *SeqActivation) (nfa.Pattern, error) {
	p := nfa.Pattern{
		Within:       q.Spec.Within,
		EmitTimeouts: q.Spec.EmitTimeouts,
	}
	if q.Spec.WithinType == "previous_and_current" {
		p.WithinType = nfa.PreviousAndCurrent
	}
	skip, err := nfa.ParseSkipStrategy(q.Spec.AfterMatch)
	if err != nil {
		return p, err
	}
	p.AfterMatch = skip
	if q.Until != nil {
		until := q.Until
		p.Until = func(ev *event.Event) bool { return until.Test(EventActivation{Ev: ev}) }
	}
	for _, st := range q.Steps {
		s := st.Spec
		times, err := nfa.ParseQuantifier(s.Times)
		if err != nil {
			return p, err
		}
		step := nfa.Step{
			Name:   s.Name,
			Stream: s.Stream,
			Times:  times,
			Greedy: s.Greedy,
			Not:    s.Not,
			For:    s.For,
		}
		switch s.Contiguity {
		case "strict":
			step.Contiguity = nfa.Strict
		case "any":
			step.Contiguity = nfa.Any
		}
		switch s.Loop {
		case "consecutive":
			step.Loop = nfa.Consecutive
		case "combinations":
			step.Loop = nfa.Combinations
		}
		if st.Where != nil {
			step.Where = act.guard(st.Where)
		}
		if pre := st.pre; pre != nil {
			step.Pre = func(ev *event.Event) bool {
				v, decided := pre.DecideEvent(ev)
				return v || !decided
			}
		}
		if k := st.Where.stepKey(); k != nil && st.Until == nil {
			step.Key = &nfa.StepKey{
				Event: func(dst []byte, ev *event.Event) ([]byte, nfa.KeyVerdict) {
					dst, found := k.Event(dst, ev)
					switch found {
					case celenv.KeyAll:
						return dst, nfa.HasKey
					case celenv.KeyFirst:
						return dst, nfa.FirstPart
					case celenv.KeyFalse:
						return dst, nfa.MatchesNone
					}
					return dst, nfa.NoKey
				},
				View: func(dst []byte, v nfa.View) ([]byte, int, bool) {
					act.ev, act.view, act.match = nil, v, nil
					return k.Step(dst, act)
				},
			}
		}
		if st.Until != nil {
			step.Until = act.guard(st.Until)
		}
		// Guards that read only the event let the matcher decide once for
		// every partial match waiting at the step: a burst on one key then
		// costs one guard call per event, not one per partial match.
		step.ViewFree = (st.Where == nil || st.Where.eventOnly) && (st.Until == nil || st.Until.eventOnly)
		p.Steps = append(p.Steps, step)
	}
	return p, nil
}

// Decide returns the verdicts on ev of the steps the matcher may take as
// decided ahead (nfa.Decided): those whose guards read only the event and
// whose where is absent or answered by its native form without an error.
// The others are left to the matcher, which asks only the guards a
// partial match needs, so that an error is reported as a run without
// deciding ahead reports it. It may run on any goroutine.
//
// A step whose where reads earlier steps gets a verdict only when the
// event refutes it for every partial match: its stream is another, or a
// test of the event alone that its where needs fails (its refuter).
// The matcher ignores that verdict; nfa.NFA.Untaken reads it.
func (q *Sequence) Decide(ev *event.Event) nfa.Decided {
	var d nfa.Decided
	for i, st := range q.Steps[:min(len(q.Steps), nfa.MaxDecided)] {
		if s := st.Spec.Stream; s != "" && s != ev.Stream {
			d = d.With(i, false)
			continue
		}
		if (st.Where != nil && !st.Where.eventOnly) || (st.Until != nil && !st.Until.eventOnly) {
			if st.Until == nil && st.Where != nil {
				if r := st.Where.refuter(); r != nil && r.Test(ev) == celenv.False {
					d = d.With(i, false)
				}
			}
			continue
		}
		if st.Where == nil {
			d = d.With(i, true)
			continue
		}
		if ok, decided := st.Where.DecideEvent(ev); decided {
			d = d.With(i, ok)
		}
	}
	return d
}

// SeqActivation binds the variables of a sequence's expressions: event, and
// each earlier step by name, read lazily from the partial match, so an
// expression that looks only at event pays nothing for the steps.
type SeqActivation struct {
	// Anomaly, when set, is the event's baseline z-scores (anomaly).
	Anomaly *celenv.Scores
	ev      *event.Event
	view    nfa.View
	match   []nfa.Evidence
	// thawed[i], once read, is the match's event i thawed: a match's
	// events come held (nfa.Evidence), and an alert's fields read them
	// only if they name their steps.
	thawed []*event.Event
	// bufs[i] holds thawed[i]: what an alert keeps of a thawed event is
	// copied out of it (celenv.Native) or points into its line, so the
	// next match thaws into the same memory.
	bufs  []event.ThawBuf
	steps []seqStep
	lists []celenv.EventList
}

type seqStep struct {
	name  string
	index int
	loops bool
}

// NewSeqActivation returns an activation for the steps of q.
func (q *Sequence) NewSeqActivation() *SeqActivation {
	a := &SeqActivation{}
	idx := 0
	for _, st := range q.Steps {
		s := st.Spec
		if !s.Not {
			a.steps = append(a.steps, seqStep{name: s.Name, index: idx, loops: s.Max != 1 || s.Min > 1})
		}
		idx++
	}
	a.lists = make([]celenv.EventList, len(a.steps))
	return a
}

// guard turns a condition into an NFA guard that evaluates it with a.
func (a *SeqActivation) guard(p *Program) nfa.Guard {
	// An expression that names nothing but event can take the fast path.
	usesSteps := !p.eventOnly
	return func(ev *event.Event, v nfa.View) bool {
		if !usesSteps {
			return p.Test(EventActivation{Ev: ev})
		}
		a.ev, a.view, a.match = ev, v, nil
		return p.TestSteps(a, ev)
	}
}

// StepEvent implements celenv.Steps: the one event an earlier step of the
// partial match took, or nil (a looping step, or one that took none).
func (a *SeqActivation) StepEvent(name string) *event.Event {
	i := a.stepIndex(name)
	if a.match != nil || i < 0 || a.steps[i].loops {
		return nil
	}
	if evs := a.view.Step(a.steps[i].index); len(evs) == 1 {
		return evs[0]
	}
	return nil
}

// stepIndex is the index in steps of the step named, or -1.
func (a *SeqActivation) stepIndex(name string) int {
	return slices.IndexFunc(a.steps, func(s seqStep) bool { return s.name == name })
}

// BindMatch prepares the activation for the alert fields of a completed
// match; event is its last event.
func (a *SeqActivation) BindMatch(evs []nfa.Evidence) {
	a.view, a.match = nfa.View{}, evs
	a.ev = nil
	if cap(a.thawed) < len(evs) {
		a.thawed = make([]*event.Event, len(evs))
		a.bufs = make([]event.ThawBuf, len(evs))
	} else {
		a.thawed = a.thawed[:len(evs)]
		clear(a.thawed)
	}
}

// matched returns the bound match's event i, thawed the first time.
func (a *SeqActivation) matched(i int) *event.Event {
	if a.thawed[i] == nil {
		a.thawed[i] = a.match[i].Event.ThawInto(&a.bufs[i], nil)
	}
	return a.thawed[i]
}

// ResolveName implements interpreter.Activation.
func (a *SeqActivation) ResolveName(name string) (any, bool) {
	if name == "event" {
		ev := a.ev
		if len(a.match) > 0 {
			// A match's last event.
			ev = a.matched(len(a.match) - 1)
		}
		if ev == nil {
			return types.NullValue, true
		}
		return celenv.EventValue(ev), true
	}
	if name == "anomaly" && a.Anomaly != nil {
		return a.Anomaly, true
	}
	if i := a.stepIndex(name); i >= 0 {
		s := &a.steps[i]
		var evs []*event.Event
		if a.match != nil {
			l := &a.lists[i]
			l.Events = l.Events[:0]
			for j, e := range a.match {
				if e.Name == name {
					l.Events = append(l.Events, a.matched(j))
				}
			}
			evs = l.Events
		} else {
			evs = a.view.Step(s.index)
		}
		if s.loops {
			a.lists[i].Events = evs
			return &a.lists[i], true
		}
		if len(evs) == 0 {
			return types.NullValue, true
		}
		return celenv.EventValue(evs[0]), true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *SeqActivation) Parent() interpreter.Activation { return nil }
