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
// A disjunction of tests on one field (a == "x" || a == "y") counts too.
func extractConstraints(a *ast.AST) []Constraint {
	var out []Constraint
	var walk func(e ast.Expr)
	walk = func(e ast.Expr) {
		if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == "_&&_" {
			for _, arg := range e.AsCall().Args() {
				walk(arg)
			}
			return
		}
		if c, ok := constraintOf(e); ok {
			out = append(out, c)
		}
	}
	walk(a.Expr())
	return out
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
			path, ok := celenv.EventPath(p[0])
			if !ok || p[1].Kind() != ast.LiteralKind {
				continue
			}
			if k, ok := literalKey(p[1].AsLiteral()); ok {
				return Constraint{Path: path, Values: []string{k}}, true
			}
		}
	case "@in":
		path, ok := celenv.EventPath(args[0])
		if !ok || args[1].Kind() != ast.ListKind {
			return Constraint{}, false
		}
		var vals []string
		for _, el := range args[1].AsList().Elements() {
			if el.Kind() != ast.LiteralKind {
				return Constraint{}, false
			}
			k, ok := literalKey(el.AsLiteral())
			if !ok {
				return Constraint{}, false
			}
			vals = append(vals, k)
		}
		if len(vals) > 0 {
			return Constraint{Path: path, Values: vals}, true
		}
	case "_||_":
		l, ok1 := constraintOf(args[0])
		r, ok2 := constraintOf(args[1])
		if ok1 && ok2 && slices.Equal(l.Path, r.Path) {
			return Constraint{Path: l.Path, Values: append(l.Values, r.Values...)}, true
		}
	}
	return Constraint{}, false
}
