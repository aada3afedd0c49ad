package ml

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// expr is a compiled PMML expression. eval never allocates on the common
// paths; failures are recorded on the Scorer.
type expr interface {
	eval(s *Scorer) Value
}

func parseNumber(s string) (float64, error) {
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}

type constExpr struct{ v Value }

func (e constExpr) eval(*Scorer) Value { return e.v }

type fieldRef struct {
	slot       int
	mapMissing Value
}

func (e *fieldRef) eval(s *Scorer) Value {
	v := s.get(e.slot)
	if v.kind == KindMissing {
		return e.mapMissing
	}
	return v
}

type paramRef struct{ idx int }

func (e paramRef) eval(s *Scorer) Value { return s.stack[s.frame+e.idx] }

// literal reads an optional attribute as a constant of type dt; ok reports
// whether the attribute is present.
func (c *compiler) literal(e *elem, attr string, dt DataType) (Value, bool) {
	s, ok := e.attr(attr)
	if !ok {
		return Value{}, false
	}
	v, ok := parseLiteral(s, dt)
	if !ok {
		c.errs.add(e, "<%s> %s=%q is not a %s", e.name, attr, s, dt)
	}
	return v, true
}

// fieldType is the data type of a referenced field (double when unknown).
func fieldType(f *scopeField) DataType {
	if f == nil || f.def == nil {
		return TypeDouble
	}
	return f.def.dataType
}

// expression compiles one expression element in scope sc.
func (c *compiler) expression(e *elem, sc *scope) expr {
	switch e.name {
	case "Constant":
		c.errs.checkChildren(e)
		if e.attrOr("missing", "false") == "true" {
			return constExpr{}
		}
		text := strings.TrimSpace(e.text)
		if dts, ok := e.attr("dataType"); ok {
			dt, ok := parseDataType(dts)
			if !ok {
				c.errs.add(e, "<Constant> dataType %q is not supported", dts)
				return constExpr{}
			}
			v, ok := parseLiteral(text, dt)
			if !ok {
				c.errs.add(e, "<Constant> %q is not a %s", text, dt)
			}
			return constExpr{v}
		}
		if f, err := parseNumber(text); err == nil {
			return constExpr{Num(f)}
		}
		return constExpr{Str(e.text)}
	case "FieldRef":
		c.errs.checkChildren(e)
		name := c.errs.reqAttr(e, "field")
		if i, ok := c.params[name]; ok {
			return paramRef{i}
		}
		f := c.resolve(sc, name, e)
		if f == nil {
			return constExpr{}
		}
		mm, _ := c.literal(e, "mapMissingTo", fieldType(f))
		return &fieldRef{slot: f.slot, mapMissing: mm}
	case "NormContinuous":
		return c.normContinuous(e, sc)
	case "NormDiscrete":
		return c.normDiscrete(e, sc)
	case "Discretize":
		return c.discretize(e, sc)
	case "MapValues":
		return c.mapValues(e, sc)
	case "Apply":
		return c.apply(e, sc)
	}
	c.errs.unsupported(e)
	return constExpr{}
}

// input compiles the field attribute of a transformation as an expression,
// so that inside a DefineFunction it may name a parameter.
func (c *compiler) input(e *elem, sc *scope) (expr, DataType) {
	name := c.errs.reqAttr(e, "field")
	if i, ok := c.params[name]; ok {
		return paramRef{i}, c.paramTypes[i]
	}
	f := c.resolve(sc, name, e)
	if f == nil {
		return constExpr{}, TypeDouble
	}
	return &fieldRef{slot: f.slot}, fieldType(f)
}

type normContinuous struct {
	in         expr
	orig, norm []float64
	outliers   outlierTreatment
	mapMissing Value
}

func (c *compiler) normContinuous(e *elem, sc *scope) expr {
	c.errs.checkChildren(e, "LinearNorm")
	in, _ := c.input(e, sc)
	n := &normContinuous{in: in}
	n.mapMissing, _ = c.literal(e, "mapMissingTo", TypeDouble)
	switch c.errs.enum(e, "outliers", "asIs", "asMissingValues", "asExtremeValues") {
	case "asMissingValues":
		n.outliers = outlierAsMissing
	case "asExtremeValues":
		n.outliers = outlierAsExtreme
	}
	for _, ln := range e.all("LinearNorm") {
		n.orig = append(n.orig, c.errs.reqFloat(ln, "orig"))
		n.norm = append(n.norm, c.errs.reqFloat(ln, "norm"))
	}
	if len(n.orig) < 2 {
		c.errs.add(e, "<NormContinuous> needs at least two <LinearNorm>")
		return constExpr{}
	}
	for i := 1; i < len(n.orig); i++ {
		if !(n.orig[i] > n.orig[i-1]) {
			c.errs.add(e, "<NormContinuous> LinearNorm orig values must increase")
			return constExpr{}
		}
	}
	return n
}

