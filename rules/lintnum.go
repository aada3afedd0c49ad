package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/celenv"
)

// lintNumericStrings warns about an ordering comparison of an event field
// with a string literal that spells a number (event.amount > "5"). Fields
// are dynamic, so it type-checks; at run time a numeric field never
// orders against a string and the condition is quietly false, while a
// string field orders by text ("10" < "9").
func lintNumericStrings(el *yamlx.Errors, p *Program) {
	a := p.AST()
	if a == nil {
		return
	}
	info := a.SourceInfo()
	ast.PostOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.CallKind {
			return
		}
		call := e.AsCall()
		switch call.FunctionName() {
		case "_<_", "_<=_", "_>_", "_>=_":
		default:
			return
		}
		args := call.Args()
		for i := range 2 {
			path, ok := celenv.EventPath(args[i])
			if !ok || args[1-i].Kind() != ast.LiteralKind {
				continue
			}
			s, ok := args[1-i].AsLiteral().(types.String)
			if !ok {
				continue
			}
			if _, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64); err != nil {
				continue
			}
			pos := p.Expr.Pos
			if loc := info.GetStartLocation(args[1-i].ID()); loc.Line() > 0 {
				pos = p.Expr.PosAt(celenv.ByteOffset(p.Expr.Text, loc.Line(), loc.Column()))
			}
			el.List = append(el.List, &yamlx.Error{Pos: pos, Warning: true, Snippet: yamlx.Snippet(el.Src, pos),
				Msg: fmt.Sprintf("event.%s is compared with the string %q: a number never orders against a string, so this is false when the field is a number; write %s without quotes (or double(event.%s) to convert a string field)", strings.Join(path, "."), string(s), strings.TrimSpace(string(s)), strings.Join(path, "."))})
		}
	}))
}
