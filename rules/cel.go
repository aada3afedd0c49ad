package rules

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/reflist"
	"github.com/cep-project/cep/rules/rulefmt"
)

// DefaultCostLimit bounds the estimated cost of one expression. Typical
// conditions estimate in the tens; a regular expression over a field
// estimates in the thousands; nested comprehensions over step lists reach
// the limit.
const DefaultCostLimit = 1_000_000

// DefaultMaxFieldSize is the size, in characters or elements, assumed for
// strings and lists read from events when estimating cost. Decoded lines are
// bounded, so the estimate is an upper bound.
const DefaultMaxFieldSize = 64 * 1024

// Options configure a Compiler.
type Options struct {
	// Lists are the reference lists in_list reads.
	Lists *reflist.Set
	// CostLimit bounds the estimated cost of every expression at load and
	// its actual cost at evaluation; 0 means DefaultCostLimit.
	CostLimit uint64
	// MaxFieldSize is the assumed size of event strings and lists for cost
	// estimation; 0 means DefaultMaxFieldSize.
	MaxFieldSize uint64
	// Models are the PMML models score: blocks may name.
	Models *Models
	// Logger receives rate-limited evaluation errors; nil discards them.
	Logger *slog.Logger
	// Facts is the store seen, fact and context read and remember writes
	// to; nil gives the compiler a memory store of its own.
	Facts facts.Store
	// MissingFields is the default of rules that do not set
	// missing_fields: "error" (also when empty) or "false_if_missing".
	MissingFields string
}

// Missing-field semantics (the rule key missing_fields).
const (
	MissingError = "error"
	// MissingFalse makes a test of a missing field false and its negation
	// true, as in Sigma and EQL.
	MissingFalse = "false_if_missing"
)

// Compiler turns rule files into rules. It holds one CEL environment that
// every rule extends; environments and programs are safe to share.
type Compiler struct {
	opts Options
	// rebuilding serialises building again the cel-go programs Compact
	// left out (see Program.celProgram), so that each is built once.
	rebuilding sync.Mutex
	cel        *celenv.Env
	base       *cel.Env
	bare       *cel.Env // without event, for having
	// online are the online models LoadOnlineModels registered.
	online map[string]*OnlineModel
}

