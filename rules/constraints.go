package rules

import (
	"slices"
	"strconv"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules/celenv"
)

// Constraint is a condition a rule's expression implies: the event field at
// Path must equal one of Values, or its text must meet one of Text. The
// engine indexes rules by it, so an event is evaluated only against rules
// it could match.
type Constraint struct {
	Path   []string
	Values []string // in the form of ValueKey
	// Text are tests of the field's text (a string as it is, a number or
	// a boolean as the text matching functions compare): equal to, starts
	// with or ends with a literal, with or without case.
	Text []TextMatch
}

// TextKind is how a TextMatch compares.
type TextKind uint8

// The kinds of TextMatch.
const (
	TextEqual TextKind = iota
	TextPrefix
	TextSuffix
)

// TextMatch is one test of a field's text. With Fold the test ignores case
// and Text is the literal's fold key (celenv.AppendFold), to be compared
// with the field's fold key.
type TextMatch struct {
	Kind TextKind
	Fold bool
	Text string
}

// AppendText appends the text the matching functions compare for v: a
// string as it is, a number in its shortest form, a boolean as true or
// false; ok is false for null, objects and arrays, whose tests are never
// true. It takes a pointer, as AppendValueKey does, so that the router
// reads the words it needs of a value the decoder has just written, not a
// copy of the whole value.
func AppendText(b []byte, v *event.Value) ([]byte, bool) {
	switch v.Kind() {
	case event.String:
		return append(b, v.Str()...), true
	case event.Number:
		return strconv.AppendFloat(b, v.Num(), 'f', -1, 64), true
	case event.Bool:
		return strconv.AppendBool(b, v.Bool()), true
	}
	return b, false
}

// valueKey renders a scalar so that values CEL considers equal render the
// same: numbers as numbers whatever their CEL type, strings and booleans
// tagged so that "1" and 1 differ. ok is false for values an index cannot
// hold (null, objects, arrays).
func valueKey(v event.Value) (string, bool) {
	b, ok := AppendValueKey(nil, &v)
	return string(b), ok
}

// AppendValueKey appends the valueKey of v to b, so that a caller looking
// keys up in a map (m[string(b)]) allocates nothing per event.
func AppendValueKey(b []byte, v *event.Value) ([]byte, bool) {
	switch v.Kind() {
	case event.String:
		return append(append(b, "s:"...), v.Str()...), true
	case event.Number:
		return strconv.AppendFloat(append(b, "n:"...), v.Num(), 'g', -1, 64), true
	case event.Bool:
		return strconv.AppendBool(append(b, "b:"...), v.Bool()), true
	}
	return b, false
}

func literalKey(v ref.Val) (string, bool) {
	switch x := v.(type) {
	case types.String:
		return valueKey(event.StringValue(string(x)))
	case types.Double:
		return valueKey(event.NumberValue(float64(x)))
	case types.Int:
		return valueKey(event.NumberValue(float64(x)))
	case types.Uint:
		return valueKey(event.NumberValue(float64(x)))
	case types.Bool:
		return valueKey(event.BoolValue(bool(x)))
	}
	return "", false
}

// indexConstraints is what routing indexes a rule by: the equality and
// membership tests of extractConstraints, and the tests of text the
// matching functions make (iequals, iin, istartsWith, iendsWith and their
// list forms, startsWith, endsWith, and wildcards with a literal start or
// end), at the top of a conjunction or common to every branch of a
// disjunction. Each constraint holds whenever the expression is true.
func indexConstraints(a *ast.AST) []Constraint {
	return indexOf(a.Expr())
}

func indexOf(e ast.Expr) []Constraint {
	return implied(e, mergeAll, func(e ast.Expr) []Constraint {
		if c, ok := constraintOf(e); ok {
			return []Constraint{c}
		}
		if c, ok := textConstraintOf(e.AsCall()); ok {
			return []Constraint{c}
		}
		return nil
	})
}

