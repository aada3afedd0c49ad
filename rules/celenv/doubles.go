package celenv

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// DoubleLiterals rewrites, in a parsed expression, each integer literal
// that is an operand of an arithmetic or comparison operator beside a
// double operand (a variable named in doubles, or arithmetic on one) into the equal double literal. Measures such
// as sum and avg are doubles, and CEL has no overload of == or + for a
// double and an int, so `having: bad == 3` would not type-check although
// an analyst plainly means 3.0. Only literals next to such a variable
// change: an int measure (count) keeps comparing with ints.
func DoubleLiterals(env *cel.Env, a *cel.Ast, doubles []string) (*cel.Ast, error) {
	if len(doubles) == 0 {
		return a, nil
	}
	return optimize(env, a, doubleLiterals(doubles))
}

type doubleLiterals []string

func (d doubleLiterals) Optimize(ctx *cel.OptimizerContext, a *ast.AST) *ast.AST {
	ast.PostOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.CallKind {
			return
		}
		call := e.AsCall()
		switch call.FunctionName() {
		case "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "_+_", "_-_", "_*_", "_/_":
		default:
			return
		}
		args := call.Args()
		if len(args) != 2 {
			return
		}
		for i, x := range args {
			if d.isDouble(args[1-i]) {
				toDouble(ctx, x)
			}
		}
	}))
	return ctx.NewAST(a.Expr())
}

// isDouble tells whether e is plainly a double: a double variable or
// literal, or arithmetic with such an operand (`bad * 2 == 16`).
func (d doubleLiterals) isDouble(e ast.Expr) bool {
	switch e.Kind() {
	case ast.IdentKind:
		for _, n := range d {
			if e.AsIdent() == n {
				return true
			}
		}
	case ast.LiteralKind:
		_, ok := e.AsLiteral().(types.Double)
		return ok
	case ast.CallKind:
		switch e.AsCall().FunctionName() {
		case "_+_", "_-_", "_*_", "_/_":
			for _, x := range e.AsCall().Args() {
				if d.isDouble(x) {
					return true
				}
			}
		}
	}
	return false
}

func toDouble(ctx *cel.OptimizerContext, e ast.Expr) {
	if e.Kind() != ast.LiteralKind {
		return
	}
	var f float64
	switch v := e.AsLiteral().(type) {
	case types.Int:
		f = float64(v)
	case types.Uint:
		f = float64(v)
	default:
		return
	}
	e.SetKindCase(ctx.NewLiteral(types.Double(f)))
}
