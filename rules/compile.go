package rules

import (
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/nfa"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/rulefmt"
)

// Kind is the kind of detector a rule compiles into.
type Kind int

// The detector kinds.
const (
	KindMatch Kind = iota + 1
	KindSequence
	KindAggregate
	KindJoin
)

// String names the kind as rule files do.
func (k Kind) String() string {
	switch k {
	case KindMatch:
		return "match"
	case KindSequence:
		return "sequence"
	case KindAggregate:
		return "aggregate"
	case KindJoin:
		return "join"
	}
	return "unknown"
}

// Rule is a compiled rule: its metadata and the CEL programs of its
// detector, alert fields and key.
type Rule struct {
	// The fields an alert of the rule reads come first, so that they
	// share a few cache lines (TouchAlerting): with thousands of rules,
	// the rule of an alert is rarely in the cache.
	ID       string
	Title    string
	Severity string
	Status   string
	Tags     []string
	// Version is a content hash of the rule file.
	Version string
	// Revision names where the file came from beside its content, such as
	// the Git commit it was read at; "" for a plain directory.
	Revision string
	// KeyNames are the key expressions as written, naming the key's parts.
	KeyNames []string
	keys     []*Program
	byStream map[string][]*Program
	Fields   []Field
	Score    *Score
	// Remember are the facts the rule records when it produces an alert.
	Remember []Remember
	Spec     *rulefmt.Spec

	Description string
	Owner       string
	// Streams the rule reads; empty means every stream.
	Streams []string
	File    string
	// StateVersion is a hash of the parts of the rule file that give its
	// state its meaning (see StateKeepingKeys): two versions of a rule
	// with the same StateVersion can share state.
	StateVersion string
	Kind         Kind
	// Late overrides the engine's late-event policy, or is "".
	Late string

	Match     *Program
	Sequence  *Sequence
	Aggregate *Aggregate
	Join      *Join

	// env is the CEL environment the rule was compiled in, whose facts
	// store remember writes to.
	env *celenv.Env
	// prefetch are the fact lookups of its conditions that depend on the
	// event alone (FactPrefetch).
	prefetch  []prefetchCall
	Baselines []Baseline
	Dedup     time.Duration
	Group     *rulefmt.GroupSpec
	Throttle  *rulefmt.ThrottleSpec

	// Constraints are equality conditions every alerting event must meet,
	// extracted from Match (or an aggregate's where) for routing.
	Constraints []Constraint

	// reads is what the rule's expressions can read of its events.
	reads Reads

	Tests  []rulefmt.TestSpec
	Health *Health
}

// Field is a compiled alert field.
type Field struct {
	Name string
	Prog *Program
}

// Sequence is a compiled sequence detector.
type Sequence struct {
	Spec  *rulefmt.SequenceSpec
	Steps []Step
	Until *Program
	// stepReads is what the steps' conditions can read of the events
	// each step took (see StepReads).
	stepReads []Reads
}

// Step is a compiled sequence step.
type Step struct {
	Spec  *rulefmt.StepSpec
	Where *Program
	Until *Program
	// pre is what Where asks of the event alone (see eventPrefix).
	pre *Program
}

// Aggregate is a compiled windowed aggregation.
type Aggregate struct {
	Spec     *rulefmt.AggregateSpec
	Where    *Program
	Measures []Measure
	Having   *Program
	// HavingFast is the native form of Having when it only compares
	// measures with numbers; it takes the measures in order.
	HavingFast func(vals []float64) bool
}

// Measure is one compiled measure.
type Measure struct {
	Name   string
	Func   string
	Approx bool
	Arg    *Program
}

// Join is a compiled join.
type Join struct {
	Spec  *rulefmt.JoinSpec
	Sides []Side
}

// Side is one compiled join side.
type Side struct {
	Name   string
	Stream string
	Where  *Program
	Keys   []*Program
}

// ReadsStream reports whether the rule reads events of stream s.
func (r *Rule) ReadsStream(s string) bool {
	return len(r.Streams) == 0 || slices.Contains(r.Streams, s)
}

// Shadow reports whether the rule's alerts are recorded but not forwarded.
func (r *Rule) Shadow() bool { return r.Status == "experimental" }

// KeyStatus tells how computing a key went.
type KeyStatus uint8

