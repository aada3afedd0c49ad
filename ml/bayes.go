package ml

import (
	"math"
)

type bayesKind uint8

const (
	bayesDiscrete bayesKind = iota
	bayesGaussian
	bayesPoisson
	bayesUniform
)

// bayesInput is one BayesInput: per class, P(value | class) from pair
// counts, or the parameters of a distribution for a continuous field.
type bayesInput struct {
	x    expr
	kind bayesKind
	// Discrete: per value, the log-probability for each class (counts
	// already divided by the class's total; zero counts hold NaN and take
	// the model's threshold).
	byStr map[string][]float64
	byNum map[float64][]float64
	// Continuous: per class.
	a, b []float64 // mean and variance; Poisson mean; uniform lower and upper
}

type naiveBayes struct {
	m         *modelNode
	inputs    []bayesInput
	logPrior  []float64
	logThresh float64
}

func (c *compiler) naiveBayes(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "BayesInputs", "BayesOutput")
	if m.fn != classification {
		c.errs.add(e, "<NaiveBayesModel> needs functionName=\"classification\"")
		return nil
	}
	nb := &naiveBayes{m: m}
	if _, ok := e.attr("threshold"); !ok {
		c.errs.add(e, "<NaiveBayesModel> needs attribute threshold")
	}
	nb.logThresh = math.Log(c.errs.float(e, "threshold", 0))
	out := e.child("BayesOutput")
	if out == nil {
		c.errs.add(e, "<NaiveBayesModel> has no <BayesOutput>")
		return nil
	}
	c.errs.checkChildren(out, "TargetValueCounts")
	if f := out.attrOr("fieldName", m.targetName); f != m.targetName {
		c.errs.add(out, "<BayesOutput> fieldName %q is not the model's target %q", f, m.targetName)
	}
	tvc := out.child("TargetValueCounts")
	if tvc == nil {
		c.errs.add(out, "<BayesOutput> has no <TargetValueCounts>")
		return nil
	}
	priors := c.targetCounts(m, tvc)
	// Classes met in the inputs but not the DataDictionary are added before
	// any vector is sized.
	ins := e.child("BayesInputs")
	if ins == nil {
		c.errs.add(e, "<NaiveBayesModel> has no <BayesInputs>")
		return nil
	}
	c.errs.checkChildren(ins, "BayesInput")
	for _, bi := range ins.all("BayesInput") {
		for _, ch := range bi.all("PairCounts") {
			if t := ch.child("TargetValueCounts"); t != nil {
				for _, v := range t.all("TargetValueCount") {
					c.cat(m, v.attrOr("value", ""), v)
				}
			}
		}
	}
	k := len(m.cats)
	nb.logPrior = make([]float64, k)
	for i := range nb.logPrior {
		nb.logPrior[i] = math.Inf(-1)
		if i < len(priors) {
			nb.logPrior[i] = math.Log(priors[i])
		}
	}
	for _, bi := range ins.all("BayesInput") {
		c.errs.checkChildren(bi, "DerivedField", "PairCounts", "TargetValueStats")
		name := c.errs.reqAttr(bi, "fieldName")
		in := bayesInput{}
		dt := TypeDouble
		if df := bi.child("DerivedField"); df != nil {
			var body *elem
			for _, ch := range df.children {
				if !ignorable[ch.name] && ch.name != "Value" {
					body = ch
				}
			}
			if body == nil {
				c.errs.add(df, "<DerivedField> has no expression")
				continue
			}
			in.x = c.expression(body, sc)
			if s, ok := df.attr("dataType"); ok {
				if d, ok := parseDataType(s); ok {
					dt = d
				}
			} else {
				dt = TypeString
			}
		} else {
			f := c.resolve(sc, name, bi)
			if f == nil {
				continue
			}
			in.x = &fieldRef{slot: f.slot}
			dt = fieldType(f)
		}
		if st := bi.child("TargetValueStats"); st != nil {
			if !c.bayesStats(m, &in, st) {
				continue
			}
			nb.inputs = append(nb.inputs, in)
			continue
		}
		pcs := bi.all("PairCounts")
		if len(pcs) == 0 {
			c.errs.add(bi, "<BayesInput fieldName=%q> has neither <PairCounts> nor <TargetValueStats>", name)
			continue
		}
		// P(value | class) = count(value, class) / Σ over this input's
		// values of count(value, class).
		counts := make([][]float64, len(pcs))
		totals := make([]float64, k)
		for i, pc := range pcs {
			c.errs.checkChildren(pc, "TargetValueCounts")
			t := pc.child("TargetValueCounts")
			if t == nil {
				c.errs.add(pc, "<PairCounts> has no <TargetValueCounts>")
				continue
			}
			counts[i] = c.targetCounts(m, t)
			for j, n := range counts[i] {
				totals[j] += n
			}
		}
		in.kind = bayesDiscrete
		numeric := dt.numeric()
		if numeric {
			in.byNum = map[float64][]float64{}
		} else {
			in.byStr = map[string][]float64{}
		}
		for i, pc := range pcs {
			raw := c.errs.reqAttr(pc, "value")
			lp := make([]float64, k)
			for j := range lp {
				n := 0.0
				if j < len(counts[i]) {
					n = counts[i][j]
				}
				if n > 0 && totals[j] > 0 {
					lp[j] = math.Log(n / totals[j])
				} else {
					lp[j] = math.NaN()
				}
			}
			v, ok := parseLiteral(raw, dt)
			if !ok {
				c.errs.add(pc, "<PairCounts> value %q is not a %s like field %q", raw, dt, name)
				continue
			}
			if numeric {
				in.byNum[v.num] = lp
			} else {
				in.byStr[key(v)] = lp
			}
		}
		nb.inputs = append(nb.inputs, in)
	}
	m.scratch = k
	return nb
}

