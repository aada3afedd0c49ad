package celenv

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cep-project/cep/event"
)

// Most rule conditions are comparisons of event fields with constants,
// joined by && and ||. For those the compiler also builds a native
// predicate that reads the decoded event directly, several times faster
// than the interpreter and without allocating. It follows CEL's semantics
// exactly, including its errors: a missing field or a comparison of
// mismatched types is an error, && and || absorb errors the way CEL does,
// and a condition that ends in an error is evaluated again by CEL so the
// error is reported in CEL's words. Anything outside the subset is left to
// CEL alone; TestFastMatchesCEL holds the two to the same answers.

// Tri is a three-valued outcome: CEL's true, false and error. An error
// caused by reading a missing field is told apart (Missing), since
// missing_fields: false_if_missing turns exactly those into false.
type Tri uint8

// The outcomes of a Pred.
const (
	False Tri = iota
	True
	Failed
	Missing
)

// isErr reports whether t is an error of any kind.
func isErr(t Tri) bool { return t >= Failed }

// negate is CEL's !: an error stays one.
func negate(t Tri) Tri {
	switch t {
	case True:
		return False
	case False:
		return True
	}
	return t
}

func triOf(b bool) Tri {
	if b {
		return True
	}
	return False
}

// Pred is the native form of a condition over one event.
type Pred func(ev *event.Event) Tri

// FastPredicate builds the native predicate of a checked expression, or nil
// when the expression is outside the subset.
func FastPredicate(e ast.Expr) Pred { return fastPred(e, natives{}) }

// natives is what building a native form draws on.
type natives struct {
	// share gives the one copy of a string constant that many
	// predicates may hold (with 10,000 rules testing type ==
	// "card_auth", one object where there were 10,000 for the collector
	// to mark on each cycle); nil: each has a copy of its own.
	share func(string) string
	// lists are the reference lists of in_list, read at each test, as
	// the function reads them (Env.SetLists may replace them); nil:
	// in_list has no native form.
	lists *Env
}

// Natives builds native forms whose in_list tests env's reference lists:
// FastPredicate and the others leave in_list to CEL.
type Natives struct{ nb natives }

// Natives returns the builder of native forms for expressions compiled
// in env, their string constants from share (nil: copies of their own).
func (env *Env) Natives(share func(string) string) Natives {
	return Natives{natives{share: share, lists: env}}
}

// Sharing returns n with its string constants from share.
func (n Natives) Sharing(share func(string) string) Natives {
	n.nb.share = share
	return n
}

// CallsInList reports whether e calls in_list.
func CallsInList(e ast.Expr) bool {
	calls := false
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() == ast.CallKind && x.AsCall().FunctionName() == "in_list" {
			calls = true
		}
	}))
	return calls
}

// Predicate is FastPredicate, with n's lists and sharing.
func (n Natives) Predicate(e ast.Expr) Pred { return fastPred(e, n.nb) }

// Chain is FastChain.
func (n Natives) Chain(e ast.Expr) *Chain { return fastChain(e, n.nb) }

// Refuter is FastRefuter.
func (n Natives) Refuter(e ast.Expr) *Chain { return fastRefuter(e, n.nb) }

// StepPredicate is FastStepPredicate.
func (n Natives) StepPredicate(e ast.Expr) StepPred { return fastStepPredicate(e, n.nb) }

