package rules

import (
	"regexp"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/internal/yamlx"
)

// ATT&CK tags: attack.t1110, attack.t1110.003 (techniques), attack.ta0006
// (tactics), attack.s0154 / attack.g0016 (software, groups) or a tactic
// name such as attack.credential_access.
var (
	attackID     = regexp.MustCompile(`^attack\.(t\d{4}(\.\d{3})?|ta\d{4}|s\d{4}|g\d{4}|m\d{4}|ds\d{4}|c\d{4})$`)
	attackTactic = map[string]bool{
		"reconnaissance": true, "resource_development": true, "initial_access": true, "execution": true,
		"persistence": true, "privilege_escalation": true, "defense_evasion": true, "credential_access": true,
		"discovery": true, "lateral_movement": true, "collection": true, "command_and_control": true,
		"exfiltration": true, "impact": true,
		// ATT&CK v18 split defense evasion into stealth and defense
		// impairment; Sigma tags rules with both.
		"stealth": true, "defense_impairment": true,
	}
)

// Lint returns warnings about rules that load but are likely wrong or
// unmaintained: no tests, conditions that are constant, malformed ATT&CK
// tags, deprecated rules. Load errors are in set.Errors already.
func (c *Compiler) Lint(set *Set) []error {
	tested := map[string]bool{}
	allTested := map[string]bool{} // directories whose test files cover every rule
	for _, tf := range set.TestFiles {
		if len(tf.Rules) == 0 && len(tf.Tests) > 0 {
			allTested[dirOf(tf.Path)] = true
		}
		for _, id := range tf.Rules {
			if len(tf.Tests) > 0 {
				tested[id] = true
			}
		}
	}
	var out []error
	for _, r := range set.Rules {
		el := &yamlx.Errors{File: r.File, Src: r.Spec.Source}
		p := r.Spec.Pos
		if len(r.Tests) == 0 && !tested[r.ID] && !allTested[dirOf(r.File)] {
			el.Warn(p.Line, p.Col, "rule %s has no tests: add tests: with events that must and must not fire", r.ID)
		}
		if r.Status == "deprecated" {
			el.Warn(p.Line, p.Col, "rule %s is deprecated: it still runs; remove it or set another status", r.ID)
		}
		for i, t := range r.Tags {
			tp := p
			if i < len(r.Spec.TagPos) {
				tp = r.Spec.TagPos[i]
			}
			if strings.HasPrefix(t, "attack.") && !attackID.MatchString(t) && !attackTactic[strings.TrimPrefix(t, "attack.")] {
				el.Warn(tp.Line, tp.Col, "tag %q is not an ATT&CK id (attack.t1110, attack.t1110.003, attack.ta0006) or tactic (attack.credential_access)", t)
			}
			switch strings.ToLower(t) {
			case "info", "low", "medium", "high", "critical":
				el.Warn(tp.Line, tp.Col, "tag %q names a severity: set severity: %s instead", t, strings.ToLower(t))
			}
		}
		for _, prog := range r.conditions() {
			if v, ok := c.constant(prog); ok {
				el.Warn(prog.Expr.Pos.Line, prog.Expr.Pos.Col, "this condition is always %v: %s", v, prog.Expr.Text)
			}
			lintNumericStrings(el, prog)
		}
		out = append(out, el.List...)
	}
	return out
}

func dirOf(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[:i]
	}
	return "."
}

// conditions lists the boolean expressions of a rule.
func (r *Rule) conditions() []*Program {
	out := r.eventConditions()
	if a := r.Aggregate; a != nil && a.Having != nil {
		out = append(out, a.Having)
	}
	return out
}

// eventConditions lists the boolean expressions a rule evaluates over
// events: all but having, which sees only measures.
func (r *Rule) eventConditions() []*Program {
	var out []*Program
	for _, ref := range r.eventConditionRefs() {
		if *ref != nil {
			out = append(out, *ref)
		}
	}
	return out
}

// eventConditionRefs points at the rule's fields holding its event
// conditions, set or not, so that Compact can replace them.
func (r *Rule) eventConditionRefs() []**Program {
	out := []**Program{&r.Match}
	if q := r.Sequence; q != nil {
		out = append(out, &q.Until)
		for i := range q.Steps {
			out = append(out, &q.Steps[i].Where, &q.Steps[i].Until)
		}
	}
	if a := r.Aggregate; a != nil {
		out = append(out, &a.Where)
	}
	if j := r.Join; j != nil {
		for i := range j.Sides {
			out = append(out, &j.Sides[i].Where)
		}
	}
	return out
}

// constant folds an expression and reports its value when it no longer
// depends on anything.
func (c *Compiler) constant(p *Program) (bool, bool) {
	if p.ast == nil {
		return false, false
	}
	folder, err := cel.NewConstantFoldingOptimizer()
	if err != nil {
		return false, false
	}
	opt, err := cel.NewStaticOptimizer(folder)
	if err != nil {
		return false, false
	}
	env := c.base
	folded, iss := opt.Optimize(env, p.ast)
	if iss != nil && iss.Err() != nil {
		// The expression refers to variables of a wider scope (steps,
		// measures); fold its literal structure alone.
		return literalBool(p.ast.NativeRep().Expr())
	}
	return literalBool(folded.NativeRep().Expr())
}

func literalBool(e ast.Expr) (bool, bool) {
	if e.Kind() != ast.LiteralKind {
		return false, false
	}
	b, ok := e.AsLiteral().(types.Bool)
	return bool(b), ok
}
