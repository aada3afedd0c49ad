package rules

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/celenv"
)

// FactRef is a call of seen, fact or context in a rule, with the name it
// reads and where that name is written.
type FactRef struct {
	Func, Name string
	Pos        yamlx.Pos
}

// FactRefs returns the rule's calls of seen, fact and context.
func (r *Rule) FactRefs() []FactRef {
	var out []FactRef
	for _, p := range r.programs() {
		if p == nil || p.ast == nil {
			continue
		}
		na := p.ast.NativeRep()
		info := na.SourceInfo()
		ast.PostOrderVisit(na.Expr(), ast.NewExprVisitor(func(x ast.Expr) {
			if x.Kind() != ast.CallKind || !celenv.FactFunctions[x.AsCall().FunctionName()] {
				return
			}
			args := x.AsCall().Args()
			if len(args) == 0 || args[0].Kind() != ast.LiteralKind {
				return
			}
			name, ok := args[0].AsLiteral().(types.String)
			if !ok {
				return
			}
			loc := info.GetStartLocation(args[0].ID())
			out = append(out, FactRef{Func: x.AsCall().FunctionName(), Name: string(name), Pos: p.Expr.PosAt(celenv.ByteOffset(p.Expr.Text, loc.Line(), loc.Column()))})
		}))
	}
	return out
}

// CallsFacts reports whether the expression calls seen, fact or context:
// its answer may change as rules remember facts, so it depends on more
// than the event.
func (p *Program) CallsFacts() bool { return p != nil && p.callsFacts }

func callsFacts(e ast.Expr) bool {
	calls := false
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() == ast.CallKind && celenv.FactFunctions[x.AsCall().FunctionName()] {
			calls = true
		}
	}))
	return calls
}

// KnownFacts are the names seen, fact and context may read.
type KnownFacts struct {
	// Sets and Hashes are facts remembered elsewhere (by the rules of
	// another process sharing the Redis), beside those the rules linted
	// remember themselves.
	Sets, Hashes []string
	// Contexts are the configured contexts; CheckContexts says whether
	// they are known (a config was given).
	Contexts      []string
	CheckContexts bool
}

// LintFacts reports every seen and fact whose name no rule of the set
// remembers (nor known declares), with the right kind, and every context
// the configuration does not name.
func LintFacts(set *Set, known KnownFacts) []error {
	sets, hashes := map[string]bool{}, map[string]bool{}
	for _, n := range known.Sets {
		sets[n] = true
	}
	for _, n := range known.Hashes {
		hashes[n] = true
	}
	for _, r := range set.Rules {
		for _, m := range r.Remember {
			if m.Kind == facts.Set {
				sets[m.Name] = true
			} else {
				hashes[m.Name] = true
			}
		}
	}
	names := func(m map[string]bool) string {
		var l []string
		for n := range m {
			l = append(l, n)
		}
		if len(l) == 0 {
			return "none"
		}
		sort.Strings(l)
		return strings.Join(l, ", ")
	}
	var out []error
	for _, r := range set.Rules {
		for _, ref := range r.FactRefs() {
			var msg string
			switch ref.Func {
			case "seen":
				switch {
				case sets[ref.Name]:
				case hashes[ref.Name]:
					msg = fmt.Sprintf("seen(%q): %s is remembered as a hash; read it with fact", ref.Name, ref.Name)
				default:
					msg = fmt.Sprintf("seen(%q): no rule remembers a set named %q (remembered sets: %s; declare facts other processes remember under facts.shared in the config)", ref.Name, ref.Name, names(sets))
				}
			case "fact":
				switch {
				case hashes[ref.Name]:
				case sets[ref.Name]:
					msg = fmt.Sprintf("fact(%q): %s is remembered as a set; ask it with seen", ref.Name, ref.Name)
				default:
					msg = fmt.Sprintf("fact(%q): no rule remembers a hash named %q (remembered hashes: %s; declare facts other processes remember under facts.shared in the config)", ref.Name, ref.Name, names(hashes))
				}
			case "context":
				if known.CheckContexts && !slices.Contains(known.Contexts, ref.Name) {
					ctx := map[string]bool{}
					for _, c := range known.Contexts {
						ctx[c] = true
					}
					msg = fmt.Sprintf("context(%q): the config names no such context (contexts: %s)", ref.Name, names(ctx))
				}
			}
			if msg != "" {
				out = append(out, &yamlx.Error{Pos: ref.Pos, Msg: msg, Snippet: yamlx.Snippet(r.Spec.Source, ref.Pos)})
			}
		}
	}
	return out
}

// CallsFacts reports whether any expression of the rule calls seen, fact
// or context, so that what it does with an event may depend on what other
// events made rules remember.
func (r *Rule) CallsFacts() bool {
	for _, p := range r.programs() {
		if p.CallsFacts() {
			return true
		}
	}
	return false
}