// fastPred is FastPredicate, its string constants from share or, when
// share is nil, copies of their own (the syntax tree's would hold it).
func fastPred(e ast.Expr, nb natives) Pred {
	switch e.Kind() {
	case ast.LiteralKind:
		if b, ok := e.AsLiteral().(types.Bool); ok {
			r := triOf(bool(b))
			return func(*event.Event) Tri { return r }
		}
		return nil
	case ast.SelectKind:
		s := e.AsSelect()
		if s.IsTestOnly() {
			path, ok := EventPath(s.Operand())
			if !ok && !isEventIdent(s.Operand()) {
				return nil
			}
			path = append(path, s.FieldName())
			return func(ev *event.Event) Tri {
				return has(ev, path)
			}
		}
		path, ok := EventPath(e)
		if !ok {
			return nil
		}
		return func(ev *event.Event) Tri {
			v, t := lookupPath(ev, path)
			if t != True {
				return t
			}
			if v.Kind() != event.Bool {
				return Failed
			}
			return triOf(v.Bool())
		}
	case ast.CallKind:
	default:
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	switch call.FunctionName() {
	case "_&&_", "_||_":
		if c := chain(e, call.FunctionName(), nb); c != nil {
			return c.Test
		}
		return nil
	case "!_":
		x := fastPred(args[0], nb)
		if x == nil {
			return nil
		}
		return func(ev *event.Event) Tri { return negate(x(ev)) }
	case "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_":
		if c, ok := comparisonOf(call, nb); ok {
			return c.test
		}
	case "_?_:_":
		c, a, b := fastPred(args[0], nb), fastPred(args[1], nb), fastPred(args[2], nb)
		if c == nil || a == nil || b == nil {
			return nil
		}
		return func(ev *event.Event) Tri {
			switch t := c(ev); t {
			case True:
				return a(ev)
			case False:
				return b(ev)
			default:
				return t
			}
		}
	case FnFalseIfMissing:
		x := fastPred(args[0], nb)
		if x == nil {
			return nil
		}
		return func(ev *event.Event) Tri {
			if t := x(ev); t != Missing {
				return t
			}
			return False
		}
	case "@in":
		path, lenient, ok := operandPath(args[0])
		if !ok || args[1].Kind() != ast.ListKind {
			return nil
		}
		var cs []constant
		for _, el := range args[1].AsList().Elements() {
			if el.Kind() != ast.LiteralKind {
				return nil
			}
			c, ok := constOf(el.AsLiteral(), nb)
			if !ok {
				return nil
			}
			cs = append(cs, c)
		}
		return func(ev *event.Event) Tri {
			v, t := lookupPath(ev, path)
			if t != True {
				return t
			}
			if lenient {
				w := numOf(*v)
				v = &w
			}
			for i := range cs {
				if equal(v, &cs[i]) {
					return True
				}
			}
			return False
		}
	}
	if call.FunctionName() == "in_list" && len(args) == 2 && nb.lists != nil {
		return inListPredicate(args, nb.lists)
	}
	if call.IsMemberFunction() {
		if call.FunctionName() == "matches" {
			return regexPredicate(call)
		}
		return matchPredicate(call)
	}
	if call.FunctionName() == "keywords" && len(args) == 2 && isEventIdent(args[0]) && args[1].Kind() == ast.ListKind {
		var needles []foldNeedle
		for _, el := range args[1].AsList().Elements() {
			lit, ok := literalString(el)
			if !ok {
				return nil
			}
			needles = append(needles, newFoldNeedle(lit))
		}
		m, line := sharedMultiNeedle(needles), lineKeywords(needles)
		return func(ev *event.Event) Tri {
			if line != nil && line.rulesOut(ev) {
				return False
			}
			return triOf(keywordsIn(EventValue(ev), m.in) == types.True)
		}
	}
	return nil
}

// inListPredicate builds the native form of in_list("name", event.a.b):
// Env.inList's answers, from the lists env holds at each test (a reload
// replaces them), without making CEL values of the field.
func inListPredicate(args []ast.Expr, env *Env) Pred {
	name, ok := literalString(args[0])
	if !ok {
		return nil
	}
	path, ok := EventPath(args[1])
	if !ok {
		return nil
	}
	return func(ev *event.Event) Tri {
		v, t := lookupPath(ev, path)
		if t != True {
			return t
		}
		l, ok := env.lists.Load().Get(name)
		if !ok {
			return Failed
		}
		switch v.Kind() {
		case event.String:
			return triOf(l.Contains(v.Str()))
		case event.Number:
			return triOf(l.Contains(event.NumberValue(v.Num()).Text()))
		case event.Null:
			return False
		}
		return Failed
	}
}

// operandPath reads an event path, or @num of one (lenient_numbers).
func operandPath(e ast.Expr) ([]string, bool, bool) {
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == FnNum && len(e.AsCall().Args()) == 1 {
		p, ok := EventPath(e.AsCall().Args()[0])
		return p, true, ok
	}
	p, ok := EventPath(e)
	return p, false, ok
}

// numOf is @num: a string holding a number's canonical text is that
// number.
func numOf(v event.Value) event.Value {
	if v.Kind() == event.String {
		if f, ok := canonicalNumber(v.Str()); ok {
			return event.NumberValue(f)
		}
	}
	return v
}

// lookupPath is CEL's reading of event.a.b: the value, Missing when a
// member is absent (CEL's "no such key", also for a member of a scalar),
// Failed when a step is a list. A member a projected event left out is
// read from the whole event (see findIn). The value is read in place, in
// the event's Fields or Full, and is nil unless the Tri is True: copied
// out through two calls, and into what compares it, a Value took a third
// of a simple comparison's time.
func lookupPath(ev *event.Event, path []string) (*event.Value, Tri) {
	v, t, miss := lookupIn(ev.Fields, path)
	if miss > 0 && !ev.Keeps(path[:miss]...) {
		v, t, _ = lookupIn(ev.Full(), path)
	}
	return v, t
}

// lookupIn reads path in fs; miss is the length of the path to the
// member found missing, or 0.
func lookupIn(fs []event.Field, path []string) (*event.Value, Tri, int) {
	v := event.ValueAt(fs, path[0])
	if v == nil {
		return nil, Missing, 1
	}
	for i, k := range path[1:] {
		switch v.Kind() {
		case event.Object:
		case event.Array:
			return nil, Failed, 0 // a list has no members to select
		default:
			// CEL reports a member of a scalar as a missing key.
			return nil, Missing, 0
		}
		if v = event.ValueAt(v.Fields(), k); v == nil {
			return nil, Missing, i + 2
		}
	}
	return v, True, 0
}

// matchPredicate builds the native form of path.iequals("x") and the other
// matching functions with a literal argument.
func matchPredicate(call ast.CallExpr) Pred {
	path, ok := EventPath(call.Target())
	if !ok || len(call.Args()) != 1 {
		return nil
	}
	arg := call.Args()[0]
	var test func(string) bool
	if lit, ok := literalString(arg); ok {
		switch fn := call.FunctionName(); fn {
		case "wildcard", "wildcardCased":
			test = CompileWildcard(lit, fn == "wildcardCased").Match
		default:
			for _, f := range matchFuncs {
				if f.name == fn {
					n, match := newFoldNeedle(lit), f.match
					test = func(s string) bool { return match(&n, s) }
				}
			}
		}
	} else if arg.Kind() == ast.ListKind {
		var needles []foldNeedle
		for _, el := range arg.AsList().Elements() {
			lit, ok := literalString(el)
			if !ok {
				return nil
			}
			needles = append(needles, newFoldNeedle(lit))
		}
		test = listTester(call.FunctionName(), needles)
	}
	if test == nil {
		return nil
	}
	return func(ev *event.Event) Tri {
		v, t := lookupPath(ev, path)
		if t != True {
			return t
		}
		switch v.Kind() {
		case event.String:
			return triOf(test(v.Str()))
		case event.Number, event.Bool:
			return triOf(test(v.Text()))
		case event.Null:
			return False
		}
		return Failed
	}
}

// regexPredicate builds the native form of path.matches("re") and of
// string(path).matches("re") (as Sigma's |re imports), a literal pattern:
// Go's regexp, which is what cel-go's matches runs (RE2 syntax). Without
// string(), only a string field has the overload; with it, a number reads
// as cel-go prints a double (%g) and a bool as true or false.
func regexPredicate(call ast.CallExpr) Pred {
	target, conv := call.Target(), false
	if target.Kind() == ast.CallKind {
		if c := target.AsCall(); c.FunctionName() == "string" && !c.IsMemberFunction() && len(c.Args()) == 1 {
			target, conv = c.Args()[0], true
		}
	}
	path, ok := EventPath(target)
	if !ok || len(call.Args()) != 1 {
		return nil
	}
	lit, ok := literalString(call.Args()[0])
	if !ok {
		return nil
	}
	re, err := regexp.Compile(lit)
	if err != nil {
		return nil // cel-go words the error
	}
	pre := regexPrefilter(lit)
	return func(ev *event.Event) Tri {
		v, t := lookupPath(ev, path)
		if t != True {
			return t
		}
		var s string
		switch k := v.Kind(); {
		case k == event.String:
			s = v.Str()
		case k == event.Number && conv:
			s = fmt.Sprintf("%g", v.Num())
		case k == event.Bool && conv:
			s = strconv.FormatBool(v.Bool())
		default:
			return Failed
		}
		if pre != nil && !pre(s) {
			return False
		}
		return triOf(re.MatchString(s))
	}
}

func isEventIdent(e ast.Expr) bool { return e.Kind() == ast.IdentKind && e.AsIdent() == "event" }

// has is CEL's has(event.a.b): an error when an intermediate is missing or
// a list, false when it is a scalar, else whether the last member is
// present.
func has(ev *event.Event, path []string) Tri {
	t, miss := hasIn(ev.Fields, path)
	if miss > 0 && !ev.Keeps(path[:miss]...) {
		t, _ = hasIn(ev.Full(), path)
	}
	return t
}

// hasIn is has over fs; miss is the length of the path to the member
// found missing, or 0.
func hasIn(fs []event.Field, path []string) (Tri, int) {
	for i, k := range path {
		v, ok := lookupField(fs, k)
		if i == len(path)-1 {
			if !ok {
				return False, i + 1
			}
			return True, 0
		}
		if !ok {
			return Missing, i + 1
		}
		switch v.Kind() {
		case event.Object:
		case event.Array:
			return Failed, 0 // a list has no fields to test
		default:
			return False, 0
		}
		fs = v.Fields()
	}
	return Failed, 0
}

func lookupField(fs []event.Field, k string) (event.Value, bool) {
	if v := event.ValueAt(fs, k); v != nil {
		return *v, true
	}
	return event.Value{}, false
}

// constant is a literal of the subset: a number (any CEL numeric type), a
// string, a bool or null.
type constant struct {
	s string
	// head and tail are a string of 16 bytes or fewer as words: its first
	// eight bytes (all of a shorter one, zero-padded) and its last eight.
	// With thousands of rules a candidate's literal is rarely in the
	// cache, and equal compares the event's text, which is, with these,
	// which lie in the term the test has just read, rather than wait for
	// the literal's bytes. A number's bits are head (num), a bool is
	// head 1 or 0.
	head, tail uint64
	kind       event.Kind
	// The flags of the comparison and the term that hold the constant
	// ride in what would be its padding: a term of four words fewer puts
	// a chain of four terms in four cache lines instead of seven, and
	// with thousands of rules a candidate's chain is a cache miss per
	// line (see chain).
	op           cmpOp
	lenient      bool  // comparison: reads the field through @num
	missingFalse bool  // term: under false_if_missing
	pathLen      uint8 // comparison: names of the path
}

// num is a number constant's value.
func (c *constant) num() float64 { return math.Float64frombits(c.head) }

func numConst(n float64) constant {
	return constant{kind: event.Number, head: math.Float64bits(n)}
}

// maxInline is the longest string constant equal compares by its words.
const maxInline = 16

func stringConst(s string) constant {
	c := constant{kind: event.String, s: s}
	if len(s) <= maxInline {
		c.head, c.tail = words(s)
	}
	return c
}

// words returns the head and tail words of a string of 16 bytes or
// fewer (see constant).
func words(s string) (head, tail uint64) {
	if len(s) >= 8 {
		return le64(s), le64(s[len(s)-8:])
	}
	for i := len(s) - 1; i >= 0; i-- {
		head = head<<8 | uint64(s[i])
	}
	return head, 0
}

// le64 reads the first eight bytes of s as a little-endian word.
func le64(s string) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), 8))
}