// NewCompiler builds the CEL environment.
func NewCompiler(opts Options) (*Compiler, error) {
	if opts.CostLimit == 0 {
		opts.CostLimit = DefaultCostLimit
	}
	if opts.MaxFieldSize == 0 {
		opts.MaxFieldSize = DefaultMaxFieldSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	switch opts.MissingFields {
	case "", MissingError, MissingFalse:
	default:
		return nil, fmt.Errorf("missing fields: want %s or %s, got %q", MissingError, MissingFalse, opts.MissingFields)
	}
	env, err := celenv.New(opts.Lists)
	if err != nil {
		return nil, err
	}
	if opts.Facts != nil {
		env.SetFacts(opts.Facts)
	}
	return &Compiler{opts: opts, cel: env, base: env.Event, bare: env.Bare}, nil
}

// SetLists replaces the reference lists; rules compiled earlier see the new
// lists at their next evaluation.
func (c *Compiler) SetLists(l *reflist.Set) { c.cel.SetLists(l) }

// Lists returns the current reference lists.
func (c *Compiler) Lists() *reflist.Set { return c.cel.Lists() }

// Program is a compiled CEL expression of a rule.
type Program struct {
	// path is set when the expression is a plain event field (event.a.b).
	// It and the native forms come first: a test, a plain field's read
	// and a touch read nothing else of the program, and with thousands
	// of rules its object is a cache miss a line.
	path []string
	// steps is what few programs have, of a sequence's expressions that
	// name earlier steps; nil for the others.
	steps *stepForms
	// fast is the native form of a condition in the subset celenv covers;
	// chain is that of a chain of && or ||, held here rather than behind
	// fast's closure (see celenv.FastChain). At most one is set.
	fast  celenv.Pred
	chain *celenv.Chain
	// rare is what few conditions have, nil for the others: a field of
	// its own each cost the many-rule shape a size class.
	rare *rareForms
	Expr rulefmt.Expr
	// Cost is the estimated cost range of one evaluation.
	Cost checker.CostEstimate
	// cel is the *celProgram, read atomically: set when compiled, and,
	// once Compact has left it out, built again from rb when first
	// needed. Not a sync.Once and the program beside it in an object of
	// their own: that was four objects of a compacted filter rule's 24
	// for the collector to mark on every cycle.
	cel unsafe.Pointer
	// rb builds the cel-go program again; Compact shares one among the
	// programs that build alike.
	rb     *rebuild
	ast    *cel.Ast
	health *Health
	// reads are the event paths the expression can read.
	reads readSet
	// callsFacts is set when the expression calls seen, fact or context.
	callsFacts bool
	// eventOnly is set when it names no variable but event.
	eventOnly bool
}

// stepForms are the native forms of an expression that names a
// sequence's earlier steps: path, when it is a plain field of one
// (first.a.b), the step's name, then the path; test, when it is a
// condition celenv.FastStepPredicate covers; key, when it is a condition
// that compares the event with earlier steps for equality
// (celenv.StepKey), which the matcher parks partial matches by.
type stepForms struct {
	path []string
	test celenv.StepPred
	key  *celenv.StepKey
}

// Vars are the variables one evaluation reads: *Activation, or
// EventActivation for an event alone. Detectors name this type, not
// cel-go's, so that the engine stays free of CEL's value types: what it
// gets back from a program is a Go value (Value, Test).
type Vars = interpreter.Activation

// Value evaluates the expression into a Go value: nil, bool, int64,
// uint64, float64, string, time.Time, time.Duration, []any or
// map[string]any. An error is counted against the rule and logged at a
// rate limit before it is returned.
func (p *Program) Value(act Vars) (any, error) {
	if ev, path, ok := p.plainEvent(act); ok {
		if v, ok := celenv.NativeScalarAt(ev, path); ok {
			return v, nil
		}
	}
	v, err := p.evalCEL(act)
	if err != nil {
		return nil, err
	}
	return celenv.Native(v), nil
}

// Eval evaluates the expression. An error is counted against the rule and
// logged at a rate limit before it is returned.
func (p *Program) Eval(act interpreter.Activation) (ref.Val, error) {
	if ev, path, ok := p.plainEvent(act); ok {
		if v, ok := celenv.ScalarAt(ev, path); ok {
			return v, nil
		}
	}
	return p.evalCEL(act)
}

// evalCEL is Eval by cel-go alone.
func (p *Program) evalCEL(act interpreter.Activation) (ref.Val, error) {
	v, _, err := p.celEval(act)
	if err != nil {
		p.health.fail(p.Expr.Pos, err)
		return nil, err
	}
	return v, nil
}

// Test evaluates a condition. An error makes the condition false; it is
// counted against the rule and logged at a rate limit, never fatal.
func (p *Program) Test(act interpreter.Activation) bool {
	if ea, ok := act.(EventActivation); ok {
		if verdict, decided := p.DecideEvent(ea.Ev); decided {
			return verdict
		}
		// An error, or no native form: CEL evaluates it, and reports an
		// error in its words.
	}
	v, _, err := p.celEval(act)
	if err != nil {
		p.health.fail(p.Expr.Pos, err)
		return false
	}
	b, ok := v.(types.Bool)
	return ok && bool(b)
}

// NativeChain returns the condition's native form when it is a chain of
// && or || (celenv.FastChain), else nil. Its True and False are Test's
// verdicts; any other answer leaves Test to evaluate the condition. The
// decoders' preparers keep the chains of thousands of filters in one
// array, so that reaching a candidate's chain costs one cache miss, not
// the three of the filter, its program and the chain.
func (p *Program) NativeChain() *celenv.Chain { return p.chain }

// native reports whether the condition has a native form.
func (p *Program) native() bool { return p.fast != nil || p.chain != nil }

// DecideEvent returns the verdict of a condition on ev from its native
// form, when it has one and it answers without an error (decided);
// otherwise Test is left to evaluate it. It has no side effect, reports
// no error and may run on any goroutine: the decoders call it to decide a
// sequence's steps ahead of its matcher (Sequence.Decide) and an
// aggregate's where ahead of its aggregator.
func (p *Program) DecideEvent(ev *event.Event) (verdict, decided bool) {
	var t celenv.Tri
	switch {
	case p.chain != nil:
		t = p.chain.Test(ev)
	case p.fast != nil:
		t = p.fast(ev)
	case p.rare != nil && p.rare.refute != nil:
		// Only its false decides.
		return false, p.rare.refute.Test(ev) == celenv.False
	default:
		return false, false
	}
	return t == celenv.True, t == celenv.True || t == celenv.False
}

// plainEvent returns the event act binds, and the path in it, when the
// expression is a plain field of event or of a step: a field that is
// there and holds a scalar needs no interpreter, and CEL still words what
// is not there.
func (p *Program) plainEvent(act interpreter.Activation) (*event.Event, []string, bool) {
	if p.steps != nil && p.steps.path != nil {
		// A step that took one event binds it; one that took none, or a
		// looping step's list, is CEL's to read.
		x, ok := act.ResolveName(p.steps.path[0])
		if !ok {
			return nil, nil, false
		}
		ev, ok := celenv.EventOf(x)
		return ev, p.steps.path[1:], ok
	}
	if p.path == nil {
		return nil, nil, false
	}
	if ea, ok := act.(EventActivation); ok {
		return ea.Ev, p.path, true
	}
	x, ok := act.ResolveName("event")
	if !ok {
		return nil, nil, false
	}
	ev, ok := celenv.EventOf(x)
	return ev, p.path, ok
}

// celEval evaluates the expression with cel-go.
func (p *Program) celEval(act interpreter.Activation) (ref.Val, *cel.EvalDetails, error) {
	c := p.celProgram()
	if c.err != nil {
		return nil, nil, c.err
	}
	return c.prg.Eval(act)
}

// celProgram is an expression's cel-go program, or the error building it
// again gave. Compact leaves it out of the programs of expressions a
// native predicate or a plain field read answers, which need the
// interpreter only to word an error: a program is several kilobytes;
// with 10,000 rules, most of a compiled rule.
type celProgram struct {
	prg cel.Program
	err error
}

func (p *Program) celProgram() *celProgram {
	if c := (*celProgram)(atomic.LoadPointer(&p.cel)); c != nil {
		return c
	}
	rb := p.rb
	rb.c.rebuilding.Lock()
	defer rb.c.rebuilding.Unlock()
	if c := (*celProgram)(atomic.LoadPointer(&p.cel)); c != nil {
		return c
	}
	c := new(celProgram)
	c.prg, c.err = rb.build(p)
	atomic.StorePointer(&p.cel, unsafe.Pointer(c))
	return c
}

// rebuild is what compiling an expression again takes besides the
// expression, kept rather than a closure over all of it, which held the
// parser's copy of the expression's text where Compact shares one, and
// was an object of its own for the collector to mark. Programs do not
// change it once compiled, so that Compact can share one among them.
type rebuild struct {
	c    *Compiler
	env  *cel.Env
	want *cel.Type
	what string
	s    scope
}

// rebuildKey tells rebuilds apart for sharing: by the scope's lists'
// identity, not their contents, which rules of one kind share anyway.
type rebuildKey struct {
	c                                    *Compiler
	env                                  *cel.Env
	want                                 *cel.Type
	what                                 string
	noEvent                              bool
	sem                                  celenv.Semantics
	vars                                 *cel.EnvOption
	names, events, lists, doubles        *string
	nVars, nNames, nEvents, nLists, nDbl int
}

func (rb *rebuild) key() rebuildKey {
	s := &rb.s
	return rebuildKey{
		c: rb.c, env: rb.env, want: rb.want, what: rb.what, noEvent: s.noEvent, sem: s.sem,
		vars: unsafe.SliceData(s.vars), names: unsafe.SliceData(s.names), events: unsafe.SliceData(s.events),
		lists: unsafe.SliceData(s.lists), doubles: unsafe.SliceData(s.doubles),
		nVars: len(s.vars), nNames: len(s.names), nEvents: len(s.events), nLists: len(s.lists), nDbl: len(s.doubles),
	}
}

func (rb *rebuild) build(p *Program) (cel.Program, error) {
	again := rb.c.compileOnce(&yamlx.Errors{}, rb.env, p.Expr, rb.want, rb.what, p.health, rb.s)
	if again == nil {
		return nil, fmt.Errorf("%s: %s no longer compiles", p.Expr.Pos, rb.what)
	}
	return (*celProgram)(again.cel).prg, nil
}

// AST returns the checked expression, for analyses such as indexing and
// linting; nil once Compact has released it.
func (p *Program) AST() *ast.AST {
	if p.ast == nil {
		return nil
	}
	return p.ast.NativeRep()
}

// Health records the evaluation errors of one rule.
type Health struct {
	Rule   string
	errs   atomic.Uint64
	last   atomic.Pointer[string]
	logger *slog.Logger
}

// Errors returns the number of evaluation errors so far.
func (h *Health) Errors() uint64 { return h.errs.Load() }

// Carry adds the errors counted by an earlier version of the rule, so
// that its count goes on across a reload.
func (h *Health) Carry(from *Health) {
	if from == nil || from == h {
		return
	}
	h.errs.Add(from.errs.Load())
	if s := from.last.Load(); s != nil && h.last.Load() == nil {
		h.last.Store(s)
	}
}

// LastError returns the last evaluation error, or "".
func (h *Health) LastError() string {
	if s := h.last.Load(); s != nil {
		return *s
	}
	return ""
}

// Fail counts an error of the rule found outside its expressions, such as
// a model that cannot score, the same way as evaluation errors.
func (h *Health) Fail(at yamlx.Pos, err error) { h.fail(at, err) }

// fail counts an evaluation error and logs the 1st, 10th, 100th, … so that
// a rule failing on every event cannot flood the log, and the log still
// shows how often it fails.
func (h *Health) fail(at yamlx.Pos, err error) {
	n := h.errs.Add(1)
	msg := at.String() + ": " + err.Error()
	h.last.Store(&msg)
	for p := uint64(1); p <= n; p *= 10 {
		if p == n {
			h.logger.Warn("rule evaluation error (the condition counts as false)", "rule", h.Rule, "error", msg, "errors", n)
			return
		}
		if p > n/10 {
			break
		}
	}
}

// scope is the set of variables an expression may use, beyond event.
type scope struct {
	vars  []cel.EnvOption
	names []string
	// noEvent hides event, as in having, which sees only measures.
	noEvent bool
	// sem are the rule's semantics for conditions over events.
	sem celenv.Semantics
	// events and lists name the variables beside event that hold an
	// event (a step, a join side) or a list of events (a looping step).
	events, lists []string
	// doubles name the double-typed variables (measures) beside which
	// an int literal means the equal double: see celenv.DoubleLiterals.
	doubles []string
}

func (c *Compiler) env(s scope) (*cel.Env, error) {
	base := c.base
	if s.noEvent {
		base = c.bare
	}
	if len(s.vars) == 0 {
		return base, nil
	}
	return base.Extend(s.vars...)
}

// compile type-checks, cost-checks and plans one expression. want is the
// result type the expression must have (nil accepts any). Errors go to el
// with positions inside the rule file.
func (c *Compiler) compile(el *yamlx.Errors, env *cel.Env, e rulefmt.Expr, want *cel.Type, what string, h *Health, s scope) *Program {
	p := c.compileOnce(el, env, e, want, what, h, s)
	if p != nil {
		p.rb = &rebuild{c: c, env: env, want: want, what: what, s: s}
	}
	return p
}

func (c *Compiler) compileOnce(el *yamlx.Errors, env *cel.Env, e rulefmt.Expr, want *cel.Type, what string, h *Health, s scope) *Program {
	if strings.TrimSpace(e.Text) == "" {
		return nil
	}
	rewrite := want == cel.BoolType && !s.noEvent && (s.sem.FalseIfMissing || s.sem.LenientNumbers)
	if rewrite {
		// The rewrites need no types: apply them to the parsed
		// expression, so it is checked once. Anything wrong is
		// reported from the expression as written, below.
		if pa, iss := env.Parse(e.Text); iss == nil || iss.Err() == nil {
			if ra, err := s.sem.Apply(env, pa); err == nil && ra.OutputType() == cel.BoolType {
				return c.plan(el, env, e, ra, what, h, s)
			}
		}
	}
	a, iss := c.check(env, e.Text, s)
	if iss != nil && iss.Err() != nil {
		for _, ce := range iss.Errors() {
			p := e.PosAt(celenv.ByteOffset(e.Text, ce.Location.Line(), ce.Location.Column()))
			msg := strings.TrimSuffix(ce.Message, " (in container '')")
			if s.noEvent && strings.Contains(msg, "'event'") {
				msg += " (" + what + " sees only: " + strings.Join(s.names, ", ") + ")"
			}
			el.List = append(el.List, &yamlx.Error{Pos: p, Msg: msg, Snippet: yamlx.Snippet(el.Src, p)})
		}
		return nil
	}
	if want != nil && !assignable(a.OutputType(), want) {
		el.Add(e.Pos.Line, e.Pos.Col, "%s must be %s, but this expression is %s", what, typeName(want), typeName(a.OutputType()))
		return nil
	}
	if rewrite {
		ra, err := s.sem.Apply(env, a)
		if err != nil {
			el.Add(e.Pos.Line, e.Pos.Col, "%s: %v", what, err)
			return nil
		}
		a = ra
	}
	return c.plan(el, env, e, a, what, h, s)
}

// check parses and type-checks text, first making int literals beside
// double measures doubles.
func (c *Compiler) check(env *cel.Env, text string, s scope) (*cel.Ast, *cel.Issues) {
	if len(s.doubles) == 0 {
		return env.Compile(text)
	}
	pa, iss := env.Parse(text)
	if iss != nil && iss.Err() != nil {
		return nil, iss
	}
	if ra, err := celenv.DoubleLiterals(env, pa, s.doubles); err == nil {
		return ra, nil // the rewrite is type-checked as it is made
	}
	// Errors are reported from the expression as written.
	return env.Check(pa)
}

// plan cost-checks a checked expression and makes its program.
func (c *Compiler) plan(el *yamlx.Errors, env *cel.Env, e rulefmt.Expr, a *cel.Ast, what string, h *Health, s scope) *Program {
	c.checkLiterals(el, e, a)
	est, err := env.EstimateCost(a, celenv.CostEstimator(c.opts.MaxFieldSize))
	if err != nil {
		el.Add(e.Pos.Line, e.Pos.Col, "estimating the cost of %s: %v", what, err)
		return nil
	}
	if est.Max > c.opts.CostLimit {
		el.Add(e.Pos.Line, e.Pos.Col, "%s is too expensive: estimated cost up to %d exceeds the limit %d (simplify it, or raise cel.cost_limit)", what, est.Max, c.opts.CostLimit)
		return nil
	}
	popts := append([]cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}, celenv.Precompiled()...)
	// The estimate is an upper bound under the assumed field size; a
	// runtime limit is needed only when real data could break it.
	if est.Max > c.opts.CostLimit/4 {
		popts = append(popts, cel.CostLimit(c.opts.CostLimit), cel.CostTracking(celenv.ActualCost{}))
	}
	prg, err := env.Program(a, popts...)
	if err != nil {
		el.Add(e.Pos.Line, e.Pos.Col, "%s: %v", what, err)
		return nil
	}
	na := a.NativeRep()
	out := &Program{
		Expr: e, Cost: est, cel: unsafe.Pointer(&celProgram{prg: prg}), ast: a, health: h,
		reads:      readsOf(na.Expr(), s),
		callsFacts: callsFacts(na.Expr()),
		eventOnly:  !celenv.NamesOtherThanEvent(na.Expr()),
	}
	if name, path, ok := celenv.VarPath(na.Expr()); ok {
		if name == "event" {
			out.path = path
		} else {
			out.steps = &stepForms{path: append([]string{name}, path...)}
		}
	}
	if a.OutputType() == cel.BoolType && !s.noEvent {
		if celenv.CallsInList(na.Expr()) {
			out.rare = &rareForms{lists: c.cel}
		}
		// A refuter leaves the condition unasked: as for a step's key
		// below, not one whose facts are counted or whose cost may fail.
		out.setNative(na.Expr(), nil, !out.callsFacts && est.Max <= c.opts.CostLimit/4)
		if !out.eventOnly {
			if t := out.natives(nil).StepPredicate(na.Expr()); t != nil {
				out.steps = &stepForms{test: t}
			}
			// Where the key differs, the condition is false without
			// being asked: only a condition with nothing to do but
			// answer may be left unasked. A fact lookup is counted and
			// cached, and a condition whose cost is tracked may fail
			// for its cost whatever its conjuncts.
			if !out.callsFacts && est.Max <= c.opts.CostLimit/4 {
				if k := celenv.StepKeyOf(na.Expr()); k != nil {
					if out.steps == nil {
						out.steps = &stepForms{}
					}
					out.steps.key = k
				}
			}
		}
	}
	return out
}

