package rules

import (
	"slices"
	"strings"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules/celenv"
)

// What rules read of events. The compiler finds, in every expression of a
// rule, the event paths it can read, so that a stream's decoder builds
// only those (event.Projection) and steps over the rest of each line. An
// expression that reads an event whole — passes it to a function such as
// keywords, indexes it with a computed name, iterates over its keys,
// returns it — makes the streams it reads decode in full: the analysis
// errs on the side of reading more. The CEL view of a projected event
// falls back to the whole event for anything it was not decoded with
// (celenv), so a path missed here costs speed, never an answer.

// readSet is what an expression can read of events: paths from an event's
// root, and whether it reads some event whole.
type readSet struct {
	whole bool
	paths [][]string
}

func (rs *readSet) add(p []string) {
	if len(p) == 0 {
		rs.whole = true
		return
	}
	rs.paths = append(rs.paths, slices.Clone(p))
}

func (rs *readSet) merge(o readSet) {
	rs.whole = rs.whole || o.whole
	rs.paths = append(rs.paths, o.paths...)
}

// absKind is what an expression denotes, as far as reading events goes.
type absKind uint8

const (
	// absOther: anything else (the zero value).
	_ absKind = iota
	// absEvent: the value at path inside an event (the event itself when
	// path is empty).
	absEvent
	// absEvents: a list of events (a looping step).
	absEvents
)

type abs struct {
	kind absKind
	path []string
}

// reader walks a checked expression, binding variables to what they
// denote; env changes only inside comprehensions, which shadow.
type reader struct {
	rs  readSet
	env map[string]abs
}

// readsOf is what e can read in the scope s: event (unless the scope
// hides it), the scope's event variables and its event lists.
func readsOf(e ast.Expr, s scope) readSet {
	r := &reader{env: map[string]abs{}}
	if !s.noEvent {
		r.env["event"] = abs{kind: absEvent}
	}
	for _, n := range s.events {
		r.env[n] = abs{kind: absEvent}
	}
	for _, n := range s.lists {
		r.env[n] = abs{kind: absEvents}
	}
	r.use(r.walk(e))
	return r.rs
}

// use records that a value is read as a whole: the value at its path, or,
// for a list of events, every event whole.
func (r *reader) use(a abs) {
	switch a.kind {
	case absEvent:
		r.rs.add(a.path)
	case absEvents:
		r.rs.whole = true
	}
}

func (r *reader) walkUse(e ast.Expr) { r.use(r.walk(e)) }

func below(a abs, name string) abs {
	return abs{kind: absEvent, path: append(a.path[:len(a.path):len(a.path)], name)}
}

func literalString(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

func (r *reader) walk(e ast.Expr) abs {
	switch e.Kind() {
	case ast.IdentKind:
		return r.env[e.AsIdent()]
	case ast.SelectKind:
		s := e.AsSelect()
		op := r.walk(s.Operand())
		if op.kind != absEvent {
			r.use(op)
			return abs{}
		}
		if s.IsTestOnly() {
			// has(x.f) reads whether f is there: f's path tells.
			r.use(below(op, s.FieldName()))
			return abs{}
		}
		return below(op, s.FieldName())
	case ast.CallKind:
		return r.call(e.AsCall())
	case ast.ComprehensionKind:
		r.comprehension(e.AsComprehension())
		return abs{}
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			r.walkUse(el)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			r.walkUse(en.AsMapEntry().Key())
			r.walkUse(en.AsMapEntry().Value())
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			r.walkUse(f.AsStructField().Value())
		}
	}
	return abs{}
}

