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
// Path must equal one of Values. The engine indexes rules by it, so an event
// is evaluated only against rules it could match.
type Constraint struct {
	Path   []string
	Values []string // in the form of ValueKey
}

// valueKey renders a scalar so that values CEL considers equal render the
// same: numbers as numbers whatever their CEL type, strings and booleans
// tagged so that "1" and 1 differ. ok is false for values an index cannot
// hold (null, objects, arrays).
func valueKey(v event.Value) (string, bool) {
	b, ok := AppendValueKey(nil, v)
	return string(b), ok
}

// AppendValueKey appends the valueKey of v to b, so that a caller looking
// keys up in a map (m[string(b)]) allocates nothing per event.
func AppendValueKey(b []byte, v event.Value) ([]byte, bool) {
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
	if e.Kind() != ast.CallKind {
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	switch call.FunctionName() {
	case "_&&_":
		return append(constraintsOf(args[0]), constraintsOf(args[1])...)
	case "_||_":
		return mergeOr(constraintsOf(args[0]), constraintsOf(args[1]))
	case celenv.FnFalseIfMissing:
		return constraintsOf(args[0])
	case "_?_:_":
		// c ? a : b is (c && a) || (!c && b); a literal false else
		// branch leaves the first alone.
		l := append(constraintsOf(args[0]), constraintsOf(args[1])...)
		if lit, ok := literalBool(args[2]); ok && !lit {
			return l
		}
		return mergeOr(l, constraintsOf(args[2]))
	}
	if c, ok := constraintOf(e); ok {
		return []Constraint{c}
	}
	return nil
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