// equalText reports whether s is c's string.
func (c *constant) equalText(s string) bool {
	if len(s) != len(c.s) {
		return false
	}
	if len(s) > maxInline {
		return s == c.s
	}
	h, t := words(s)
	return h == c.head && t == c.tail
}

func constOf(v ref.Val, nb natives) (constant, bool) {
	switch x := v.(type) {
	case types.String:
		if nb.share != nil {
			return stringConst(nb.share(string(x))), true
		}
		return stringConst(strings.Clone(string(x))), true
	case types.Double:
		return numConst(float64(x)), true
	case types.Int:
		return numConst(float64(x)), true
	case types.Uint:
		return numConst(float64(x)), true
	case types.Bool:
		return constant{kind: event.Bool, head: uint64(b2i(bool(x)))}, true
	case types.Null:
		return constant{kind: event.Null}, true
	}
	return constant{}, false
}

// equal is CEL's heterogeneous equality of an event value and a constant:
// values of different kinds are unequal, numbers compare by value.
func equal(v *event.Value, c *constant) bool {
	if v.Kind() != c.kind {
		return false
	}
	switch c.kind {
	case event.String:
		return c.equalText(v.Str())
	case event.Number:
		return v.Num() == c.num()
	case event.Bool:
		return b2i(v.Bool()) == int(c.head)
	case event.Null:
		return true
	}
	return false
}

