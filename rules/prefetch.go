package rules

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/rulefmt"
)

// prefetchCall is a call of seen, fact or context in a rule's condition
// whose arguments depend on the event alone, so that what it will look
// up can be computed before the condition runs.
type prefetchCall struct {
	lookup facts.Lookup // Kind, Context and Name
	// args are the key (the id of a context) and, for seen, the member.
	args []*Program
}

// prefetchCalls finds the calls of the rule's conditions that can be
// prefetched. Alert fields are left out: they run for the few events that
// alert, and prefetching them would cost a lookup for every event.
func (c *Compiler) prefetchCalls(r *Rule) []prefetchCall {
	var conds []*Program
	for _, p := range r.eventConditions() {
		if p.ast != nil {
			conds = append(conds, p)
		}
	}
	var out []prefetchCall
	for _, p := range conds {
		na := p.ast.NativeRep()
		info := na.SourceInfo()
		ast.PostOrderVisit(na.Expr(), ast.NewExprVisitor(func(x ast.Expr) {
			if x.Kind() != ast.CallKind {
				return
			}
			call := x.AsCall()
			fn := call.FunctionName()
			if !celenv.FactFunctions[fn] {
				return
			}
			args := call.Args()
			if len(args) < 2 || args[0].Kind() != ast.LiteralKind {
				return
			}
			name, ok := args[0].AsLiteral().(types.String)
			if !ok {
				return
			}
			pc := prefetchCall{lookup: facts.Lookup{Name: string(name)}}
			n := 1
			switch fn {
			case "seen":
				pc.lookup.Kind, n = facts.Set, 2
			case "fact":
				pc.lookup.Kind = facts.Hash
			case "context":
				pc.lookup.Context = true
			}
			if len(args) < 1+n {
				return
			}
			for _, a := range args[1 : 1+n] {
				prg := c.eventOnly(a, info, p)
				if prg == nil {
					return
				}
				pc.args = append(pc.args, prg)
			}
			out = append(out, pc)
		}))
	}
	return out
}

// eventOnly compiles a sub-expression that reads nothing but event, or
// returns nil.
func (c *Compiler) eventOnly(x ast.Expr, info *ast.SourceInfo, p *Program) *Program {
	text, err := cel.ExprToString(x, info)
	if err != nil {
		return nil
	}
	el := &yamlx.Errors{}
	h := &Health{Rule: p.health.Rule, logger: c.opts.Logger}
	return c.compile(el, c.base, rulefmt.InlineExpr(text, p.Expr.Pos), nil, "a fact's key", h, scope{})
}

// prefetcher is a facts store that reads a batch of lookups at once.
type prefetcher interface {
	Prefetch(ls []facts.Lookup) error
}

// FactPrefetch returns a function that reads, in one pipelined round trip
// per store, what the conditions of rs will look up with seen, fact and
// context for a batch of events, so that evaluating them finds the answers
// in the store's cache; nil when there is nothing to prefetch (no rule
// reads facts, or the stores answer from memory).
func FactPrefetch(rs []*Rule) func(evs []*event.Event) {
	type ruleCalls struct {
		r     *Rule
		calls []prefetchCall
	}
	byStore := map[prefetcher][]ruleCalls{}
	for _, r := range rs {
		if len(r.prefetch) == 0 || r.env == nil {
			continue
		}
		if p, ok := r.env.Facts().(prefetcher); ok {
			byStore[p] = append(byStore[p], ruleCalls{r, r.prefetch})
		}
	}
	if len(byStore) == 0 {
		return nil
	}
	var act Activation
	var ls []facts.Lookup
	seen := map[facts.Lookup]bool{}
	var vals [2]string
	return func(evs []*event.Event) {
		for store, rcs := range byStore {
			ls = ls[:0]
			clear(seen)
			for _, ev := range evs {
				bound := false
				for _, rc := range rcs {
					if !rc.r.ReadsStream(ev.Stream) {
						continue
					}
				calls:
					for _, pc := range rc.calls {
						for i, a := range pc.args {
							var v ref.Val
							if a.path != nil {
								fv, ok := ev.Path(a.path...)
								if !ok {
									continue calls
								}
								v = types.DefaultTypeAdapter.NativeToValue(celenv.NativeValue(fv))
							} else {
								if !bound {
									act.Reset()
									act.BindEvent(ev)
									bound = true
								}
								rv, _, err := a.celEval(&act)
								if err != nil {
									continue calls
								}
								v = rv
							}
							s, ok, _ := celenv.FactText(v)
							if !ok {
								continue calls
							}
							vals[i] = s
						}
						l := pc.lookup
						l.Key = vals[0]
						if l.Kind == facts.Set && !l.Context {
							l.Member = vals[1]
						}
						if !seen[l] {
							seen[l] = true
							ls = append(ls, l)
						}
					}
				}
			}
			if len(ls) > 0 {
				// A failure is met again, and handled as on_error
				// says, when the condition looks the fact up.
				_ = store.Prefetch(ls)
			}
		}
	}
}