// implied collects the constraints an expression implies: those of both
// sides of a conjunction, what or makes of a disjunction's, and leaf's of
// any other call. The rewrites of missing_fields are seen through.
func implied(e ast.Expr, or func(l, r []Constraint) []Constraint, leaf func(call ast.Expr) []Constraint) []Constraint {
	if e.Kind() != ast.CallKind {
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	switch call.FunctionName() {
	case "_&&_":
		return append(implied(args[0], or, leaf), implied(args[1], or, leaf)...)
	case "_||_":
		return or(implied(args[0], or, leaf), implied(args[1], or, leaf))
	case celenv.FnFalseIfMissing:
		return implied(args[0], or, leaf)
	case "_?_:_":
		// c ? a : b is (c && a) || (!c && b); a literal false else
		// branch leaves the first alone.
		l := append(implied(args[0], or, leaf), implied(args[1], or, leaf)...)
		if lit, ok := literalBool(args[2]); ok && !lit {
			return l
		}
		return or(l, implied(args[2], or, leaf))
	}
	return leaf(e)
}

// mergeAll is what a disjunction implies: for every field both sides
// constrain, the field meets one of either side's tests.
func mergeAll(l, r []Constraint) []Constraint {
	var out []Constraint
	seen := map[string]bool{}
	for _, lc := range l {
		pk := string(event.AppendPathKey(nil, lc.Path))
		if seen[pk] {
			continue
		}
		var m *Constraint
		for _, c := range l {
			if slices.Equal(c.Path, lc.Path) {
				m = widen(m, c)
			}
		}
		var rm *Constraint
		for _, c := range r {
			if slices.Equal(c.Path, lc.Path) {
				rm = widen(rm, c)
			}
		}
		if rm == nil {
			continue
		}
		seen[pk] = true
		m.Values = append(m.Values, rm.Values...)
		slices.Sort(m.Values)
		m.Values = slices.Compact(m.Values)
		m.Text = append(m.Text, rm.Text...)
		out = append(out, *m)
	}
	return out
}

// widen picks one of a branch's constraints of a field: a conjunction
// implies each of them, so any is sound; the one with fewer tests tells
// more.
func widen(m *Constraint, c Constraint) *Constraint {
	if m == nil || len(c.Values)+len(c.Text) < len(m.Values)+len(m.Text) {
		return &Constraint{Path: c.Path, Values: slices.Clone(c.Values), Text: slices.Clone(c.Text)}
	}
	return m
}

// textConstraintOf reads a matching function with literal arguments
// called on an event field.
func textConstraintOf(call ast.CallExpr) (Constraint, bool) {
	if !call.IsMemberFunction() || len(call.Args()) != 1 {
		return Constraint{}, false
	}
	path, ok := celenv.EventPath(call.Target())
	if !ok {
		return Constraint{}, false
	}
	var lits []string
	arg := call.Args()[0]
	if l, ok := literalString(arg); ok {
		lits = []string{l}
	} else if arg.Kind() == ast.ListKind {
		for _, el := range arg.AsList().Elements() {
			l, ok := literalString(el)
			if !ok {
				return Constraint{}, false
			}
			lits = append(lits, l)
		}
	} else {
		return Constraint{}, false
	}
	var kind TextKind
	fold := true
	switch fn := call.FunctionName(); fn {
	case "iequals", "iin":
		kind = TextEqual
	case "istartsWith", "istartsWithAny":
		kind = TextPrefix
	case "iendsWith", "iendsWithAny":
		kind = TextSuffix
	case "startsWith":
		kind, fold = TextPrefix, false
	case "endsWith":
		kind, fold = TextSuffix, false
	case "wildcard", "wildcardCased":
		if len(lits) != 1 || arg.Kind() != ast.LiteralKind {
			return Constraint{}, false
		}
		w := celenv.CompileWildcard(lits[0], fn == "wildcardCased")
		lit, exact, prefix, suffix := w.Affixes()
		fold = !w.Cased()
		switch {
		case exact:
			kind, lits[0] = TextEqual, lit
		case len(prefix) >= len(suffix) && prefix != "":
			kind, lits[0] = TextPrefix, prefix
		case suffix != "":
			kind, lits[0] = TextSuffix, suffix
		default:
			return Constraint{}, false
		}
	default:
		return Constraint{}, false
	}
	c := Constraint{Path: path}
	for _, l := range lits {
		if l == "" && kind != TextEqual {
			// Every text starts and ends with nothing: no constraint.
			return Constraint{}, false
		}
		if fold {
			l = celenv.FoldKey(l)
		}
		c.Text = append(c.Text, TextMatch{Kind: kind, Fold: fold, Text: l})
	}
	return c, len(c.Text) > 0
}

// extractConstraints finds the equality and membership tests at the top of
// a conjunction: event.type == "auth" && event.mcc in ["6051", "7995"] && …
// A disjunction counts when every branch tests one field (a == "x" ||
// (a == "y" && b == 1)): the field is then one of the branches' values.
// The rewrites of missing_fields and lenient_numbers are seen through:
// false_if_missing(x) is true only when x is, and @num(a) == 4624 holds
// for the number and for its text.
func extractConstraints(a *ast.AST) []Constraint {
	return constraintsOf(a.Expr())
}

func constraintsOf(e ast.Expr) []Constraint {
	return implied(e, mergeOr, func(e ast.Expr) []Constraint {
		if c, ok := constraintOf(e); ok {
			return []Constraint{c}
		}
		return nil
	})
}

// mergeOr is what a disjunction implies: a field both sides constrain is
// one of either side's values.
func mergeOr(l, r []Constraint) []Constraint {
	var out []Constraint
	for _, lc := range l {
		for _, rc := range r {
			if slices.Equal(lc.Path, rc.Path) {
				vals := append(slices.Clone(lc.Values), rc.Values...)
				slices.Sort(vals)
				out = append(out, Constraint{Path: lc.Path, Values: slices.Compact(vals)})
				break
			}
		}
		if len(out) > 0 {
			// One field is enough to route by; the first common one.
			break
		}
	}
	return out
}

// constraintPath reads the field of a test: event.a.b, or @num(event.a.b)
// when lenient numbers apply.
func constraintPath(e ast.Expr) ([]string, bool, bool) {
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == celenv.FnNum {
		p, ok := celenv.EventPath(e.AsCall().Args()[0])
		return p, true, ok
	}
	p, ok := celenv.EventPath(e)
	return p, false, ok
}

// literalKeys are the keys a literal matches: a number also as its text
// when the field is read leniently.
func literalKeys(v ref.Val, lenient bool) ([]string, bool) {
	k, ok := literalKey(v)
	if !ok {
		return nil, false
	}
	keys := []string{k}
	if lenient {
		switch x := v.(type) {
		case types.Double, types.Int, types.Uint:
			f, _ := x.ConvertToType(types.DoubleType).(types.Double)
			sk, _ := valueKey(event.StringValue(event.NumberValue(float64(f)).Text()))
			keys = append(keys, sk)
		}
	}
	return keys, true
}

func constraintOf(e ast.Expr) (Constraint, bool) {
	if e.Kind() != ast.CallKind {
		return Constraint{}, false
	}
	call := e.AsCall()
	args := call.Args()
	switch call.FunctionName() {
	case "_==_":
		for _, p := range [][2]ast.Expr{{args[0], args[1]}, {args[1], args[0]}} {
			path, lenient, ok := constraintPath(p[0])
			if !ok || p[1].Kind() != ast.LiteralKind {
				continue
			}
			if ks, ok := literalKeys(p[1].AsLiteral(), lenient); ok {
				return Constraint{Path: path, Values: ks}, true
			}
		}
	case "@in":
		path, lenient, ok := constraintPath(args[0])
		if !ok || args[1].Kind() != ast.ListKind {
			return Constraint{}, false
		}
		var vals []string
		for _, el := range args[1].AsList().Elements() {
			if el.Kind() != ast.LiteralKind {
				return Constraint{}, false
			}
			ks, ok := literalKeys(el.AsLiteral(), lenient)
			if !ok {
				return Constraint{}, false
			}
			vals = append(vals, ks...)
		}
		if len(vals) > 0 {
			return Constraint{Path: path, Values: vals}, true
		}
	}
	return Constraint{}, false
}