// The outcomes of KeyOf.
const (
	// KeyOK: every part was computed.
	KeyOK KeyStatus = iota
	// KeyMissing: a key that is a field of the event (event.card_id) is
	// absent, or a computed key reads a field the event lacks, so the
	// event is not about any entity of the rule. Its part is nil.
	KeyMissing
	// KeyError: a key expression failed; the error is counted against the
	// rule.
	KeyError
)

// KeyOf evaluates the rule's key for ev into vals (reusing its storage).
func (r *Rule) KeyOf(ev *event.Event, act *Activation, vals []any) ([]any, KeyStatus) {
	progs := r.keys
	if r.byStream != nil {
		progs = r.byStream[ev.Stream]
	}
	return evalKey(progs, ev, act, vals)
}

// TouchAlerting reads what building an alert of the rule reads first: the
// fields at the top of Rule, its key and alert field programs, its id's
// bytes and whether it emits. With thousands of rules, the rule of an
// alert is a cold one; a caller about to raise the alerts of many rules
// touches them all first, so that their cache misses overlap instead of
// coming one after another. The result means nothing; it keeps the reads
// from being compiled away.
func (r *Rule) TouchAlerting() uintptr {
	n := uintptr(len(r.Title)) + uintptr(len(r.Tags)) + uintptr(len(r.Version)) +
		uintptr(len(r.KeyNames)) + uintptr(len(r.Fields)) + uintptr(len(r.Remember))
	if len(r.ID) > 0 {
		n += uintptr(r.ID[0])
	}
	for _, p := range r.keys {
		n += uintptr(len(p.path))
	}
	for i := range r.Fields {
		if p := r.Fields[i].Prog; p != nil {
			n += uintptr(len(p.path))
		}
	}
	if r.Spec != nil && r.Spec.Alert.Emit != nil {
		n++
	}
	return n
}

// KeyPrograms returns the rule's key expressions for an event of stream.
// Detectors encode a key whose expressions are all plain fields (Path)
// straight from the event's values, without evaluating or boxing them.
func (r *Rule) KeyPrograms(stream string) []*Program {
	if r.byStream != nil {
		return r.byStream[stream]
	}
	return r.keys
}

// EvalKeyOf evaluates key expressions compiled like a rule's by, such as a
// baseline's entity.
func EvalKeyOf(progs []*Program, ev *event.Event, act *Activation, vals []any) ([]any, KeyStatus) {
	return evalKey(progs, ev, act, vals)
}

// SideKeyOf evaluates the key of join side i for ev.
func (r *Rule) SideKeyOf(i int, ev *event.Event, act *Activation, vals []any) ([]any, KeyStatus) {
	return evalKey(r.Join.Sides[i].Keys, ev, act, vals)
}

func evalKey(progs []*Program, ev *event.Event, act *Activation, vals []any) ([]any, KeyStatus) {
	vals = vals[:0]
	status := KeyOK
	if len(progs) == 0 {
		return vals, status
	}
	bound := false
	for _, p := range progs {
		if p.path != nil {
			v, ok := ev.Path(p.path...)
			if !ok {
				vals = append(vals, nil)
				status = KeyMissing
				continue
			}
			vals = append(vals, celenv.NativeValue(v))
			continue
		}
		if !bound {
			act.Reset()
			act.BindEvent(ev)
			bound = true
		}
		v, _, err := p.celEval(act)
		if err != nil {
			if celenv.IsMissingField(err) {
				vals = append(vals, nil)
				status = KeyMissing
				continue
			}
			p.health.fail(p.Expr.Pos, err)
			return vals, KeyError
		}
		vals = append(vals, celenv.Native(v))
	}
	return vals, status
}

