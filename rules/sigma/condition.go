package sigma

import (
	"path"
	"strings"
)

// cond is a parsed Sigma condition.
type cond struct {
	op   string // "and", "or", "not", "id"
	args []*cond
	id   string
}

// parseCondition parses and, or, not, parentheses, "1 of x*", "all of x*",
// "1 of them" and "all of them" over the rule's search identifiers,
// expanding the quantifiers into and/or.
func parseCondition(text string, ids []string) (*cond, *Refusal) {
	if strings.Contains(text, "|") {
		return nil, refuse("aggregation in condition (Sigma 1.0)", "the condition %q uses the deprecated | aggregation syntax; write a correlation rule", text)
	}
	if strings.Contains(strings.ToLower(text), " near ") {
		return nil, refuse("aggregation in condition (Sigma 1.0)", "the condition %q uses near", text)
	}
	p := &condParser{toks: tokenize(text), ids: ids}
	c, ref := p.or()
	if ref != nil {
		return nil, ref
	}
	if p.i < len(p.toks) {
		return nil, refuse("malformed condition", "unexpected %q in %q", p.toks[p.i], text)
	}
	return c, nil
}

func tokenize(s string) []string {
	var out []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch r {
		case '(', ')':
			flush()
			out = append(out, string(r))
		case ' ', '\t', '\n', '\r':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

type condParser struct {
	toks []string
	i    int
	ids  []string
}

func (p *condParser) peek() string {
	if p.i < len(p.toks) {
		return strings.ToLower(p.toks[p.i])
	}
	return ""
}

func (p *condParser) or() (*cond, *Refusal) {
	l, ref := p.and()
	if ref != nil {
		return nil, ref
	}
	for p.peek() == "or" {
		p.i++
		r, ref := p.and()
		if ref != nil {
			return nil, ref
		}
		l = &cond{op: "or", args: []*cond{l, r}}
	}
	return l, nil
}

func (p *condParser) and() (*cond, *Refusal) {
	l, ref := p.unary()
	if ref != nil {
		return nil, ref
	}
	for p.peek() == "and" {
		p.i++
		r, ref := p.unary()
		if ref != nil {
			return nil, ref
		}
		l = &cond{op: "and", args: []*cond{l, r}}
	}
	return l, nil
}

func (p *condParser) unary() (*cond, *Refusal) {
	switch t := p.peek(); t {
	case "not":
		p.i++
		x, ref := p.unary()
		if ref != nil {
			return nil, ref
		}
		return &cond{op: "not", args: []*cond{x}}, nil
	case "(":
		p.i++
		x, ref := p.or()
		if ref != nil {
			return nil, ref
		}
		if p.peek() != ")" {
			return nil, refuse("malformed condition", "a ( is never closed")
		}
		p.i++
		return x, nil
	case "":
		return nil, refuse("malformed condition", "the condition ends too early")
	case ")", "and", "or":
		return nil, refuse("malformed condition", "unexpected %q", t)
	case "1", "all", "any":
		if p.i+2 < len(p.toks) && strings.EqualFold(p.toks[p.i+1], "of") {
			quant := t
			pattern := p.toks[p.i+2]
			p.i += 3
			var names []string
			for _, id := range p.ids {
				if strings.EqualFold(pattern, "them") {
					if !strings.HasPrefix(id, "_") {
						names = append(names, id)
					}
					continue
				}
				if ok, _ := path.Match(pattern, id); ok {
					names = append(names, id)
				}
			}
			if len(names) == 0 {
				return nil, refuse("malformed condition", "%s of %s matches no search identifier", quant, pattern)
			}
			op := "or"
			if quant == "all" {
				op = "and"
			}
			var args []*cond
			for _, n := range names {
				args = append(args, &cond{op: "id", id: n})
			}
			if len(args) == 1 {
				return args[0], nil
			}
			return &cond{op: op, args: args}, nil
		}
	}
	name := p.toks[p.i]
	p.i++
	for _, id := range p.ids {
		if id == name {
			return &cond{op: "id", id: name}, nil
		}
	}
	return nil, refuse("malformed condition", "the condition names %q, which is not a search identifier", name)
}