// stepKey is the key of a sequence condition (celenv.StepKey), or nil.
func (p *Program) stepKey() *celenv.StepKey {
	if p == nil || p.steps == nil {
		return nil
	}
	return p.steps.key
}

// TestSteps is Test of a sequence's condition that names earlier steps,
// natively where it can: act binds the event and the steps.
func (p *Program) TestSteps(act interface {
	Vars
	celenv.Steps
}, ev *event.Event) bool {
	if p.steps != nil && p.steps.test != nil {
		switch p.steps.test(ev, act) {
		case celenv.True:
			return true
		case celenv.False:
			return false
		}
		// An error, or what the native form does not cover: CEL's.
	}
	return p.Test(act)
}

// rareForms is what few conditions have beside their native forms.
type rareForms struct {
	// refute is, for a chain of && with operands that read more than the
	// event, the chain of those that do not (celenv.FastRefuter): when it
	// is false, so is the condition.
	refute *celenv.Chain
	// lists is the environment whose reference lists the expression's
	// in_list reads, for its native form; nil when it calls none.
	lists *celenv.Env
}

// refuter returns the condition's refuter, or nil.
func (p *Program) refuter() *celenv.Chain {
	if p.rare == nil {
		return nil
	}
	return p.rare.refute
}

// setNative builds the native form of a condition, its string constants
// from share (see celenv.Env.Natives), and with refute, where
// it has none, its refuter.
func (p *Program) setNative(e ast.Expr, share func(string) string, refute bool) {
	n := p.natives(share)
	p.fast, p.chain = nil, n.Chain(e)
	if p.chain == nil {
		p.fast = n.Predicate(e)
	}
	var r *celenv.Chain
	if p.chain == nil && p.fast == nil && refute {
		r = n.Refuter(e)
	}
	// New forms rather than a change to them: compaction copies the
	// program, not what it points to.
	lists := p.listsEnv()
	p.rare = nil
	if r != nil || lists != nil {
		p.rare = &rareForms{refute: r, lists: lists}
	}
}