// compileRule compiles a parsed rule; errors go to el.
func (c *Compiler) compileRule(el *yamlx.Errors, s *rulefmt.Spec, version string) *Rule {
	// A rule and its Health live as long as each other: one object for
	// the collector to mark, not two (with 10,000 rules held, each
	// cycle marks every object they hold).
	b := new(struct {
		r Rule
		h Health
	})
	r := &b.r
	*r = Rule{
		ID: s.ID, Title: s.Title, Description: s.Description, Severity: s.Severity,
		Status: s.Status, Owner: s.Owner, Tags: s.Tags, Streams: s.Streams,
		File: s.Pos.File, Version: version, Late: s.Late, Spec: s, Tests: s.Tests,
		Dedup: s.Alert.Dedup, Throttle: s.Alert.Throttle,
	}
	b.h.Rule, b.h.logger = s.ID, c.opts.Logger
	r.Health = &b.h
	sem := c.semantics(s)
	// A rule with baselines sees their z-scores as anomaly.NAME.
	base := scope{sem: sem}
	if len(s.Baselines) > 0 {
		if s.Aggregate != nil || s.Join != nil {
			p := s.Baselines[0].Pos
			el.Add(p.Line, p.Col, "baselines work with match and sequence rules")
		}
		c.compileBaselines(el, s, r)
		base = base.with("anomaly", cel.MapType(cel.StringType, cel.DoubleType))
	}
	// Keys.
	if len(s.ByStream) > 0 {
		r.byStream = map[string][]*Program{}
		for i, sk := range s.ByStream {
			if len(s.Streams) > 0 && !slices.Contains(s.Streams, sk.Stream) {
				el.Add(sk.Exprs[0].Pos.Line, sk.Exprs[0].Pos.Col, "by names stream %q, which the rule does not read (streams: %s)", sk.Stream, strings.Join(s.Streams, ", "))
			}
			for _, e := range sk.Exprs {
				r.byStream[sk.Stream] = append(r.byStream[sk.Stream], c.compileKey(el, e, r.Health))
				if i == 0 {
					r.KeyNames = append(r.KeyNames, e.Text)
				}
			}
		}
		if len(s.Streams) == 0 {
			for _, sk := range s.ByStream {
				r.Streams = append(r.Streams, sk.Stream)
			}
		} else {
			for _, st := range s.Streams {
				if _, ok := r.byStream[st]; !ok {
					el.Add(s.Pos.Line, s.Pos.Col, "by names key expressions per stream, but not for stream %q", st)
				}
			}
		}
	}
	for _, e := range s.By {
		r.keys = append(r.keys, c.compileKey(el, e, r.Health))
		r.KeyNames = append(r.KeyNames, e.Text)
	}
	// The detector and the scope of alert fields.
	var fields scope
	switch {
	case s.Match != nil:
		r.Kind = KindMatch
		menv, err := c.env(base)
		if err != nil {
			el.Add(s.KindPos.Line, s.KindPos.Col, "%v", err)
			return nil
		}
		r.Match = c.compile(el, menv, *s.Match, cel.BoolType, "match", r.Health, base)
		if r.Match != nil {
			r.Constraints = indexConstraints(r.Match.AST())
		}
		fields = base
	case s.Sequence != nil:
		r.Kind = KindSequence
		r.Sequence, fields = c.compileSequence(el, s, r.Health, base)
	case s.Aggregate != nil:
		r.Kind = KindAggregate
		r.Aggregate, fields = c.compileAggregate(el, s, r.Health, sem)
		if r.Aggregate != nil && r.Aggregate.Where != nil {
			r.Constraints = indexConstraints(r.Aggregate.Where.AST())
		}
	case s.Join != nil:
		r.Kind = KindJoin
		r.Join, fields = c.compileJoin(el, s, r.Health, sem)
		// The key's parts are named by the first side's expressions; a
		// rule without streams reads those of its sides.
		if len(r.KeyNames) == 0 && len(r.Join.Spec.Sides) > 0 {
			sd := r.Join.Spec.Sides[0]
			by := sd.By
			if len(by) == 0 {
				by = s.By
			}
			for _, e := range by {
				r.KeyNames = append(r.KeyNames, e.Text)
			}
		}
		if len(r.Streams) == 0 {
			for _, sd := range r.Join.Spec.Sides {
				if sd.Stream == "" {
					r.Streams = nil
					break
				}
				if !slices.Contains(r.Streams, sd.Stream) {
					r.Streams = append(r.Streams, sd.Stream)
				}
			}
		}
	default:
		return nil
	}
	fenv, err := c.env(fields)
	if err != nil {
		el.Add(s.Pos.Line, s.Pos.Col, "building the scope of alert fields: %v", err)
		return nil
	}
	for _, f := range s.Alert.Fields {
		r.Fields = append(r.Fields, Field{Name: f.Name, Prog: c.compile(el, fenv, f.Expr, nil, "alert field "+f.Name, r.Health, fields)})
	}
	if s.Score != nil {
		c.compileScore(el, s.Score, r, fields)
	}
	r.env = c.cel
	c.compileRemember(el, s, r, fields)
	r.prefetch = c.prefetchCalls(r)
	if g := s.Alert.Group; g != nil {
		checkGroupBy(el, g, s)
		r.Group = g
	}
	r.computeReads()
	return r
}

