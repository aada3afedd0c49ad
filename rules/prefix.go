package rules

import (
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/rulefmt"
)

// eventPrefix returns what a sequence step's where asks of the event
// alone: the conjuncts of its top-level && that name no variable but
// event and read no facts, compiled as one condition in the scope s of
// the where. Where that condition is false, so is the where, whatever
// the partial match (CEL's && is false when any side is), and the
// matcher asks it once an event (nfa.Step.Pre). It is nil when no
// conjunct, or every one, reads the event alone (the where is then the
// matcher's to decide once an event), or when the condition has no
// native form: it is only ever decided from that, without side effects
// or errors (Program.DecideEvent), so an error in it leaves the where to
// answer, and report, as without it.
func (c *Compiler) eventPrefix(env *cel.Env, e rulefmt.Expr, h *Health, s scope) *Program {
	pa, iss := env.Parse(e.Text)
	if iss != nil && iss.Err() != nil {
		return nil
	}
	na := pa.NativeRep()
	var conj []ast.Expr
	var flatten func(x ast.Expr)
	flatten = func(x ast.Expr) {
		if x.Kind() == ast.CallKind && x.AsCall().FunctionName() == operators.LogicalAnd {
			for _, a := range x.AsCall().Args() {
				flatten(a)
			}
			return
		}
		conj = append(conj, x)
	}
	flatten(na.Expr())
	var texts []string
	for _, x := range conj {
		if celenv.NamesOtherThanEvent(x) || callsFacts(x) {
			continue
		}
		t, err := cel.ExprToString(x, na.SourceInfo())
		if err != nil {
			return nil
		}
		texts = append(texts, "("+t+")")
	}
	if len(texts) == 0 || len(texts) == len(conj) {
		return nil
	}
	// The conjuncts were checked as part of the where; whatever fails
	// here only costs the shortcut.
	var discard yamlx.Errors
	p := c.compileOnce(&discard, env, rulefmt.Expr{Text: strings.Join(texts, " && "), Pos: e.Pos}, cel.BoolType, "where", h, s)
	if p == nil || !p.native() {
		return nil
	}
	return p
}
