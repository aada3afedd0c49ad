package nfa

import (
	"time"

	"github.com/cep-project/cep/event"
)

// Step builders for the tables: st("b", is("b"), oneOrMore, strict).

type stepOpt func(*Step)

func st(name string, g Guard, opts ...stepOpt) Step {
	s := Step{Name: name, Where: g}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func times(q Quantifier) stepOpt { return func(s *Step) { s.Times = q } }

var (
	oneOrMore    = times(AtLeast(1))
	zeroOrMore   = times(ZeroOrMore())
	optional     = times(OptionalOnce())
	nextC        = func(s *Step) { s.Contiguity = Strict }
	anyC         = func(s *Step) { s.Contiguity = Any }
	consecutive  = func(s *Step) { s.Loop = Consecutive }
	combinations = func(s *Step) { s.Loop = Combinations }
	greedy       = func(s *Step) { s.Greedy = true }
	not          = func(s *Step) { s.Not = true }
)

func until(g Guard) stepOpt          { return func(s *Step) { s.Until = g } }
func forD(d time.Duration) stepOpt   { return func(s *Step) { s.For = d } }
func stream(name string) stepOpt     { return func(s *Step) { s.Stream = name } }
func optionalTimes(n, m int) stepOpt { return times(Quantifier{Min: n, Max: m, Optional: true}) }

func seq(steps ...Step) Pattern { return Pattern{Steps: steps, AfterMatch: SkipStrategy{Kind: NoSkip}} }

func (p Pattern) skip(s SkipStrategy) Pattern { p.AfterMatch = s; return p }

func (p Pattern) within(d time.Duration) Pattern { p.Within = d; return p }

func (p Pattern) prevWithin(d time.Duration) Pattern {
	p.Within, p.WithinType = d, PreviousAndCurrent
	return p
}

func (p Pattern) timeouts() Pattern { p.EmitTimeouts = true; return p }

func (p Pattern) untilEvent(name string) Pattern {
	p.Until = func(ev *event.Event) bool { return nameOf(ev) == name }
	return p
}

var (
	skipPastLast = SkipStrategy{Kind: SkipPastLast}
	skipToNext   = SkipStrategy{Kind: SkipToNext}
)

func skipToFirst(step string) SkipStrategy { return SkipStrategy{Kind: SkipToFirst, Step: step} }
func skipToLast(step string) SkipStrategy  { return SkipStrategy{Kind: SkipToLast, Step: step} }
