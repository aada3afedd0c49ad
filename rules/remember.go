package rules

import (
	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/rulefmt"
)

// Remember is a compiled remember: entry, a fact the rule records when it
// produces an alert.
type Remember struct {
	Kind       facts.Kind
	Name       string
	Key, Value *Program
	Spec       *rulefmt.RememberSpec
}

// compileRemember compiles the rule's remember: entries in the scope of
// its alert fields: they see what the fields see (event, the steps, the
// join sides, the measures).
func (c *Compiler) compileRemember(el *yamlx.Errors, s *rulefmt.Spec, r *Rule, fields scope) {
	if len(s.Remember) == 0 {
		return
	}
	fenv, err := c.env(fields)
	if err != nil {
		el.Add(s.Remember[0].Pos.Line, s.Remember[0].Pos.Col, "building the scope of remember: %v", err)
		return
	}
	for i := range s.Remember {
		sp := &s.Remember[i]
		m := Remember{Kind: facts.Set, Name: sp.Set, Spec: sp}
		if sp.Hash != "" {
			m.Kind, m.Name = facts.Hash, sp.Hash
		}
		m.Key = c.compile(el, fenv, sp.Key, nil, "remember key", r.Health, fields)
		m.Value = c.compile(el, fenv, sp.Value, nil, "remember value", r.Health, fields)
		r.Remember = append(r.Remember, m)
	}
}

// UseFacts makes the rules rs (and every rule compiled with theirs)
// remember in, and read facts and context from, s.
func UseFacts(rs []*Rule, s facts.Store) {
	for _, r := range rs {
		if r.env != nil && r.env.Facts() != s {
			r.env.SetFacts(s)
		}
	}
}

// SetFacts sets the store the compiler's rules read facts and context
// from and remember in (by default a memory store of its own).
func (c *Compiler) SetFacts(s facts.Store) { c.cel.SetFacts(s) }

// Emits reports whether the rule's matches become alerts; a rule with
// alert.emit: false only remembers facts.
func (r *Rule) Emits() bool { return r.Spec == nil || r.Spec.Alert.Emit == nil || *r.Spec.Alert.Emit }

// Facts returns the store the rule reads facts from and remembers in.
func (r *Rule) Facts() facts.Store { return r.env.Facts() }

// FactWrites appends to buf the facts the rule remembers for an alert
// produced at event time t; act binds what the alert's fields read. A key
// or value that is null or missing names nothing and records nothing; one
// that fails is counted against the rule. The caller hands the writes to
// Facts once the event is done with, so that no rule sees a fact learnt
// from the very event it judges.
func (r *Rule) FactWrites(act Vars, t int64, buf []facts.Write) []facts.Write {
	for i := range r.Remember {
		m := &r.Remember[i]
		key, ok := m.text(m.Key, act)
		if !ok {
			continue
		}
		val, ok := m.text(m.Value, act)
		if !ok {
			continue
		}
		buf = append(buf, facts.Write{Kind: m.Kind, Name: m.Name, Key: key, Value: val, At: t, TTL: m.Spec.TTL})
	}
	return buf
}

func (m *Remember) text(p *Program, act Vars) (string, bool) {
	if p == nil {
		return "", false
	}
	v, _, err := p.celEval(act)
	if err != nil {
		if !celenv.IsMissingField(err) {
			p.health.fail(p.Expr.Pos, err)
		}
		return "", false
	}
	s, ok, errv := celenv.FactText(v)
	if err, isErr := errv.(error); isErr {
		p.health.fail(p.Expr.Pos, err)
		return "", false
	}
	return s, ok
}