func (n *normContinuous) eval(s *Scorer) Value {
	v := n.in.eval(s)
	x, ok := v.Float()
	if v.kind == KindMissing || !ok {
		return n.mapMissing
	}
	last := len(n.orig) - 1
	i := 0
	switch {
	case x < n.orig[0]:
		switch n.outliers {
		case outlierAsMissing:
			return n.mapMissing
		case outlierAsExtreme:
			return Num(n.norm[0])
		}
	case x > n.orig[last]:
		switch n.outliers {
		case outlierAsMissing:
			return n.mapMissing
		case outlierAsExtreme:
			return Num(n.norm[last])
		}
		i = last - 1
	default:
		i = sort.SearchFloat64s(n.orig, x)
		if i > 0 {
			i--
		}
		if i >= last {
			i = last - 1
		}
	}
	x0, x1, y0, y1 := n.orig[i], n.orig[i+1], n.norm[i], n.norm[i+1]
	return Num(y0 + (x-x0)/(x1-x0)*(y1-y0))
}

type normDiscrete struct {
	in         expr
	value      Value
	mapMissing Value
}

func (c *compiler) normDiscrete(e *elem, sc *scope) expr {
	c.errs.checkChildren(e)
	in, dt := c.input(e, sc)
	n := &normDiscrete{in: in}
	v, ok := c.literal(e, "value", dt)
	if !ok {
		c.errs.add(e, "<NormDiscrete> needs attribute value")
	}
	n.value = v
	n.mapMissing, _ = c.literal(e, "mapMissingTo", TypeDouble)
	c.errs.enum(e, "method", "indicator")
	return n
}

func (n *normDiscrete) eval(s *Scorer) Value {
	v := n.in.eval(s)
	if v.kind == KindMissing {
		return n.mapMissing
	}
	if equalValues(v, n.value) {
		return Num(1)
	}
	return Num(0)
}

// equalValues compares numbers by value and anything else by its text.
func equalValues(a, b Value) bool {
	if a.kind == KindString && b.kind == KindString {
		return a.str == b.str
	}
	if (a.kind == KindNumber || a.kind == KindBool) && (b.kind == KindNumber || b.kind == KindBool) {
		return a.num == b.num
	}
	if a.kind == KindString || b.kind == KindString {
		x, okx := a.Float()
		y, oky := b.Float()
		if okx && oky {
			return x == y
		}
	}
	at, _ := a.Text()
	bt, _ := b.Text()
	return at == bt
}

type discretizeBin struct {
	iv  interval
	out Value
}

type discretize struct {
	in         expr
	bins       []discretizeBin
	mapMissing Value
	def        Value
}

func (c *compiler) discretize(e *elem, sc *scope) expr {
	c.errs.checkChildren(e, "DiscretizeBin")
	in, _ := c.input(e, sc)
	dt := TypeString
	if s, ok := e.attr("dataType"); ok {
		d, ok := parseDataType(s)
		if !ok {
			c.errs.add(e, "<Discretize> dataType %q is not supported", s)
		}
		dt = d
	}
	d := &discretize{in: in}
	d.mapMissing, _ = c.literal(e, "mapMissingTo", dt)
	d.def, _ = c.literal(e, "defaultValue", dt)
	for _, b := range e.all("DiscretizeBin") {
		c.errs.checkChildren(b, "Interval")
		out, ok := c.literal(b, "binValue", dt)
		if !ok {
			c.errs.add(b, "<DiscretizeBin> needs attribute binValue")
		}
		ie := b.child("Interval")
		if ie == nil {
			c.errs.add(b, "<DiscretizeBin> needs an <Interval>")
			continue
		}
		iv := interval{lo: math.Inf(-1), hi: math.Inf(1)}
		if _, ok := ie.attr("leftMargin"); ok {
			iv.lo = c.errs.float(ie, "leftMargin", 0)
		}
		if _, ok := ie.attr("rightMargin"); ok {
			iv.hi = c.errs.float(ie, "rightMargin", 0)
		}
		switch c.errs.reqAttr(ie, "closure") {
		case "openClosed":
			iv.loOpen = true
		case "openOpen":
			iv.loOpen, iv.hiOpen = true, true
		case "closedOpen":
			iv.hiOpen = true
		case "closedClosed", "":
		default:
			c.errs.add(ie, "<Interval> closure %q is not valid", ie.attrOr("closure", ""))
		}
		d.bins = append(d.bins, discretizeBin{iv: iv, out: out})
	}
	return d
}

