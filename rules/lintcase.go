package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/celenv"
)

// CaseFields tells which raw fields of some streams their source compares
// without case (a field mapping's case_insensitive list).
type CaseFields interface {
	MappingName() string
	Streams() []string
	IsCaseInsensitive(path string) bool
}

// LintCase warns about case-sensitive string comparisons (==, !=, in,
// startsWith, endsWith, contains, matches without (?i), wildcardCased) of
// fields a mapping marks case-insensitive, in rules that read the
// mapping's streams (or every stream). Windows paths, registry keys and
// channels differ in case between sources: such a comparison can load and
// silently never fire.
func LintCase(set *Set, maps ...CaseFields) []error {
	var out []error
	for _, r := range set.Rules {
		var applicable []CaseFields
		for _, m := range maps {
			if len(r.Streams) == 0 || slices.ContainsFunc(m.Streams(), r.ReadsStream) {
				applicable = append(applicable, m)
			}
		}
		if len(applicable) == 0 {
			continue
		}
		el := &yamlx.Errors{File: r.File, Src: r.Spec.Source}
		for _, p := range r.conditions() {
			lintCaseProgram(el, p, applicable)
		}
		out = append(out, el.List...)
	}
	return out
}

func lintCaseProgram(el *yamlx.Errors, p *Program, maps []CaseFields) {
	a := p.AST()
	if a == nil {
		return
	}
	info := a.SourceInfo()
	warn := func(e ast.Expr, path []string, how string) {
		dotted := strings.Join(path, ".")
		for _, m := range maps {
			if !m.IsCaseInsensitive(dotted) {
				continue
			}
			pos := p.Expr.Pos
			if loc := info.GetStartLocation(e.ID()); loc.Line() > 0 {
				pos = p.Expr.PosAt(celenv.ByteOffset(p.Expr.Text, loc.Line(), loc.Column()))
			}
			el.List = append(el.List, &yamlx.Error{Pos: pos, Warning: true, Snippet: yamlx.Snippet(el.Src, pos),
				Msg: fmt.Sprintf("%s compares event.%s with case, but mapping %s marks it case-insensitive: use %s", how, dotted, m.MappingName(), caseFix(how))})
			return
		}
	}
	isString := func(e ast.Expr) bool {
		if e.Kind() == ast.LiteralKind {
			_, ok := e.AsLiteral().(types.String)
			return ok
		}
		if e.Kind() == ast.ListKind {
			for _, x := range e.AsList().Elements() {
				if x.Kind() != ast.LiteralKind {
					return false
				}
				if _, ok := x.AsLiteral().(types.String); !ok {
					return false
				}
			}
			return true
		}
		return false
	}
	ast.PostOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.CallKind {
			return
		}
		call := e.AsCall()
		args := call.Args()
		switch fn := call.FunctionName(); fn {
		case "_==_", "_!=_":
			for _, pair := range [][2]ast.Expr{{args[0], args[1]}, {args[1], args[0]}} {
				if path, ok := celenv.EventPath(pair[0]); ok && isString(pair[1]) {
					warn(e, path, strings.Trim(fn, "_"))
				}
			}
		case "@in":
			if path, ok := celenv.EventPath(args[0]); ok && isString(args[1]) {
				warn(e, path, "in")
			}
		case "startsWith", "endsWith", "contains", "wildcardCased", "matches":
			if !call.IsMemberFunction() || len(args) != 1 {
				return
			}
			target := call.Target()
			if target.Kind() == ast.CallKind && target.AsCall().FunctionName() == "string" && len(target.AsCall().Args()) == 1 {
				target = target.AsCall().Args()[0] // string(event.x).matches(...)
			}
			path, ok := celenv.EventPath(target)
			if !ok || !isString(args[0]) {
				return
			}
			if fn == "matches" {
				re := string(args[0].AsLiteral().(types.String))
				if strings.HasPrefix(re, "(?i)") || strings.Contains(re, "(?i") {
					return
				}
			}
			warn(e, path, fn)
		}
	}))
}

func caseFix(how string) string {
	switch how {
	case "==", "!=":
		return "iequals (or iin for a list)"
	case "in":
		return "iin"
	case "startsWith":
		return "istartsWith"
	case "endsWith":
		return "iendsWith"
	case "contains":
		return "icontains"
	case "wildcardCased":
		return "wildcard"
	}
	return "a (?i) pattern"
}