// listsEnv is the environment of the reference lists the condition reads,
// or nil.
func (p *Program) listsEnv() *celenv.Env {
	if p.rare == nil {
		return nil
	}
	return p.rare.lists
}

// natives is the builder of the program's native forms: in_list has one
// when the program reads reference lists.
func (p *Program) natives(share func(string) string) celenv.Natives {
	if env := p.listsEnv(); env != nil {
		return env.Natives(share)
	}
	return celenv.Natives{}.Sharing(share)
}

// Path returns the event field the expression reads, when it is nothing
// but a field (event.a.b); callers may then read the field directly.
func (p *Program) Path() []string { return p.path }

// checkLiterals reports references to unknown reference lists and invalid
// CIDR literals at load, where a typo is cheap to fix.
func (c *Compiler) checkLiterals(el *yamlx.Errors, e rulefmt.Expr, a *cel.Ast) {
	na := a.NativeRep()
	info := na.SourceInfo()
	ast.PostOrderVisit(na.Expr(), ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() != ast.CallKind {
			return
		}
		call := x.AsCall()
		args := call.Args()
		lit := func(i int) (string, ast.Expr, bool) {
			if i >= len(args) || args[i].Kind() != ast.LiteralKind {
				return "", nil, false
			}
			s, ok := args[i].AsLiteral().(types.String)
			return string(s), args[i], ok
		}
		at := func(arg ast.Expr) yamlx.Pos {
			loc := info.GetStartLocation(arg.ID())
			return e.PosAt(celenv.ByteOffset(e.Text, loc.Line(), loc.Column()))
		}
		switch call.FunctionName() {
		case "in_list":
			if name, arg, ok := lit(0); ok {
				if _, found := c.cel.Lists().Get(name); !found {
					p := at(arg)
					known := strings.Join(c.cel.Lists().Names(), ", ")
					if known == "" {
						known = "none: put NAME.txt or NAME.csv in the lists directory"
					}
					el.List = append(el.List, &yamlx.Error{Pos: p, Msg: fmt.Sprintf("no reference list named %q (known lists: %s)", name, known), Snippet: yamlx.Snippet(el.Src, p)})
				}
			}
		case "seen", "fact", "context":
			if _, _, ok := lit(0); !ok && len(args) > 0 {
				p := at(args[0])
				el.List = append(el.List, &yamlx.Error{Pos: p, Msg: fmt.Sprintf("%s: the name must be a string literal, so that it can be checked when rules load", call.FunctionName()), Snippet: yamlx.Snippet(el.Src, p)})
			}
		case "in_cidr":
			if cidr, arg, ok := lit(1); ok {
				if !celenv.ValidCIDR(cidr) {
					p := at(arg)
					el.List = append(el.List, &yamlx.Error{Pos: p, Msg: fmt.Sprintf("invalid CIDR %q", cidr), Snippet: yamlx.Snippet(el.Src, p)})
				}
			}
		}
	}))
}