// targetCounts reads TargetValueCount elements into a vector in class order.
func (c *compiler) targetCounts(m *modelNode, t *elem) []float64 {
	c.errs.checkChildren(t, "TargetValueCount")
	out := make([]float64, len(m.cats))
	for _, v := range t.all("TargetValueCount") {
		c.errs.checkChildren(v)
		i := c.cat(m, c.errs.reqAttr(v, "value"), v)
		if i < 0 {
			continue
		}
		for len(out) <= i {
			out = append(out, 0)
		}
		out[i] = c.errs.reqFloat(v, "count")
	}
	return out
}

func (c *compiler) bayesStats(m *modelNode, in *bayesInput, st *elem) bool {
	c.errs.checkChildren(st, "TargetValueStat")
	k := len(m.cats)
	in.a, in.b = make([]float64, k), make([]float64, k)
	seen := make([]bool, k)
	first := true
	for _, ts := range st.all("TargetValueStat") {
		c.errs.checkChildren(ts, "GaussianDistribution", "PoissonDistribution", "UniformDistribution")
		i := c.cat(m, c.errs.reqAttr(ts, "value"), ts)
		if i < 0 || i >= k {
			continue
		}
		var kind bayesKind
		var d *elem
		switch {
		case ts.child("GaussianDistribution") != nil:
			kind, d = bayesGaussian, ts.child("GaussianDistribution")
			in.a[i], in.b[i] = c.errs.reqFloat(d, "mean"), c.errs.reqFloat(d, "variance")
			if in.b[i] <= 0 {
				c.errs.add(d, "<GaussianDistribution> variance must be positive")
			}
		case ts.child("PoissonDistribution") != nil:
			kind, d = bayesPoisson, ts.child("PoissonDistribution")
			in.a[i] = c.errs.reqFloat(d, "mean")
		case ts.child("UniformDistribution") != nil:
			kind, d = bayesUniform, ts.child("UniformDistribution")
			in.a[i], in.b[i] = c.errs.reqFloat(d, "lower"), c.errs.reqFloat(d, "upper")
		default:
			c.errs.add(ts, "<TargetValueStat> needs a GaussianDistribution, PoissonDistribution or UniformDistribution")
			return false
		}
		c.errs.checkChildren(d)
		if !first && kind != in.kind {
			c.errs.add(ts, "<TargetValueStats> mixes distribution types")
			return false
		}
		first = false
		in.kind = kind
		seen[i] = true
	}
	for i, ok := range seen {
		if !ok {
			c.errs.add(st, "<TargetValueStats> has no statistics for class %q", m.cats[i])
			return false
		}
	}
	return true
}

// logDensity is log P(x | class j) for a continuous input; -Inf where the
// density is zero.
func (in *bayesInput) logDensity(j int, x float64) float64 {
	switch in.kind {
	case bayesGaussian:
		d := x - in.a[j]
		return -0.5*math.Log(2*math.Pi*in.b[j]) - d*d/(2*in.b[j])
	case bayesPoisson:
		if x < 0 || x != math.Trunc(x) {
			return math.Inf(-1)
		}
		lg, _ := math.Lgamma(x + 1)
		lambda := in.a[j]
		return x*math.Log(lambda) - lambda - lg
	case bayesUniform:
		if x < in.a[j] || x > in.b[j] {
			return math.Inf(-1)
		}
		return -math.Log(in.b[j] - in.a[j])
	}
	return math.Inf(-1)
}

// eval works in log space: the product of many small likelihoods would
// underflow to 0 where the normalised probability is still well above it.
func (nb *naiveBayes) eval(s *Scorer, p *prediction) {
	lp := p.scratch
	copy(lp, nb.logPrior)
	for i := range nb.inputs {
		in := &nb.inputs[i]
		v := in.x.eval(s)
		if v.kind == KindMissing {
			continue
		}
		if in.kind == bayesDiscrete {
			var row []float64
			var ok bool
			if in.byNum != nil {
				f, fok := v.Float()
				if !fok {
					continue
				}
				row, ok = in.byNum[f]
			} else if v.kind == KindString {
				row, ok = in.byStr[v.str]
			} else {
				row, ok = in.byStr[key(v)]
			}
			// A value the training data never saw tells nothing.
			if !ok {
				continue
			}
			for j, q := range row {
				if q != q {
					q = nb.logThresh
				}
				lp[j] += q
			}
			continue
		}
		x, ok := v.Float()
		if !ok {
			continue
		}
		for j := range lp {
			q := in.logDensity(j, x)
			if math.IsInf(q, -1) {
				q = nb.logThresh
			}
			lp[j] += q
		}
	}
	maxL := math.Inf(-1)
	for _, l := range lp {
		maxL = math.Max(maxL, l)
	}
	if math.IsInf(maxL, -1) || math.IsNaN(maxL) {
		return
	}
	sum := 0.0
	for j, l := range lp {
		p.probs[j] = math.Exp(l - maxL)
		sum += p.probs[j]
	}
	for j := range p.probs {
		p.probs[j] /= sum
	}
	nb.m.setClass(p)
}
