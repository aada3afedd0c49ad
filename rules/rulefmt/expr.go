package rulefmt

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// Expr is a CEL expression as written in a rule file, with what it takes to
// point an error at the right character of the file.
type Expr struct {
	Text string
	Pos  yamlx.Pos
	// segs map the text's runs to the file when it spans lines; nil is
	// one run at Pos, the common case, which then costs no allocation
	// (a loaded rule keeps each of its expressions).
	segs []segment
}

// segment maps a run of the expression's text to where it sits in the file.
type segment struct {
	off, line, col int
}

// PosAt maps an offset into the expression's text to a file position.
func (e *Expr) PosAt(off int) yamlx.Pos {
	p := e.Pos
	if e.segs == nil {
		p.Col += off
		return p
	}
	for _, s := range e.segs {
		if s.off > off {
			break
		}
		p.Line, p.Col = s.line, s.col+off-s.off
	}
	return p
}

// exprFrom records an expression from a scalar node. Block and multi-line
// scalars are mapped line by line from the source, so a CEL error inside a
// `|` block points at its real line and column.
func exprFrom(n *yaml.Node, file string, lines []string) Expr {
	e := Expr{Text: n.Value, Pos: yamlx.Pos{File: file, Line: n.Line, Col: n.Column}}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// Content starts on the line after the indicator; its indentation
		// is that of the first non-blank line.
		indent := -1
		off := 0
		first := true
		for i := n.Line; i < len(lines) && off <= len(n.Value); i++ {
			l := lines[i]
			if strings.TrimSpace(l) == "" {
				if !first || n.Style == yaml.LiteralStyle {
					off++
				}
				continue
			}
			ind := len(l) - len(strings.TrimLeft(l, " "))
			if indent < 0 {
				indent = ind
			} else if ind < indent {
				break
			}
			first = false
			e.segs = append(e.segs, segment{off: off, line: i + 1, col: indent + 1})
			off += len(l) - indent + 1
		}
		if len(e.segs) > 0 {
			e.Pos.Line, e.Pos.Col = e.segs[0].line, e.segs[0].col
		}
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		e.Pos.Col++
	default:
		// A plain scalar continued on later lines is folded with single
		// spaces.
		if strings.Contains(n.Value, " ") && n.Line < len(lines) {
			rest := strings.TrimRight(lines[n.Line-1], " \r")
			if n.Column-1 <= len(rest) {
				firstLen := len(rest) - (n.Column - 1)
				if firstLen < len(n.Value) {
					off := firstLen + 1
					for i := n.Line; i < len(lines) && off < len(n.Value); i++ {
						l := strings.TrimRight(lines[i], " \r")
						t := strings.TrimLeft(l, " ")
						if t == "" {
							continue
						}
						if e.segs == nil {
							e.segs = []segment{{off: 0, line: n.Line, col: n.Column}}
						}
						e.segs = append(e.segs, segment{off: off, line: i + 1, col: len(l) - len(t) + 1})
						off += len(t) + 1
					}
				}
			}
		}
	}
	return e
}

// UnmarshalYAMLX records the expression of a scalar node.
func (e *Expr) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n, "%s must be a CEL expression, got %s", d.Path(), yamlx.KindName(n))
		return
	}
	if strings.TrimSpace(n.Value) == "" {
		d.Errorf(n, "%s is empty", d.Path())
	}
	*e = exprFrom(n, d.File, d.Lines())
}

// InlineExpr is an expression written on one line at pos, such as one
// built by a test.
func InlineExpr(text string, pos yamlx.Pos) Expr {
	return Expr{Text: text, Pos: pos}
}

// sub returns the part of e that starts at byte offset off.
func (e Expr) sub(off int, text string) Expr {
	s := Expr{Text: text, Pos: e.PosAt(off)}
	for _, g := range e.segs {
		if g.off > off {
			if s.segs == nil {
				s.segs = []segment{{off: 0, line: s.Pos.Line, col: s.Pos.Col}}
			}
			s.segs = append(s.segs, segment{off: g.off - off, line: g.line, col: g.col})
		}
	}
	return s
}

// NamedExpr is a CEL expression with a name, such as an alert field.
type NamedExpr struct {
	Name string
	Expr Expr
}

// NamedExprs is a mapping of names to expressions, in the order written.
type NamedExprs []NamedExpr

// UnmarshalYAMLX reads the mapping, keeping its order.
func (ne *NamedExprs) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	var out NamedExprs
	d.Mapping(n, "a mapping of names to CEL expressions", func(key string, k, v *yaml.Node) {
		var e Expr
		d.Decode(v, &e)
		out = append(out, NamedExpr{Name: key, Expr: e})
	})
	*ne = out
}