// comparison is path op c (or c op path, flipped), its operands held
// inline: chains of && and || keep theirs in one slice (see chain). Its
// operator and flags are c's (see constant).
type comparison struct {
	c constant
	// path is the first name of the shared copy of the path
	// (event.SharedPath), of c.pathLen names: a slice's length and
	// capacity would make every term of a chain two words longer.
	path *string
}

// names is the comparison's path.
func (x *comparison) names() []string { return unsafe.Slice(x.path, x.c.pathLen) }

// cmpOp is a comparison's operator: path op c.
type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOps = map[string]cmpOp{"_==_": opEq, "_!=_": opNe, "_<_": opLt, "_<=_": opLe, "_>_": opGt, "_>=_": opGe}

// flipped turns c op x into x op' c.
func (op cmpOp) flipped() cmpOp {
	switch op {
	case opLt:
		return opGt
	case opLe:
		return opGe
	case opGt:
		return opLt
	case opGe:
		return opLe
	}
	return op
}

// comparisonOf reads a comparison of an event path with a literal.
func comparisonOf(call ast.CallExpr, nb natives) (comparison, bool) {
	args := call.Args()
	op, ok := cmpOps[call.FunctionName()]
	if !ok || len(args) != 2 {
		return comparison{}, false
	}
	path, lenient, ok := operandPath(args[0])
	lit := args[1]
	if !ok || lit.Kind() != ast.LiteralKind {
		if path, lenient, ok = operandPath(args[1]); !ok || args[0].Kind() != ast.LiteralKind {
			return comparison{}, false
		}
		lit, op = args[0], op.flipped()
	}
	c, ok := constOf(lit.AsLiteral(), nb)
	// Ordering is defined between numbers, between strings and between
	// booleans; null has no overload: an error, left to CEL.
	if !ok || (op >= opLt && c.kind == event.Null) || len(path) == 0 || len(path) > math.MaxUint8 {
		return comparison{}, false
	}
	c.op, c.lenient, c.pathLen = op, lenient, uint8(len(path))
	return comparison{c: c, path: unsafe.SliceData(path)}, true
}

