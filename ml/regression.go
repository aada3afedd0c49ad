package ml

import "math"

type numericTerm struct {
	slot     int
	exponent float64
	coef     float64
}

type categoricalTerm struct {
	slot  int
	value Value
	coef  float64
}

type productTerm struct {
	slots []int
	coef  float64
}

type regressionTable struct {
	intercept float64
	cat       int
	nums      []numericTerm
	cats      []categoricalTerm
	products  []productTerm
}

type normMethod uint8

const (
	normNone normMethod = iota
	normSoftmax
	normSimplemax
	normLogit
	normProbit
	normCloglog
	normLoglog
	normCauchit
	normExp
)

var normMethods = map[string]normMethod{
	"none": normNone, "softmax": normSoftmax, "simplemax": normSimplemax, "logit": normLogit,
	"probit": normProbit, "cloglog": normCloglog, "loglog": normLoglog, "cauchit": normCauchit,
	"exp": normExp,
}

// link maps a linear predictor to a probability or, for regression, to the
// response scale.
func link(n normMethod, y float64) float64 {
	switch n {
	case normLogit, normSoftmax:
		return 1 / (1 + math.Exp(-y))
	case normProbit:
		return normCDF(y)
	case normCloglog:
		return -math.Expm1(-math.Exp(y))
	case normLoglog:
		return math.Exp(-math.Exp(-y))
	case normCauchit:
		return 0.5 + math.Atan(y)/math.Pi
	case normExp:
		return math.Exp(y)
	}
	return y
}

// linkRest is 1 - link(n, y) for the links that give probabilities,
// computed so that a rest near 0 keeps its digits.
func linkRest(n normMethod, y float64) float64 {
	switch n {
	case normLogit:
		return complementLink(linkLogit, y, 0)
	case normProbit:
		return complementLink(linkProbit, y, 0)
	case normCloglog:
		return complementLink(linkCloglog, y, 0)
	case normLoglog:
		return complementLink(linkLoglog, y, 0)
	case normCauchit:
		return complementLink(linkCauchit, y, 0)
	}
	return 1 - link(n, y)
}

type regressionModel struct {
	m       *modelNode
	tables  []regressionTable
	norm    normMethod
	ordinal bool
}

func (c *compiler) regressionModel(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "RegressionTable")
	r := &regressionModel{m: m}
	name := e.attrOr("normalizationMethod", "none")
	n, ok := normMethods[name]
	if !ok {
		c.errs.add(e, "<RegressionModel> normalizationMethod %q is not supported", name)
	}
	r.norm = n
	for _, te := range e.all("RegressionTable") {
		c.errs.checkChildren(te, "NumericPredictor", "CategoricalPredictor", "PredictorTerm")
		t := regressionTable{intercept: c.errs.reqFloat(te, "intercept"), cat: -1}
		if m.fn == classification {
			label, ok := te.attr("targetCategory")
			if !ok {
				c.errs.add(te, "<RegressionTable> of a classification needs targetCategory")
				continue
			}
			t.cat = c.cat(m, label, te)
		}
		for _, p := range te.all("NumericPredictor") {
			c.errs.checkChildren(p)
			f := c.resolve(sc, c.errs.reqAttr(p, "name"), p)
			if f == nil {
				continue
			}
			t.nums = append(t.nums, numericTerm{slot: f.slot, exponent: c.errs.float(p, "exponent", 1), coef: c.errs.reqFloat(p, "coefficient")})
		}
		for _, p := range te.all("CategoricalPredictor") {
			c.errs.checkChildren(p)
			name := c.errs.reqAttr(p, "name")
			f := c.resolve(sc, name, p)
			if f == nil {
				continue
			}
			v, ok := c.literal(p, "value", fieldType(f))
			if !ok {
				c.errs.add(p, "<CategoricalPredictor> needs attribute value")
			}
			t.cats = append(t.cats, categoricalTerm{slot: f.slot, value: v, coef: c.errs.reqFloat(p, "coefficient")})
		}
		for _, p := range te.all("PredictorTerm") {
			c.errs.checkChildren(p, "FieldRef")
			pt := productTerm{coef: c.errs.reqFloat(p, "coefficient")}
			for _, fr := range p.all("FieldRef") {
				if f := c.resolve(sc, c.errs.reqAttr(fr, "field"), fr); f != nil {
					pt.slots = append(pt.slots, f.slot)
				}
			}
			t.products = append(t.products, pt)
		}
		r.tables = append(r.tables, t)
	}
	if len(r.tables) == 0 {
		c.errs.add(e, "<RegressionModel> has no <RegressionTable>")
		return nil
	}
	m.scratch = len(r.tables)
	if m.fn == regression {
		if len(r.tables) != 1 {
			c.errs.add(e, "regression <RegressionModel> needs exactly one <RegressionTable>, has %d", len(r.tables))
		}
		if r.norm == normSimplemax {
			c.errs.add(e, "normalizationMethod \"simplemax\" needs a classification model")
		}
		return r
	}
	switch r.norm {
	case normNone, normSoftmax, normSimplemax:
	default:
		if len(m.cats) > 2 {
			if m.target == nil || m.target.opType != Ordinal {
				c.errs.add(e, "normalizationMethod %q with %d classes needs an ordinal target (cumulative link); use softmax for multinomial models", name, len(m.cats))
			}
			r.ordinal = true
		}
	}
	return r
}

