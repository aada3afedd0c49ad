package rules

import (
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/rulefmt"
)

// Compact readies loaded rules for a long run; call it once, after Lint
// and before the rules are shared with the engine.
//
// It releases what only loading and linting read: the checked syntax
// trees, and all of the parsed rule file (Spec) but where the rule is and
// whether it emits. It leaves the cel-go program of an expression that a native
// predicate or a plain field read answers to be built again when first
// needed (to word an error, or under an activation the native form does
// not take). Together that is three fifths of a compiled rule.
//
// And it builds the native predicates of the conditions tested on every
// event once more, rule after rule, so that each rule's lie together in
// memory, not among the compiler's garbage. With 10,000 rules an
// event's candidate rule is a random one, and a test that reaches into a
// dozen scattered pages waits on a cache and TLB miss at each: 1.0–1.5 µs
// against 0.33–0.66 µs compacted (BenchmarkCandidateTest).
//
// After Compact, Lint and LintCase find nothing more to say about the
// rules' expressions, and AST returns nil.
func Compact(rs []*Rule) {
	for _, r := range rs {
		if s := r.Spec; s != nil {
			// A run reads of its rule file only where the rule is (to
			// place a failure) and whether it emits; the rest, the file's
			// text among it, is for lint and import, which do not compact.
			r.Spec = &rulefmt.Spec{Pos: s.Pos, Alert: rulefmt.AlertSpec{Emit: s.Alert.Emit}}
		}
		for _, ref := range r.eventConditionRefs() {
			p := *ref
			if p == nil || p.ast == nil {
				continue
			}
			np := new(Program)
			*np = *p
			if p.fast != nil {
				np.fast = celenv.FastPredicate(p.ast.NativeRep().Expr())
			}
			*ref = np
		}
		for _, p := range append(r.programs(), r.conditions()...) {
			p.ast = nil
			if (p.fast != nil || p.path != nil) && p.rebuild != nil {
				p.cel = &celProgram{build: p.rebuild}
			}
		}
	}
}