func (x *comparison) test(ev *event.Event) Tri {
	c := &x.c
	v, t := lookupPath(ev, x.names())
	if t != True {
		return t
	}
	if c.lenient {
		w := numOf(*v)
		v = &w
	}
	switch c.op {
	case opEq:
		return triOf(equal(v, c))
	case opNe:
		return triOf(!equal(v, c))
	}
	if v.Kind() != c.kind {
		return Failed
	}
	var order int
	switch c.kind {
	case event.Number:
		n := v.Num()
		cn := c.num()
		if n != n || cn != cn {
			return False // NaN orders with nothing
		}
		order = cmp.Compare(n, cn)
	case event.String:
		order = cmp.Compare(v.Str(), c.s)
	case event.Bool:
		order = cmp.Compare(b2i(v.Bool()), int(c.head))
	}
	switch c.op {
	case opLt:
		return triOf(order < 0)
	case opLe:
		return triOf(order <= 0)
	case opGt:
		return triOf(order > 0)
	}
	return triOf(order >= 0)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// term is one operand of a chain of && or ||: a comparison, held inline
// (possibly under false_if_missing: cmp.c.missingFalse), or any other
// predicate.
type term struct {
	pred Pred
	cmp  comparison
}

func (t *term) eval(ev *event.Event) Tri {
	if t.pred != nil {
		return t.pred(ev)
	}
	r := t.cmp.test(ev)
	if t.cmp.c.missingFalse && r == Missing {
		return False
	}
	return r
}

func termOf(e ast.Expr, nb natives) (term, bool) {
	if e.Kind() == ast.CallKind {
		call := e.AsCall()
		missingFalse := false
		if call.FunctionName() == FnFalseIfMissing && len(call.Args()) == 1 && call.Args()[0].Kind() == ast.CallKind {
			call, missingFalse = call.Args()[0].AsCall(), true
		}
		if c, ok := comparisonOf(call, nb); ok {
			c.c.missingFalse = missingFalse
			return term{cmp: c}, true
		}
	}
	p := fastPred(e, nb)
	return term{pred: p}, p != nil
}

// operandsOf flattens a tree of fn (_&&_ or _||_) into its operands, in
// order.
func operandsOf(e ast.Expr, fn string) []ast.Expr {
	var operands []ast.Expr
	var flatten func(ast.Expr)
	flatten = func(x ast.Expr) {
		if x.Kind() == ast.CallKind && x.AsCall().FunctionName() == fn {
			for _, a := range x.AsCall().Args() {
				flatten(a)
			}
			return
		}
		operands = append(operands, x)
	}
	flatten(e)
	return operands
}

// chain builds a chain of && (or ||) as one loop over its operands in
// one slice. A tree of closures, one per operator and operand, costs a
// dependent load per node; with thousands of rules the nodes are rarely
// in cache, and a test of four comparisons waited on a dozen misses.
func chain(e ast.Expr, fn string, nb natives) *Chain {
	operands := operandsOf(e, fn)
	terms := make([]term, len(operands))
	for i, x := range operands {
		var ok bool
		if terms[i], ok = termOf(x, nb); !ok {
			return nil
		}
	}
	c := newChain(terms)
	// What ends the chain, and its answer otherwise.
	c.decides, c.otherwise = False, True
	if fn == "_||_" {
		c.decides, c.otherwise = True, False
	}
	return c
}

// FastChain is FastPredicate for a condition that is a chain of && or ||
// (anything else: nil), as a Chain its caller holds itself: a predicate
// is a closure over its terms, which a test with thousands of rules
// reaches with two cache misses one after the other (the closure, then
// the terms), where a Chain is one object with its terms inline. Its
// string constants come from share, as for Env.Natives, or are copies of
// their own when share is nil.
func FastChain(e ast.Expr, share func(string) string) *Chain {
	return fastChain(e, natives{share: share})
}

func fastChain(e ast.Expr, nb natives) *Chain {
	if e.Kind() != ast.CallKind {
		return nil
	}
	switch fn := e.AsCall().FunctionName(); fn {
	case "_&&_", "_||_":
		return chain(e, fn, nb)
	}
	return nil
}

// FastRefuter returns, for a chain of && that FastChain cannot build
// because some of its operands read more than the event (anomaly, seen,
// fact, context), the chain of the operands that have a native form: when
// it answers False so does the condition, since in CEL one false operand
// makes && false whatever the others give, errors included. Its other
// answers say nothing of the condition. Nil when the condition is no such
// chain, FastChain builds it, or none of its operands has a native form.
// A condition of many rules that starts with a test of the event's type
// is then false for most events without the interpreter.
func FastRefuter(e ast.Expr, share func(string) string) *Chain {
	return fastRefuter(e, natives{share: share})
}

func fastRefuter(e ast.Expr, nb natives) *Chain {
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == FnFalseIfMissing && len(e.AsCall().Args()) == 1 {
		// Missing fields make it false, and false stays false.
		e = e.AsCall().Args()[0]
	}
	if e.Kind() != ast.CallKind || e.AsCall().FunctionName() != "_&&_" || chain(e, "_&&_", nb) != nil {
		return nil
	}
	var terms []term
	for _, x := range operandsOf(e, "_&&_") {
		if t, ok := termOf(x, nb); ok {
			terms = append(terms, t)
		}
	}
	if len(terms) == 0 {
		return nil
	}
	c := newChain(terms)
	c.decides, c.otherwise = False, Failed
	return c
}

// Chain is the native predicate of a chain of && or ||.
type Chain struct {
	decides, otherwise Tri
	// terms lie in the same allocation, after the Chain (newChain).
	terms []term
}

// chainOf is a Chain with room for its terms.
type chainOf[A any] struct {
	c Chain
	a A
}

func newChainOf[A any](ts []term) *Chain {
	b := new(chainOf[A])
	b.c.terms = unsafe.Slice((*term)(unsafe.Pointer(&b.a)), len(ts))
	copy(b.c.terms, ts)
	return &b.c
}

// newChain makes a Chain of the terms ts, inline up to eight.
func newChain(ts []term) *Chain {
	switch len(ts) {
	case 1:
		return newChainOf[[1]term](ts)
	case 2:
		return newChainOf[[2]term](ts)
	case 3:
		return newChainOf[[3]term](ts)
	case 4:
		return newChainOf[[4]term](ts)
	case 5:
		return newChainOf[[5]term](ts)
	case 6:
		return newChainOf[[6]term](ts)
	case 7:
		return newChainOf[[7]term](ts)
	case 8:
		return newChainOf[[8]term](ts)
	}
	return &Chain{terms: ts}
}

// Touch reads the chain's first words and each term's last, so that a
// caller about to test many chains spread over memory can take their
// cache misses together (rules.Program.Touch); it returns something of
// them for the caller to keep, so that the reads are not compiled away.
// A term is 56 bytes, nearly a line of the cache: with the first alone
// touched, a test of four terms still waited for the others' misses one
// after another.
func (c *Chain) Touch() uintptr {
	n := uintptr(c.decides)
	for i := range c.terms {
		n += uintptr(c.terms[i].cmp.c.pathLen)
	}
	return n
}

// Test evaluates the chain with CEL's logic over all operands at once: &&
// is false when any operand is false, whatever errors the others end in;
// else an error when any is one; else true. || is its dual. Operands are
// evaluated in order and the first deciding one stops the evaluation, as
// nested operators would.
func (c *Chain) Test(ev *event.Event) Tri {
	failed := false
	for i := range c.terms {
		switch r := c.terms[i].eval(ev); {
		case r == c.decides:
			return c.decides
		case isErr(r):
			failed = true
		}
	}
	if failed {
		return Failed
	}
	return c.otherwise
}

// FastHaving builds a native form of a having condition over measures:
// comparisons of a measure with a number, joined by &&, || and !. Measures
// are numbers, so no comparison fails; vals holds them in measure order.
func FastHaving(e ast.Expr, names []string) func(vals []float64) bool {
	f := havingPred(e, names)
	if f == nil {
		return nil
	}
	return func(vals []float64) bool { return f(vals) }
}

func havingPred(e ast.Expr, names []string) func([]float64) bool {
	switch e.Kind() {
	case ast.LiteralKind:
		if b, ok := e.AsLiteral().(types.Bool); ok {
			return func([]float64) bool { return bool(b) }
		}
		return nil
	case ast.CallKind:
	default:
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	switch fn := call.FunctionName(); fn {
	case "_&&_", "_||_":
		l, r := havingPred(args[0], names), havingPred(args[1], names)
		if l == nil || r == nil {
			return nil
		}
		if fn == "_&&_" {
			return func(v []float64) bool { return l(v) && r(v) }
		}
		return func(v []float64) bool { return l(v) || r(v) }
	case "!_":
		x := havingPred(args[0], names)
		if x == nil {
			return nil
		}
		return func(v []float64) bool { return !x(v) }
	case "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_":
		i, c, flipped, ok := measureVsNumber(args, names)
		if !ok {
			return nil
		}
		op := fn
		if flipped {
			op = map[string]string{"_<_": "_>_", "_<=_": "_>=_", "_>_": "_<_", "_>=_": "_<=_", "_==_": "_==_", "_!=_": "_!=_"}[fn]
		}
		switch op {
		case "_==_":
			return func(v []float64) bool { return v[i] == c }
		case "_!=_":
			return func(v []float64) bool { return v[i] != c }
		case "_<_":
			return func(v []float64) bool { return v[i] < c }
		case "_<=_":
			return func(v []float64) bool { return v[i] <= c }
		case "_>_":
			return func(v []float64) bool { return v[i] > c }
		}
		return func(v []float64) bool { return v[i] >= c }
	}
	return nil
}

func measureVsNumber(args []ast.Expr, names []string) (int, float64, bool, bool) {
	idx := func(e ast.Expr) int {
		if e.Kind() != ast.IdentKind {
			return -1
		}
		for i, n := range names {
			if n == e.AsIdent() {
				return i
			}
		}
		return -1
	}
	num := func(e ast.Expr) (float64, bool) {
		if e.Kind() != ast.LiteralKind {
			return 0, false
		}
		c, ok := constOf(e.AsLiteral(), natives{})
		return c.num(), ok && c.kind == event.Number
	}
	if i := idx(args[0]); i >= 0 {
		if c, ok := num(args[1]); ok {
			return i, c, false, true
		}
	}
	if i := idx(args[1]); i >= 0 {
		if c, ok := num(args[0]); ok {
			return i, c, true, true
		}
	}
	return 0, 0, false, false
}

// EventPath reads event.a.b or event["a"]["b"] as the path [a b]: the
// shared copy of event.SharedPath, which its callers must not change. Its
// names are those projected events' members carry, so that looking them
// up compares no bytes.
func EventPath(e ast.Expr) ([]string, bool) {
	name, path, ok := VarPath(e)
	if !ok || name != "event" {
		return nil, false
	}
	return path, true
}

// VarPath reads v.a.b or v["a"]["b"] of a variable v (event, or a
// sequence's step) as v and the path [a b], shared as EventPath's is.
func VarPath(e ast.Expr) (string, []string, bool) {
	var rev []string
	for {
		switch e.Kind() {
		case ast.SelectKind:
			s := e.AsSelect()
			if s.IsTestOnly() {
				return "", nil, false
			}
			rev = append(rev, s.FieldName())
			e = s.Operand()
		case ast.CallKind:
			call := e.AsCall()
			if call.FunctionName() != "_[_]" {
				return "", nil, false
			}
			idx := call.Args()[1]
			if idx.Kind() != ast.LiteralKind {
				return "", nil, false
			}
			s, ok := idx.AsLiteral().(types.String)
			if !ok {
				return "", nil, false
			}
			rev = append(rev, string(s))
			e = call.Args()[0]
		case ast.IdentKind:
			if len(rev) == 0 {
				return "", nil, false
			}
			slices.Reverse(rev)
			return e.AsIdent(), event.SharedPath(rev), true
		default:
			return "", nil, false
		}
	}
}