func (r *reader) call(c ast.CallExpr) abs {
	args := c.Args()
	switch fn := c.FunctionName(); {
	case (fn == operators.Index || fn == operators.OptIndex) && len(args) == 2:
		t := r.walk(args[0])
		switch t.kind {
		case absEvent:
			if name, ok := literalString(args[1]); ok {
				return below(t, name)
			}
			// A computed member name may be any member.
			r.use(t)
		case absEvents:
			r.walkUse(args[1])
			return abs{kind: absEvent}
		}
		r.walkUse(args[1])
		return abs{}
	case fn == operators.OptSelect && len(args) == 2:
		t := r.walk(args[0])
		if name, ok := literalString(args[1]); ok && t.kind == absEvent {
			return below(t, name)
		}
		r.use(t)
		r.walkUse(args[1])
		return abs{}
	case fn == "size" && (len(args) == 1 && !c.IsMemberFunction() || len(args) == 0 && c.IsMemberFunction()):
		// The number of events a step took reads none of them.
		x := c.Target()
		if !c.IsMemberFunction() {
			x = args[0]
		}
		if t := r.walk(x); t.kind != absEvents {
			r.use(t)
		}
		return abs{}
	}
	if c.IsMemberFunction() {
		r.walkUse(c.Target())
	} else if _, ok := celenv.EventArgReads(c.FunctionName(), true); ok {
		for _, a := range args {
			t := r.walk(a)
			paths, ok := celenv.EventArgReads(c.FunctionName(), len(t.path) == 0)
			if t.kind != absEvent || !ok {
				r.use(t)
				continue
			}
			for _, p := range paths {
				r.use(abs{kind: absEvent, path: append(t.path[:len(t.path):len(t.path)], p...)})
			}
		}
		return abs{}
	}
	for _, a := range args {
		r.walkUse(a)
	}
	return abs{}
}

// comprehension walks a macro's loop (all, exists, map, filter, …): over a
// list of events its variable is an event; over an event or an object it
// ranges over member names, which reads the value whole.
func (r *reader) comprehension(c ast.ComprehensionExpr) {
	rng := r.walk(c.IterRange())
	var elem abs
	if rng.kind == absEvents {
		elem = abs{kind: absEvent}
	} else {
		r.use(rng)
	}
	saved := map[string]abs{}
	bind := func(name string, a abs) {
		if _, ok := saved[name]; !ok {
			saved[name] = r.env[name]
		}
		r.env[name] = a
	}
	if c.HasIterVar2() {
		bind(c.IterVar(), abs{})
		bind(c.IterVar2(), elem)
	} else {
		bind(c.IterVar(), elem)
	}
	r.walkUse(c.AccuInit())
	bind(c.AccuVar(), abs{})
	r.walkUse(c.LoopCondition())
	r.walkUse(c.LoopStep())
	r.walkUse(c.Result())
	for name, a := range saved {
		r.env[name] = a
	}
}

// Reads is what a rule's expressions can read of the events of its
// streams (and of its online model's feedback stream).
type Reads struct {
	// Whole is set when an expression reads an event whole.
	Whole bool
	// Paths are the paths read, sorted, without a path below another.
	Paths [][]string
}

// String renders the reads as dotted paths, or "the whole event".
func (rd Reads) String() string {
	if rd.Whole {
		return "the whole event"
	}
	out := make([]string, len(rd.Paths))
	for i, p := range rd.Paths {
		out[i] = strings.Join(p, ".")
	}
	return strings.Join(out, ", ")
}

func (rs readSet) reads() Reads {
	if rs.whole {
		return Reads{Whole: true}
	}
	paths := slices.Clone(rs.paths)
	slices.SortFunc(paths, slices.Compare)
	var out [][]string
	for _, p := range paths {
		// Sorted, a path comes right after the paths above it.
		if n := len(out); n > 0 && isPrefix(out[n-1], p) {
			continue
		}
		out = append(out, p)
	}
	return Reads{Paths: out}
}

func isPrefix(pre, p []string) bool { return len(pre) <= len(p) && slices.Equal(pre, p[:len(pre)]) }

// programs lists every expression of the rule that sees its events.
func (r *Rule) programs() []*Program {
	var ps []*Program
	for _, ref := range r.programRefs() {
		ps = append(ps, *ref)
	}
	return ps
}