// numberType stands for int, uint or double where an expression may be
// any number: the argument of sum, avg, min, max and stddev.
var numberType = types.NewOpaqueType("number")

func assignable(got, want *cel.Type) bool {
	if got == cel.DynType {
		return true
	}
	if want == numberType {
		return got.IsAssignableType(cel.DoubleType) || got.IsAssignableType(cel.IntType) || got.IsAssignableType(cel.UintType)
	}
	return got.IsAssignableType(want)
}

func typeName(t *cel.Type) string {
	switch t {
	case numberType:
		return "a number (int, uint or double)"
	case cel.BoolType:
		return "a bool"
	case cel.DoubleType:
		return "a double"
	case cel.IntType:
		return "an int"
	case cel.StringType:
		return "a string"
	}
	return "of type " + t.String()
}

// Activation binds the variables of one evaluation. Detectors reuse one per
// goroutine, so evaluation allocates nothing for it.
type Activation struct {
	names [8]string
	vals  [8]any
	n     int
	more  map[string]any
}

// Reset clears the bindings.
func (a *Activation) Reset() {
	for i := 0; i < a.n; i++ {
		a.vals[i] = nil
	}
	a.n = 0
	a.more = nil
}

// Bind sets a variable.
func (a *Activation) Bind(name string, v any) {
	for i := 0; i < a.n; i++ {
		if a.names[i] == name {
			a.vals[i] = v
			return
		}
	}
	if a.n < len(a.names) {
		a.names[a.n], a.vals[a.n] = name, v
		a.n++
		return
	}
	if a.more == nil {
		a.more = map[string]any{}
	}
	a.more[name] = v
}