func (d *discretize) eval(s *Scorer) Value {
	v := d.in.eval(s)
	x, ok := v.Float()
	if v.kind == KindMissing || !ok {
		return d.mapMissing
	}
	for i := range d.bins {
		if d.bins[i].iv.contains(x) {
			return d.bins[i].out
		}
	}
	return d.def
}

type mapValues struct {
	ins        []expr
	single     map[string]Value
	rows       [][]string
	outs       []Value
	mapMissing Value
	def        Value
}

func (c *compiler) mapValues(e *elem, sc *scope) expr {
	c.errs.checkChildren(e, "FieldColumnPair", "InlineTable")
	if tl := e.child("TableLocator"); tl != nil {
		c.errs.unsupported(tl)
	}
	dt := TypeString
	if s, ok := e.attr("dataType"); ok {
		d, ok := parseDataType(s)
		if !ok {
			c.errs.add(e, "<MapValues> dataType %q is not supported", s)
		}
		dt = d
	}
	m := &mapValues{}
	m.mapMissing, _ = c.literal(e, "mapMissingTo", dt)
	m.def, _ = c.literal(e, "defaultValue", dt)
	outCol := c.errs.reqAttr(e, "outputColumn")
	var cols []string
	for _, p := range e.all("FieldColumnPair") {
		c.errs.checkChildren(p)
		in, _ := c.input(p, sc)
		m.ins = append(m.ins, in)
		cols = append(cols, c.errs.reqAttr(p, "column"))
	}
	it := e.child("InlineTable")
	if it == nil {
		c.errs.add(e, "<MapValues> needs an <InlineTable>")
		return constExpr{}
	}
	c.errs.checkChildren(it, "row")
	for _, row := range it.all("row") {
		cells := map[string]string{}
		for _, cell := range row.children {
			cells[cell.name] = strings.TrimSpace(cell.text)
		}
		out, ok := cells[outCol]
		if !ok {
			continue
		}
		keyRow := make([]string, len(cols))
		complete := true
		for i, col := range cols {
			v, ok := cells[col]
			if !ok {
				complete = false
				break
			}
			keyRow[i] = canonicalText(v)
		}
		if !complete {
			continue
		}
		ov, ok := parseLiteral(out, dt)
		if !ok {
			c.errs.add(row, "<row> output %q is not a %s", out, dt)
		}
		m.rows = append(m.rows, keyRow)
		m.outs = append(m.outs, ov)
	}
	if len(cols) == 1 {
		m.single = map[string]Value{}
		for i := len(m.rows) - 1; i >= 0; i-- {
			m.single[m.rows[i][0]] = m.outs[i]
		}
	}
	return m
}

// canonicalText spells numbers the way key does so that "1.0" in a table
// matches the number 1.
func canonicalText(s string) string {
	if f, err := parseNumber(s); err == nil {
		return formatNum(f)
	}
	return s
}

func cellKey(v Value) string {
	if v.kind == KindString {
		return canonicalText(v.str)
	}
	return key(v)
}

func (m *mapValues) eval(s *Scorer) Value {
	if m.single != nil {
		v := m.ins[0].eval(s)
		if v.kind == KindMissing {
			return m.mapMissing
		}
		if out, ok := m.single[cellKey(v)]; ok {
			return out
		}
		return m.def
	}
	base := len(s.stack)
	for _, in := range m.ins {
		v := in.eval(s)
		if v.kind == KindMissing {
			s.stack = s.stack[:base]
			return m.mapMissing
		}
		s.stack = append(s.stack, v)
	}
	vals := s.stack[base:]
	out := m.def
rows:
	for i, row := range m.rows {
		for j, cell := range row {
			if cellKey(vals[j]) != cell {
				continue rows
			}
		}
		out = m.outs[i]
		break
	}
	s.stack = s.stack[:base]
	return out
}
