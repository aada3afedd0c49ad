package celenv

import (
	"regexp"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
)

// regexLiterals checks the literal pattern of every matches call when the
// rule loads, as cel.ValidateRegexLiterals does, but says why a pattern is
// refused: "invalid matches argument" alone left analysts guessing that
// RE2 caps a repeat count at 1000.
type regexLiterals struct{}

func (regexLiterals) Name() string { return "cep.validator.matches" }

func (regexLiterals) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	for _, call := range ast.MatchDescendants(ast.NavigateAST(a), ast.FunctionMatcher("matches")) {
		c := call.AsCall()
		args := c.Args()
		// s.matches(re) carries re as its only argument; matches(s, re)
		// as its second.
		i := 1
		if c.IsMemberFunction() {
			i = 0
		}
		if len(args) <= i || args[i].Kind() != ast.LiteralKind {
			continue
		}
		pattern, ok := args[i].AsLiteral().Value().(string)
		if !ok {
			continue
		}
		if _, err := regexp.Compile(pattern); err != nil {
			iss.ReportErrorAtID(args[i].ID(), "invalid regular expression %q: %v (RE2 syntax: no backreferences or lookaround, repeat counts at most 1000)", pattern, err)
		}
	}
}