// programRefs points at the rule's fields holding the expressions that
// see its events, those set, so that Compact can move them. A program
// held in two places (a key of every stream and of its own) is listed at
// each.
func (r *Rule) programRefs() []**Program {
	var refs []**Program
	add := func(ps ...**Program) {
		for _, p := range ps {
			if *p != nil {
				refs = append(refs, p)
			}
		}
	}
	each := func(ps []*Program) {
		for i := range ps {
			add(&ps[i])
		}
	}
	each(r.keys)
	for _, k := range r.byStream {
		each(k)
	}
	add(&r.Match)
	if q := r.Sequence; q != nil {
		add(&q.Until)
		for i := range q.Steps {
			add(&q.Steps[i].Where, &q.Steps[i].Until)
		}
	}
	if a := r.Aggregate; a != nil {
		add(&a.Where)
		for i := range a.Measures {
			add(&a.Measures[i].Arg)
		}
	}
	if j := r.Join; j != nil {
		for i := range j.Sides {
			add(&j.Sides[i].Where)
			each(j.Sides[i].Keys)
		}
	}
	for i := range r.Fields {
		add(&r.Fields[i].Prog)
	}
	for i := range r.Remember {
		add(&r.Remember[i].Key, &r.Remember[i].Value)
	}
	if r.Score != nil {
		for i := range r.Score.Features {
			add(&r.Score.Features[i].Prog)
		}
	}
	for i := range r.Baselines {
		b := &r.Baselines[i]
		add(&b.Value, &b.Where)
		each(b.By)
	}
	return refs
}

// computeReads gathers what the rule's expressions read.
func (r *Rule) computeReads() {
	var rs readSet
	for _, p := range r.programs() {
		rs.merge(p.reads)
	}
	r.reads = rs.reads()
}

// StepReads returns, for each step of the sequence, what the steps'
// conditions can read of the events that step took: a condition that
// compares a login with the one before reads the earlier login's place
// and nothing else of it, so the matcher thaws no more of a held event to
// test it (nfa.Options.Reads). A step no condition names reads nothing.
func (q *Sequence) StepReads() []Reads { return q.stepReads }

func (q *Sequence) readsOfSteps() []Reads {
	out := make([]Reads, len(q.Steps))
	for i, st := range q.Steps {
		name := st.Spec.Name
		if st.Spec.Not || name == "" {
			continue
		}
		// A looping step is a list of events to its conditions.
		sc := scope{noEvent: true, events: []string{name}}
		if st.Spec.Max != 1 || st.Spec.Min > 1 {
			sc = scope{noEvent: true, lists: []string{name}}
		}
		var rs readSet
		for _, s := range q.Steps {
			for _, p := range []*Program{s.Where, s.Until} {
				if p != nil && p.ast != nil {
					rs.merge(readsOf(p.ast.NativeRep().Expr(), sc))
				}
			}
		}
		out[i] = rs.reads()
	}
	return out
}

// Reads returns what the rule's expressions can read of its events.
func (r *Rule) Reads() Reads { return r.reads }

// feedbackReads is what an online model reads of its feedback stream.
func (m *OnlineModel) feedbackReads() readSet {
	var rs readSet
	for _, p := range []*Program{m.AlertID, m.Label} {
		if p != nil {
			rs.merge(p.reads)
		}
	}
	return rs
}

// Projection is what the rules rs (with their online models) can read of
// stream's events, for the stream's decoder (event.Decoder.Project): nil
// when one of them reads events whole, so the stream decodes in full.
// A stream no rule reads projects to nothing: its events keep only their
// time and id until something asks for the whole event.
func Projection(rs []*Rule, stream string) *event.Projection {
	var all readSet
	for _, r := range rs {
		if r.ReadsStream(stream) {
			all.whole = all.whole || r.reads.Whole
			all.paths = append(all.paths, r.reads.Paths...)
		}
		if r.Score != nil && r.Score.Online != nil && r.Score.Online.FeedbackStream == stream {
			all.merge(r.Score.Online.feedbackReads())
		}
	}
	rd := all.reads()
	if rd.Whole {
		return nil
	}
	return event.NewProjection(rd.Paths)
}