func (c *Compiler) compileSequence(el *yamlx.Errors, s *rulefmt.Spec, h *Health, base scope) (*Sequence, scope) {
	q := &Sequence{Spec: s.Sequence}
	sc := base
	if q.Spec.Until != nil {
		q.Until = c.compile(el, c.base, *q.Spec.Until, cel.BoolType, "sequence until", h, sc)
	}
	for i := range q.Spec.Steps {
		st := &q.Spec.Steps[i]
		step := Step{Spec: st}
		loops := st.Max != 1 || st.Min > 1
		where := sc
		if loops && !st.Not && st.Name != "" {
			// A looping step's condition may look at the events it has
			// already taken, as Flink's IterativeCondition can.
			where = sc.withEvents(st.Name)
		}
		env, err := c.env(where)
		if err != nil {
			el.Add(st.Pos.Line, st.Pos.Col, "step %s: %v", st.Name, err)
			continue
		}
		if st.Where != nil {
			step.Where = c.compile(el, env, *st.Where, cel.BoolType, "where of step "+st.Name, h, where)
			if step.Where != nil && !step.Where.eventOnly {
				step.pre = c.eventPrefix(env, *st.Where, h, where)
			}
		}
		if st.Until != nil {
			step.Until = c.compile(el, env, *st.Until, cel.BoolType, "until of step "+st.Name, h, where)
		}
		if st.Stream != "" && len(s.Streams) > 0 && !slices.Contains(s.Streams, st.Stream) {
			el.Add(st.Pos.Line, st.Pos.Col, "step %s reads stream %q, which the rule does not read (streams: %s)", st.Name, st.Stream, strings.Join(s.Streams, ", "))
		}
		q.Steps = append(q.Steps, step)
		if st.Not || st.Name == "" {
			continue
		}
		switch {
		case loops:
			sc = sc.withEvents(st.Name)
		case st.Min == 0:
			// An optional step that did not happen is null.
			sc = sc.withEvent(st.Name, cel.DynType)
		default:
			sc = sc.withEvent(st.Name, celenv.EventType)
		}
	}
	q.stepReads = q.readsOfSteps()
	if len(el.List) == 0 {
		// The NFA has its own rules (a pattern cannot start with a not
		// step, a trailing not step needs a window, …): check them now,
		// so a rule that cannot run does not load.
		p, err := q.Pattern(q.NewSeqActivation())
		if err == nil {
			_, err = nfa.Compile(p)
		}
		if err != nil {
			pos := q.Spec.Pos
			for _, line := range strings.Split(err.Error(), "\n") {
				el.Add(pos.Line, pos.Col, "sequence: %s", strings.TrimPrefix(line, "nfa: "))
			}
		}
	}
	return q, sc
}

func (sc scope) with(name string, t *cel.Type) scope {
	return scope{
		vars:    append(slices.Clone(sc.vars), cel.Variable(name, t)),
		names:   append(slices.Clone(sc.names), name),
		noEvent: sc.noEvent,
		sem:     sc.sem,
		events:  sc.events,
		lists:   sc.lists,
		doubles: sc.doubles,
	}
}

// withEvent adds a variable that holds an event (or null): a step or a
// join side. What expressions read of it is what they read of events.
func (sc scope) withEvent(name string, t *cel.Type) scope {
	out := sc.with(name, t)
	out.events = append(slices.Clone(sc.events), name)
	return out
}

// withEvents adds a variable that holds a list of events: a looping step.
func (sc scope) withEvents(name string) scope {
	out := sc.with(name, cel.ListType(celenv.EventType))
	out.lists = append(slices.Clone(sc.lists), name)
	return out
}

// semantics are the rule's choices for conditions over events, with the
// compiler's default for missing fields.
func (c *Compiler) semantics(s *rulefmt.Spec) celenv.Semantics {
	mode := s.MissingFields
	if mode == "" {
		mode = c.opts.MissingFields
	}
	return celenv.Semantics{FalseIfMissing: mode == MissingFalse, LenientNumbers: s.LenientNumbers}
}