// BindEvent sets event.
func (a *Activation) BindEvent(ev *event.Event) { a.Bind("event", celenv.EventValue(ev)) }

// BindEventOrNull sets name to an event, or to null for nil (a join's
// missing side).
func (a *Activation) BindEventOrNull(name string, ev *event.Event) {
	if ev == nil {
		a.Bind(name, types.NullValue)
		return
	}
	a.Bind(name, celenv.EventValue(ev))
}

// BindMeasure sets a window measure as its rules see it: count and
// count_distinct are ints, the other functions doubles.
func (a *Activation) BindMeasure(name, fn string, v float64) {
	if countsInts(fn) {
		a.Bind(name, types.Int(int64(v)))
		return
	}
	a.Bind(name, types.Double(v))
}

// BindWindow sets window to {start, end}, timestamps in CEL.
func (a *Activation) BindWindow(start, end int64) {
	a.Bind("window", types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{
		"start": time.Unix(0, start).UTC(),
		"end":   time.Unix(0, end).UTC(),
	}))
}

// MeasureValue is a measure as alert fields hold it: int64 for count and
// count_distinct, float64 otherwise.
func MeasureValue(fn string, v float64) any {
	if countsInts(fn) {
		return int64(v)
	}
	return v
}

func countsInts(fn string) bool { return fn == "count" || fn == "count_distinct" }

