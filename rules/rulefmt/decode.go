package rulefmt

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// Expr is a CEL expression as written in a rule file, with what it takes to
// point an error at the right character of the file.
type Expr struct {
	Text string
	Pos  yamlx.Pos
	segs []segment
}

// segment maps a run of the expression's text to where it sits in the file.
type segment struct {
	off, line, col int
}

// PosAt maps an offset into the expression's text to a file position.
func (e *Expr) PosAt(off int) yamlx.Pos {
	p := e.Pos
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
		e.segs = []segment{{off: 0, line: e.Pos.Line, col: e.Pos.Col}}
	default:
		e.segs = []segment{{off: 0, line: n.Line, col: n.Column}}
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
						e.segs = append(e.segs, segment{off: off, line: i + 1, col: len(l) - len(t) + 1})
						off += len(t) + 1
					}
				}
			}
		}
	}
	return e
}

// decoder walks a YAML node tree strictly: unknown keys, wrong types and
// missing keys are errors with positions, and decoding goes on after an
// error so that every problem of a file is reported at once.
type decoder struct {
	*yamlx.Errors
	lines []string
}

func newDecoder(file string, src []byte) *decoder {
	return &decoder{
		Errors: &yamlx.Errors{File: file, Src: src},
		lines:  strings.Split(string(src), "\n"),
	}
}

// fields iterates a mapping node, calling f for each key; f returns false
// for an unknown key, which is reported with the keys that are allowed.
func (d *decoder) fields(n *yaml.Node, what string, allowed []string, f func(key string, k, v *yaml.Node) bool) {
	if n.Kind != yaml.MappingNode {
		d.Add(n.Line, n.Column, "%s must be a mapping, got %s", what, kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if line, dup := seen[k.Value]; dup {
			d.Add(k.Line, k.Column, "key %q repeats (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		if !f(k.Value, k, v) {
			d.Add(k.Line, k.Column, "unknown key %q in %s (allowed: %s)", k.Value, what, strings.Join(allowed, ", "))
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

func (d *decoder) scalar(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Add(n.Line, n.Column, "%s must be a scalar, got %s", what, kindName(n))
		return false
	}
	return true
}

func (d *decoder) str(n *yaml.Node, what string) string {
	if !d.scalar(n, what) {
		return ""
	}
	return n.Value
}

func (d *decoder) expr(n *yaml.Node, what string) Expr {
	if !d.scalar(n, what) {
		return Expr{}
	}
	if strings.TrimSpace(n.Value) == "" {
		d.Add(n.Line, n.Column, "%s is empty", what)
	}
	return exprFrom(n, d.File, d.lines)
}

func (d *decoder) boolean(n *yaml.Node, what string) bool {
	if !d.scalar(n, what) {
		return false
	}
	b, err := strconv.ParseBool(n.Value)
	if err != nil || n.Tag != "!!bool" {
		d.Add(n.Line, n.Column, "%s must be true or false, got %q", what, n.Value)
	}
	return b
}

func (d *decoder) integer(n *yaml.Node, what string, min int) int {
	if !d.scalar(n, what) {
		return 0
	}
	i, err := strconv.Atoi(n.Value)
	if err != nil || i < min {
		d.Add(n.Line, n.Column, "%s must be an integer of at least %d, got %q", what, min, n.Value)
	}
	return i
}

func (d *decoder) number(n *yaml.Node, what string) float64 {
	if !d.scalar(n, what) {
		return 0
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		d.Add(n.Line, n.Column, "%s must be a number, got %q", what, n.Value)
	}
	return f
}

// duration reads Go durations plus d (days) and w (weeks), which rules use
// for windows and dedup spans.
func (d *decoder) duration(n *yaml.Node, what string) time.Duration {
	if !d.scalar(n, what) {
		return 0
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		d.Add(n.Line, n.Column, "%s: %v", what, err)
		return 0
	}
	if v <= 0 {
		d.Add(n.Line, n.Column, "%s must be positive, got %q", what, n.Value)
	}
	return v
}

// ParseDuration parses a duration such as 90s, 10m, 1h30m, 2d or 1w.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var extra time.Duration
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		if i := strings.Index(t, u.suffix); i > 0 {
			n, err := strconv.Atoi(t[:i])
			if err != nil || n < 0 {
				return 0, fmt.Errorf("invalid duration %q (use forms like 30s, 10m, 1h30m, 2d, 1w)", s)
			}
			extra += time.Duration(n) * u.unit
			t = t[i+1:]
		}
	}
	if t == "" {
		return extra, nil
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use forms like 30s, 10m, 1h30m, 2d, 1w)", s)
	}
	return extra + v, nil
}

func (d *decoder) strList(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		d.Add(n.Line, n.Column, "%s must be a list, got %s", what, kindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if d.scalar(c, what+" item") {
			out = append(out, c.Value)
		}
	}
	return out
}

func (d *decoder) exprList(n *yaml.Node, what string) []Expr {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []Expr{d.expr(n, what)}
	}
	if n.Kind != yaml.SequenceNode {
		d.Add(n.Line, n.Column, "%s must be a list of CEL expressions, got %s", what, kindName(n))
		return nil
	}
	out := make([]Expr, 0, len(n.Content))
	for _, c := range n.Content {
		out = append(out, d.expr(c, what+" item"))
	}
	return out
}

// namedExprs reads a mapping of names to expressions, keeping its order.
func (d *decoder) namedExprs(n *yaml.Node, what string) []NamedExpr {
	if n.Kind != yaml.MappingNode {
		d.Add(n.Line, n.Column, "%s must be a mapping of names to CEL expressions, got %s", what, kindName(n))
		return nil
	}
	var out []NamedExpr
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.Add(k.Line, k.Column, "%s: %q repeats", what, k.Value)
			continue
		}
		seen[k.Value] = true
		out = append(out, NamedExpr{Name: k.Value, Expr: d.expr(v, what+"."+k.Value)})
	}
	return out
}

// NamedExpr is a CEL expression with a name, such as an alert field.
type NamedExpr struct {
	Name string
	Expr Expr
}

func (d *decoder) oneOf(n *yaml.Node, what string, allowed ...string) string {
	s := d.str(n, what)
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	if s != "" {
		d.Add(n.Line, n.Column, "%s must be one of %s, got %q", what, strings.Join(allowed, ", "), s)
	}
	return ""
}

// InlineExpr is an expression written on one line at pos, such as one
// given on a command line or built by a test.
func InlineExpr(text string, pos yamlx.Pos) Expr {
	return Expr{Text: text, Pos: pos, segs: []segment{{off: 0, line: pos.Line, col: pos.Col}}}
}