func (c *Compiler) compileAggregate(el *yamlx.Errors, s *rulefmt.Spec, h *Health, sem celenv.Semantics) (*Aggregate, scope) {
	a := &Aggregate{Spec: s.Aggregate}
	ev := scope{sem: sem}
	if a.Spec.Where != nil {
		a.Where = c.compile(el, c.base, *a.Spec.Where, cel.BoolType, "aggregate where", h, ev)
	}
	measures := scope{noEvent: true}
	fields := scope{}
	names := map[string]bool{}
	for _, m := range a.Spec.Measures {
		cm := Measure{Name: m.Name, Func: m.Func, Approx: m.Approx}
		if m.Arg != nil {
			want := numberType
			if m.Func == "count_distinct" {
				want = nil
			}
			cm.Arg = c.compile(el, c.base, *m.Arg, want, m.Func+" argument", h, ev)
		}
		t := cel.DoubleType
		if m.Func == "count" || m.Func == "count_distinct" {
			t = cel.IntType
		} else {
			measures.doubles = append(measures.doubles, m.Name)
		}
		measures = measures.with(m.Name, t)
		fields = fields.with(m.Name, t)
		names[m.Name] = true
		a.Measures = append(a.Measures, cm)
	}
	if top := a.Spec.Top; top != nil && top.By != "" && !names[top.By] {
		el.Add(a.Spec.Pos.Line, a.Spec.Pos.Col, "top.by names %q, which is not a measure", top.By)
	}
	if a.Spec.Having != nil {
		env, err := c.env(measures)
		if err == nil {
			a.Having = c.compile(el, env, *a.Spec.Having, cel.BoolType, "having", h, measures)
			if a.Having != nil {
				a.HavingFast = celenv.FastHaving(a.Having.AST().Expr(), measures.names)
			}
		}
	}
	// Alert fields see the measures, the window and the window's latest
	// event.
	fields = fields.with("window", cel.MapType(cel.StringType, cel.TimestampType))
	return a, fields
}

func (c *Compiler) compileJoin(el *yamlx.Errors, s *rulefmt.Spec, h *Health, sem celenv.Semantics) (*Join, scope) {
	j := &Join{Spec: s.Join}
	ev := scope{sem: sem}
	fields := scope{}
	for _, sd := range j.Spec.Sides {
		side := Side{Name: sd.Name, Stream: sd.Stream}
		if sd.Where != nil {
			side.Where = c.compile(el, c.base, *sd.Where, cel.BoolType, "where of side "+sd.Name, h, ev)
		}
		by := sd.By
		if len(by) == 0 {
			by = s.By
		}
		if len(by) == 0 {
			el.Add(sd.Pos.Line, sd.Pos.Col, "join side %s needs a key: give it by, or give the rule by", sd.Name)
		}
		for _, e := range by {
			side.Keys = append(side.Keys, c.compileKey(el, e, h))
		}
		if sd.Stream != "" && len(s.Streams) > 0 && !slices.Contains(s.Streams, sd.Stream) {
			el.Add(sd.Pos.Line, sd.Pos.Col, "side %s reads stream %q, which the rule does not read", sd.Name, sd.Stream)
		}
		// An outer join's missing side is null.
		fields = fields.withEvent(sd.Name, cel.DynType)
		j.Sides = append(j.Sides, side)
	}
	n := -1
	for _, sd := range j.Sides {
		if n >= 0 && len(sd.Keys) != n {
			el.Add(j.Spec.Pos.Line, j.Spec.Pos.Col, "every join side needs the same number of key expressions")
			break
		}
		n = len(sd.Keys)
	}
	return j, fields
}

// checkGroupBy validates what alert.group folds by, naming the place of a
// wrong entry.
func checkGroupBy(el *yamlx.Errors, g *rulefmt.GroupSpec, s *rulefmt.Spec) {
	names := map[string]bool{}
	for _, f := range s.Alert.Fields {
		names[f.Name] = true
	}
	for i, b := range g.By {
		p := g.Pos
		if i < len(g.ByPos) {
			p = g.ByPos[i]
		}
		switch {
		case b == "key", b == "severity", b == "title":
		case strings.HasPrefix(b, "key.") && len(b) > 4:
		case strings.HasPrefix(b, "fields.") && len(b) > 7:
			if f := strings.TrimPrefix(b, "fields."); !names[f] {
				el.Add(p.Line, p.Col, "alert.group.by names fields.%s, but alert.fields has no %q", f, f)
			}
		default:
			el.Add(p.Line, p.Col, "alert.group.by: %q is not key, key.<expr>, fields.<name>, severity or title", b)
		}
	}
}

// compileKey compiles a key expression and notes when it is a plain field
// of the event, so that an event without that field is recognised as not
// concerning the rule, rather than as an error.
func (c *Compiler) compileKey(el *yamlx.Errors, e rulefmt.Expr, h *Health) *Program {
	return c.compile(el, c.base, e, nil, "a key expression", h, scope{})
}