// ResolveName implements interpreter.Activation.
func (a *Activation) ResolveName(name string) (any, bool) {
	for i := 0; i < a.n; i++ {
		if a.names[i] == name {
			return a.vals[i], true
		}
	}
	v, ok := a.more[name]
	return v, ok
}

// Parent implements interpreter.Activation.
func (a *Activation) Parent() interpreter.Activation { return nil }

// EventActivation binds only event; it is one pointer, so passing it as an
// interface does not allocate.
type EventActivation struct{ Ev *event.Event }

// ResolveName implements interpreter.Activation.
func (a EventActivation) ResolveName(name string) (any, bool) {
	if name == "event" {
		return celenv.EventValue(a.Ev), true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a EventActivation) Parent() interpreter.Activation { return nil }

// Touch reads the first words of what Test reaches first (the program,
// and its Chain or the closure of its native predicate) and returns
// something of them, for the caller to keep so that the reads are not
// compiled away. A caller about to test many programs spread over memory
// touches them all first: their cache misses then overlap, where the
// tests would take them one after another (correlate.Engine.Preparer).
func (p *Program) Touch() uintptr {
	if c := p.chain; c != nil {
		return c.Touch()
	}
	f := p.fast
	if f == nil {
		return 0
	}
	// A func value points to its closure, whose first word is the code
	// pointer and whose captured variables follow it.
	fv := *(*unsafe.Pointer)(unsafe.Pointer(&f))
	return *(*uintptr)(fv)
}