// value computes a table's linear predictor; ok is false when a numeric
// input is missing, which leaves the model without a prediction.
func (t *regressionTable) value(s *Scorer) (float64, bool) {
	y := t.intercept
	for i := range t.nums {
		n := &t.nums[i]
		var x float64
		if sv := &s.slots[n.slot]; sv.gen == s.gen && sv.v.kind == KindNumber {
			x = sv.v.num
		} else {
			f, ok := s.get(n.slot).Float()
			if !ok {
				return 0, false
			}
			x = f
		}
		if n.exponent != 1 {
			x = math.Pow(x, n.exponent)
		}
		y += n.coef * x
	}
	for i := range t.cats {
		ct := &t.cats[i]
		// A missing categorical input matches no category and adds nothing.
		if v := s.get(ct.slot); v.kind != KindMissing && equalValues(v, ct.value) {
			y += ct.coef
		}
	}
	for i := range t.products {
		pt := &t.products[i]
		x := pt.coef
		for _, sl := range pt.slots {
			f, ok := s.get(sl).Float()
			if !ok {
				return 0, false
			}
			x *= f
		}
		y += x
	}
	return y, true
}

func (r *regressionModel) eval(s *Scorer, p *prediction) {
	m := r.m
	if m.fn == regression {
		y, ok := r.tables[0].value(s)
		if !ok {
			return
		}
		m.setNumber(p, link(r.norm, y))
		return
	}
	ys := p.scratch[:len(r.tables)]
	for i := range r.tables {
		y, ok := r.tables[i].value(s)
		if !ok {
			return
		}
		ys[i] = y
	}
	probs := p.probs
	switch r.norm {
	case normSoftmax:
		if len(r.tables) == 2 && len(m.cats) == 2 {
			// Binary softmax equals the logistic of the difference, which
			// stays accurate when one linear predictor is large.
			// Each side is computed on its own so that the smaller keeps
			// its digits (1 - q would flush 1e-17 to 0).
			probs[r.tables[0].cat] = 1 / (1 + math.Exp(ys[1]-ys[0]))
			probs[r.tables[1].cat] = 1 / (1 + math.Exp(ys[0]-ys[1]))
			break
		}
		maxY := math.Inf(-1)
		for _, y := range ys {
			maxY = math.Max(maxY, y)
		}
		sum := 0.0
		for i, y := range ys {
			ys[i] = math.Exp(y - maxY)
			sum += ys[i]
		}
		for i := range r.tables {
			probs[r.tables[i].cat] = ys[i] / sum
		}
	case normSimplemax:
		sum := 0.0
		for _, y := range ys {
			sum += y
		}
		for i := range r.tables {
			probs[r.tables[i].cat] = ys[i] / sum
		}
	default:
		if r.ordinal {
			// Cumulative link: table j gives P(class <= j).
			prev := 0.0
			for i := 0; i < len(r.tables)-1; i++ {
				cum := link(r.norm, ys[i])
				probs[r.tables[i].cat] = cum - prev
				prev = cum
			}
			probs[r.tables[len(r.tables)-1].cat] = 1 - prev
			break
		}
		// The last table's class takes what the others leave, as PMML
		// specifies for none and for binary link functions; with one other
		// table the rest is computed without cancellation.
		if len(r.tables) == 2 {
			probs[r.tables[0].cat] = link(r.norm, ys[0])
			probs[r.tables[1].cat] = linkRest(r.norm, ys[0])
			break
		}
		sum := 0.0
		for i := 0; i < len(r.tables)-1; i++ {
			q := link(r.norm, ys[i])
			probs[r.tables[i].cat] = q
			sum += q
		}
		probs[r.tables[len(r.tables)-1].cat] = 1 - sum
	}
	m.setClass(p)
}
