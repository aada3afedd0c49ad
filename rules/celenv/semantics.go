package celenv

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// Semantics are the per-rule choices that change how a condition reads
// event data. They are applied by rewriting the checked expression, so CEL
// and the fast path see the same rewritten expression.
type Semantics struct {
	// FalseIfMissing makes a test of a missing field false, and so its
	// negation true, as in Sigma and EQL: a condition's atoms (anything
	// but &&, ||, ! and the test and branches of ?:) whose evaluation
	// fails because a field is missing count as false. x != y on a
	// missing field is true: it is !(x == y).
	FalseIfMissing bool
	// LenientNumbers lets a string field holding a number's canonical text
	// compare with number literals as that number ("4624" == 4624).
	LenientNumbers bool
}

// Apply rewrites a checked expression of a bool condition for s; it
// returns a as it is when s asks for nothing.
func (s Semantics) Apply(env *cel.Env, a *cel.Ast) (*cel.Ast, error) {
	if !s.FalseIfMissing && !s.LenientNumbers {
		return a, nil
	}
	return optimize(env, a, rewriter{s})
}

// optimize applies one AST rewrite and type-checks the result.
func optimize(env *cel.Env, a *cel.Ast, o cel.ASTOptimizer) (*cel.Ast, error) {
	opt, err := cel.NewStaticOptimizer(o)
	if err != nil {
		return nil, err
	}
	out, iss := opt.Optimize(env, a)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	return out, nil
}

type rewriter struct{ s Semantics }

func (r rewriter) Optimize(ctx *cel.OptimizerContext, a *ast.AST) *ast.AST {
	root := a.Expr()
	if r.s.LenientNumbers {
		ast.PostOrderVisit(root, ast.NewExprVisitor(func(e ast.Expr) { r.lenient(ctx, e) }))
	}
	if r.s.FalseIfMissing {
		r.atoms(ctx, root)
	}
	return ctx.NewAST(root)
}

// atoms wraps each atom below the logical operators.
func (r rewriter) atoms(ctx *cel.OptimizerContext, e ast.Expr) {
	if e.Kind() == ast.CallKind {
		call := e.AsCall()
		switch call.FunctionName() {
		case "_&&_", "_||_", "!_", "_?_:_":
			// A condition chosen by ?: is a condition too: its test
			// and both branches are rewritten, so a missing field in
			// the test picks the else branch.
			for _, arg := range call.Args() {
				r.atoms(ctx, arg)
			}
			return
		case FnFalseIfMissing:
			return
		case "_!=_":
			// x != y is !(x == y), so that it is true on a missing field.
			args := call.Args()
			eq := ctx.NewCall("_==_", args[0], args[1])
			e.SetKindCase(ctx.NewCall("!_", ctx.NewCall(FnFalseIfMissing, eq)))
			return
		}
	}
	if e.Kind() == ast.LiteralKind {
		return
	}
	wrap(ctx, e, FnFalseIfMissing)
}

// wrap turns e into fn(e) in place. The original moves to a new node that
// shares its children (copying the subtree, as UpdateExpr callers do,
// renumbers the whole source map per atom: quadratic in a rule's size),
// and takes e's position and macro record along.
func wrap(ctx *cel.OptimizerContext, e ast.Expr, fn string) {
	inner := ctx.NewIdent("_")
	inner.SetKindCase(e)
	info := ctx.NewAST(e).SourceInfo()
	if r, ok := info.GetOffsetRange(e.ID()); ok {
		info.SetOffsetRange(inner.ID(), r)
	}
	if m, ok := info.GetMacroCall(e.ID()); ok {
		info.SetMacroCall(inner.ID(), m)
		info.ClearMacroCall(e.ID())
	}
	e.SetKindCase(ctx.NewCall(fn, inner))
}

// lenient wraps the non-literal side of a comparison with a number literal
// (or a membership test in a list of number literals) in @num.
func (r rewriter) lenient(ctx *cel.OptimizerContext, e ast.Expr) {
	if e.Kind() != ast.CallKind {
		return
	}
	call := e.AsCall()
	args := call.Args()
	num := func(x ast.Expr) {
		if x.Kind() == ast.CallKind && x.AsCall().FunctionName() == FnNum {
			return
		}
		wrap(ctx, x, FnNum)
	}
	switch call.FunctionName() {
	case "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_":
		switch {
		case isNumberLiteral(args[1]) && args[0].Kind() != ast.LiteralKind:
			num(args[0])
		case isNumberLiteral(args[0]) && args[1].Kind() != ast.LiteralKind:
			num(args[1])
		}
	case "@in":
		if args[1].Kind() != ast.ListKind || args[0].Kind() == ast.LiteralKind {
			return
		}
		elems := args[1].AsList().Elements()
		for _, el := range elems {
			if !isNumberLiteral(el) {
				return
			}
		}
		if len(elems) > 0 {
			num(args[0])
		}
	}
}

func isNumberLiteral(e ast.Expr) bool {
	if e.Kind() != ast.LiteralKind {
		return false
	}
	switch e.AsLiteral().(type) {
	case types.Int, types.Uint, types.Double:
		return true
	}
	return false
}
