package ml

import (
	"math"
	"sort"
)

// glmKind is the modelType of a GeneralRegressionModel.
type glmKind uint8

const (
	glmRegression glmKind = iota
	glmGeneralLinear
	glmGeneralized
	glmMultinomial
	glmOrdinal
	glmCox
)

var glmKinds = map[string]glmKind{
	"regression": glmRegression, "generalLinear": glmGeneralLinear, "generalizedLinear": glmGeneralized,
	"multinomialLogistic": glmMultinomial, "ordinalMultinomial": glmOrdinal, "CoxRegression": glmCox,
}

// glmLink is a GLM link function g; scoring applies its inverse.
type glmLink uint8

const (
	linkIdentity glmLink = iota
	linkLogit
	linkProbit
	linkCloglog
	linkLoglog
	linkCauchit
	linkLog
	linkLogc
	linkNegbin
	linkOddspower
	linkPower
)

var glmLinks = map[string]glmLink{
	"identity": linkIdentity, "logit": linkLogit, "probit": linkProbit, "cloglog": linkCloglog,
	"loglog": linkLoglog, "cauchit": linkCauchit, "log": linkLog, "logc": linkLogc,
	"negbin": linkNegbin, "oddspower": linkOddspower, "power": linkPower,
}

// cumulativeLinks are the links an ordinalMultinomial model may name.
var cumulativeLinks = map[string]glmLink{
	"logit": linkLogit, "probit": linkProbit, "cloglog": linkCloglog, "loglog": linkLoglog, "cauchit": linkCauchit,
}

// inverseLink maps a linear predictor to the mean response; d is the
// linkParameter of negbin, oddspower and power.
func inverseLink(l glmLink, eta, d float64) float64 {
	switch l {
	case linkLogit:
		return 1 / (1 + math.Exp(-eta))
	case linkProbit:
		return normCDF(eta)
	case linkCloglog:
		return -math.Expm1(-math.Exp(eta))
	case linkLoglog:
		return math.Exp(-math.Exp(-eta))
	case linkCauchit:
		return 0.5 + math.Atan(eta)/math.Pi
	case linkLog:
		return math.Exp(eta)
	case linkLogc:
		return -math.Expm1(eta)
	case linkNegbin:
		return 1 / (d * math.Expm1(-eta))
	case linkOddspower:
		if d == 0 {
			return 1 / (1 + math.Exp(-eta))
		}
		return 1 / (1 + math.Pow(1+d*eta, -1/d))
	case linkPower:
		if d == 0 {
			return math.Exp(eta)
		}
		return math.Pow(eta, 1/d)
	}
	return eta
}

// complementLink is 1 - inverseLink(eta) computed without cancellation for
// the links that give probabilities, so that the other class of a binary
// model keeps its digits when the first class is near 1 (1e-12 stays
// 1e-12 instead of becoming 0 or 1.1e-12).
func complementLink(l glmLink, eta, d float64) float64 {
	switch l {
	case linkLogit:
		return 1 / (1 + math.Exp(eta))
	case linkProbit:
		return normCDF(-eta)
	case linkCloglog:
		return math.Exp(-math.Exp(eta))
	case linkLoglog:
		return -math.Expm1(-math.Exp(-eta))
	case linkCauchit:
		if eta > 0 {
			return math.Atan(1/eta) / math.Pi
		}
		return 0.5 - math.Atan(eta)/math.Pi
	case linkOddspower:
		if d == 0 {
			return 1 / (1 + math.Exp(eta))
		}
		return 1 / (1 + math.Pow(1+d*eta, 1/d))
	}
	return 1 - inverseLink(l, eta, d)
}

// glmTerm is one PPCell: a factor level indicator or a covariate power.
type glmTerm struct {
	slot   int
	factor bool
	level  Value
	exp    float64
}

// glmDesign is the value of one parameter for an input: the product of its
// PPCells (1 for a parameter without cells, the intercept).
type glmDesign struct {
	terms []glmTerm
}

type glmCell struct {
	design int
	beta   float64
}

// glmRow is the linear predictor of one target category (or the only one
// of a regression).
type glmRow struct {
	cat   int
	cells []glmCell
}

type coxCell struct{ time, hazard float64 }

type coxStratum struct {
	value   Value
	maxTime float64
	cells   []coxCell // by time
}

type generalRegression struct {
	m          *modelNode
	kind       glmKind
	link       glmLink
	linkParam  float64
	designs    []glmDesign
	rows       []glmRow
	refCat     int // category with a zero linear predictor; -1 for none
	offsetSlot int
	offset     float64
	trialsSlot int
	trials     float64
	hasTrials  bool
	// CoxRegression.
	endSlot    int
	strataSlot int
	strata     []coxStratum
	refDot     float64
}

func (c *compiler) generalRegression(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "ParameterList", "FactorList", "CovariateList", "PPMatrix", "PCovMatrix", "ParamMatrix", "EventValues", "BaseCumHazardTables")
	g := &generalRegression{m: m, refCat: -1, offsetSlot: -1, trialsSlot: -1, endSlot: -1, strataSlot: -1}
	kindName := c.errs.reqAttr(e, "modelType")
	kind, ok := glmKinds[kindName]
	if !ok {
		c.errs.add(e, "<GeneralRegressionModel> modelType %q is not supported (supported: regression, generalLinear, generalizedLinear, multinomialLogistic, ordinalMultinomial, CoxRegression)", kindName)
		return nil
	}
	g.kind = kind
	switch kind {
	case glmMultinomial, glmOrdinal:
		if m.fn != classification {
			c.errs.add(e, "modelType %q needs functionName=\"classification\"", kindName)
			return nil
		}
	case glmRegression, glmGeneralLinear, glmCox:
		if m.fn != regression {
			c.errs.add(e, "modelType %q needs functionName=\"regression\"", kindName)
			return nil
		}
	}
	if kind == glmGeneralized {
		name := e.attrOr("linkFunction", "")
		l, ok := glmLinks[name]
		if !ok {
			c.errs.add(e, "<GeneralRegressionModel> linkFunction %q is not supported (supported: identity, logit, probit, cloglog, loglog, cauchit, log, logc, negbin, oddspower, power)", name)
			return nil
		}
		g.link = l
		_, hasParam := e.attr("linkParameter")
		g.linkParam = c.errs.float(e, "linkParameter", 0)
		if (l == linkNegbin || l == linkPower || l == linkOddspower) && !hasParam {
			c.errs.add(e, "linkFunction %q needs a linkParameter", name)
		}
	}
	if kind == glmOrdinal {
		name := e.attrOr("cumulativeLink", "")
		l, ok := cumulativeLinks[name]
		if !ok {
			c.errs.add(e, "<GeneralRegressionModel> cumulativeLink %q is not supported (supported: logit, probit, cloglog, loglog, cauchit)", name)
			return nil
		}
		g.link = l
		if m.target != nil && m.target.opType != Ordinal && m.target.opType != Categorical {
			c.errs.add(e, "ordinalMultinomial needs a categorical or ordinal target")
		}
	}
	if name, ok := e.attr("offsetVariable"); ok {
		if f := c.resolve(sc, name, e); f != nil {
			g.offsetSlot = f.slot
		}
	}
	g.offset = c.errs.float(e, "offsetValue", 0)
	if name, ok := e.attr("trialsVariable"); ok {
		if f := c.resolve(sc, name, e); f != nil {
			g.trialsSlot, g.hasTrials = f.slot, true
		}
	}
	if _, ok := e.attr("trialsValue"); ok {
		g.trials, g.hasTrials = c.errs.float(e, "trialsValue", 1), true
	}

	// Parameters, in ParameterList order.
	pl := e.child("ParameterList")
	if pl == nil {
		c.errs.add(e, "<GeneralRegressionModel> has no <ParameterList>")
		return nil
	}
	c.errs.checkChildren(pl, "Parameter")
	params := map[string]int{}
	var refPoints []float64
	for _, pe := range pl.all("Parameter") {
		c.errs.checkChildren(pe)
		name := c.errs.reqAttr(pe, "name")
		if _, dup := params[name]; dup {
			c.errs.add(pe, "parameter %q is listed twice", name)
			continue
		}
		params[name] = len(refPoints)
		refPoints = append(refPoints, c.errs.float(pe, "referencePoint", 0))
	}

	// Predictors: factors compare levels, covariates are numbers.
	factors := map[string]*scopeField{}
	covariates := map[string]*scopeField{}
	for _, list := range []string{"FactorList", "CovariateList"} {
		le := e.child(list)
		if le == nil {
			continue
		}
		c.errs.checkChildren(le, "Predictor")
		for _, pe := range le.all("Predictor") {
			c.errs.checkChildren(pe)
			if pe.child("Categories") != nil || pe.child("Matrix") != nil {
				c.errs.add(pe, "<Predictor> with a contrast matrix (<Categories>, <Matrix>) is not supported; export the factor with indicator coding")
				continue
			}
			name := c.errs.reqAttr(pe, "name")
			f := c.resolve(sc, name, pe)
			if f == nil {
				continue
			}
			if list == "FactorList" {
				factors[name] = f
			} else {
				covariates[name] = f
			}
		}
	}

	// PPMatrix: the terms of each parameter, per target category when the
	// matrix distinguishes them.
	pp := e.child("PPMatrix")
	if pp == nil {
		c.errs.add(e, "<GeneralRegressionModel> has no <PPMatrix>")
		return nil
	}
	c.errs.checkChildren(pp, "PPCell")
	type ppKey struct {
		cat   string
		param int
	}
	terms := map[ppKey][]glmTerm{}
	ppCats := map[string]bool{}
	for _, ce := range pp.all("PPCell") {
		c.errs.checkChildren(ce)
		pname := c.errs.reqAttr(ce, "parameterName")
		pi, ok := params[pname]
		if !ok {
			c.errs.add(ce, "<PPCell> parameterName %q is not in the <ParameterList>", pname)
			continue
		}
		fname := c.errs.reqAttr(ce, "predictorName")
		raw := c.errs.reqAttr(ce, "value")
		var t glmTerm
		if f, ok := factors[fname]; ok {
			v, ok := parseLiteral(raw, fieldType(f))
			if !ok {
				c.errs.add(ce, "<PPCell> value %q is not a %s like factor %q", raw, fieldType(f), fname)
				continue
			}
			t = glmTerm{slot: f.slot, factor: true, level: v}
		} else if f, ok := covariates[fname]; ok {
			x, err := parseNumber(raw)
			if err != nil {
				c.errs.add(ce, "<PPCell> value %q of covariate %q is not a number (the exponent)", raw, fname)
				continue
			}
			t = glmTerm{slot: f.slot, exp: x}
		} else {
			c.errs.add(ce, "<PPCell> predictorName %q is in neither the <FactorList> nor the <CovariateList>", fname)
			continue
		}
		tc := ce.attrOr("targetCategory", "")
		ppCats[tc] = true
		k := ppKey{tc, pi}
		terms[k] = append(terms[k], t)
	}
	designIdx := map[ppKey]int{}
	design := func(cat string, param int) int {
		if !ppCats[cat] {
			cat = ""
		}
		k := ppKey{cat, param}
		if i, ok := designIdx[k]; ok {
			return i
		}
		designIdx[k] = len(g.designs)
		g.designs = append(g.designs, glmDesign{terms: terms[k]})
		return len(g.designs) - 1
	}

	// ParamMatrix: the coefficients, per target category.
	pm := e.child("ParamMatrix")
	if pm == nil {
		c.errs.add(e, "<GeneralRegressionModel> has no <ParamMatrix>")
		return nil
	}
	c.errs.checkChildren(pm, "PCell")
	type pcell struct {
		param int
		beta  float64
	}
	byCat := map[string][]pcell{}
	var catOrder []string
	for _, ce := range pm.all("PCell") {
		c.errs.checkChildren(ce)
		pname := c.errs.reqAttr(ce, "parameterName")
		pi, ok := params[pname]
		if !ok {
			c.errs.add(ce, "<PCell> parameterName %q is not in the <ParameterList>", pname)
			continue
		}
		tc := ce.attrOr("targetCategory", "")
		if _, seen := byCat[tc]; !seen {
			catOrder = append(catOrder, tc)
		}
		byCat[tc] = append(byCat[tc], pcell{pi, c.errs.reqFloat(ce, "beta")})
	}
	if m.fn == regression {
		for _, k := range catOrder {
			if k != "" {
				c.errs.add(pm, "<PCell> targetCategory %q in a regression", k)
				return nil
			}
		}
		r := glmRow{cat: -1}
		for _, pc := range byCat[""] {
			r.cells = append(r.cells, glmCell{design: design("", pc.param), beta: pc.beta})
			g.refDot += pc.beta * refPoints[pc.param]
		}
		g.rows = []glmRow{r}
		if kind == glmCox {
			c.coxTables(g, e, sc)
		}
		m.scratch = len(g.designs)
		return g
	}

	// Classification: find the classes and the reference category.
	for _, k := range catOrder {
		if k != "" {
			c.cat(m, k, pm)
		}
	}
	if ref, ok := e.attr("targetReferenceCategory"); ok {
		g.refCat = c.cat(m, ref, e)
	}
	switch kind {
	case glmGeneralized, glmMultinomial:
		if g.refCat < 0 {
			var missing []int
			for i, label := range m.cats {
				if _, ok := byCat[label]; !ok {
					missing = append(missing, i)
				}
			}
			if len(missing) == 1 {
				g.refCat = missing[0]
			} else if len(m.cats) == 2 && len(byCat[""]) > 0 && len(byCat) == 1 {
				// A binomial model may leave targetCategory out: its cells
				// predict the second class, the first is the reference.
				g.refCat = 0
			} else {
				c.errs.add(pm, "cannot tell the reference category: give targetReferenceCategory, or leave exactly one class without <PCell>s (%d classes have none)", len(missing))
				return nil
			}
		}
		for i, label := range m.cats {
			if i == g.refCat {
				continue
			}
			key := label
			if _, ok := byCat[label]; !ok {
				key = ""
			}
			r := glmRow{cat: i}
			for _, pc := range byCat[key] {
				r.cells = append(r.cells, glmCell{design: design(label, pc.param), beta: pc.beta})
			}
			g.rows = append(g.rows, r)
		}
		if kind == glmGeneralized && len(m.cats) != 2 {
			c.errs.add(e, "generalizedLinear classification with %d classes is not defined; export it as multinomialLogistic", len(m.cats))
			return nil
		}
	case glmOrdinal:
		// Cumulative link: every class but the last has its own intercept
		// (the cells with its targetCategory) and shares the others.
		order := make([]int, 0, len(m.cats))
		for i := range m.cats {
			if i != g.refCat {
				order = append(order, i)
			}
		}
		if g.refCat >= 0 {
			order = append(order, g.refCat)
		}
		g.refCat = order[len(order)-1]
		for _, i := range order[:len(order)-1] {
			label := m.cats[i]
			own, ok := byCat[label]
			if !ok {
				c.errs.add(pm, "ordinalMultinomial: class %q has no intercept <PCell>", label)
				return nil
			}
			r := glmRow{cat: i}
			for _, pc := range own {
				r.cells = append(r.cells, glmCell{design: design(label, pc.param), beta: pc.beta})
			}
			for _, pc := range byCat[""] {
				r.cells = append(r.cells, glmCell{design: design(label, pc.param), beta: pc.beta})
			}
			g.rows = append(g.rows, r)
		}
	}
	m.scratch = len(g.designs) + len(g.rows)
	return g
}

func (c *compiler) coxTables(g *generalRegression, e *elem, sc *scope) {
	t := e.child("BaseCumHazardTables")
	if t == nil {
		c.errs.add(e, "CoxRegression needs <BaseCumHazardTables>")
		return
	}
	end, ok := e.attr("endTimeVariable")
	if !ok {
		c.errs.add(e, "CoxRegression needs endTimeVariable")
		return
	}
	if f := c.resolve(sc, end, e); f != nil {
		g.endSlot = f.slot
	}
	cells := func(parent *elem) []coxCell {
		var out []coxCell
		for _, ce := range parent.all("BaselineCell") {
			c.errs.checkChildren(ce)
			out = append(out, coxCell{time: c.errs.reqFloat(ce, "time"), hazard: c.errs.reqFloat(ce, "cumHazard")})
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].time < out[j].time })
		return out
	}
	if name, ok := e.attr("baselineStrataVariable"); ok {
		c.errs.checkChildren(t, "BaselineStratum")
		f := c.resolve(sc, name, e)
		if f == nil {
			return
		}
		g.strataSlot = f.slot
		for _, se := range t.all("BaselineStratum") {
			c.errs.checkChildren(se, "BaselineCell")
			v, _ := c.literal(se, "value", fieldType(f))
			g.strata = append(g.strata, coxStratum{value: v, maxTime: c.errs.reqFloat(se, "maxTime"), cells: cells(se)})
		}
		return
	}
	c.errs.checkChildren(t, "BaselineCell")
	g.strata = []coxStratum{{maxTime: c.errs.reqFloat(t, "maxTime"), cells: cells(t)}}
}

// designs computes every parameter's value once; ok is false when an input
// it needs is missing, which leaves the model without a prediction.
func (g *generalRegression) designValues(s *Scorer, x []float64) bool {
	for i := range g.designs {
		v := 1.0
		for j := range g.designs[i].terms {
			t := &g.designs[i].terms[j]
			in := s.get(t.slot)
			if in.kind == KindMissing {
				return false
			}
			if t.factor {
				if !equalValues(in, t.level) {
					v = 0
				}
				continue
			}
			f, ok := in.Float()
			if !ok {
				return false
			}
			if t.exp != 1 {
				f = math.Pow(f, t.exp)
			}
			v *= f
		}
		x[i] = v
	}
	return true
}

func (r *glmRow) dot(x []float64) float64 {
	y := 0.0
	for _, c := range r.cells {
		y += c.beta * x[c.design]
	}
	return y
}

func (g *generalRegression) addend(s *Scorer) (offset, trials float64, ok bool) {
	offset, trials = g.offset, g.trials
	if g.offsetSlot >= 0 {
		f, ok := s.get(g.offsetSlot).Float()
		if !ok {
			return 0, 0, false
		}
		offset = f
	}
	if g.trialsSlot >= 0 {
		f, ok := s.get(g.trialsSlot).Float()
		if !ok {
			return 0, 0, false
		}
		trials = f
	}
	return offset, trials, true
}

func (g *generalRegression) eval(s *Scorer, p *prediction) {
	m := g.m
	x := p.scratch[:len(g.designs)]
	if !g.designValues(s, x) {
		return
	}
	offset, trials, ok := g.addend(s)
	if !ok {
		return
	}
	if m.fn == regression {
		eta := g.rows[0].dot(x)
		switch g.kind {
		case glmCox:
			g.cox(s, p, eta)
			return
		case glmGeneralized:
			y := inverseLink(g.link, eta+offset, g.linkParam)
			if g.hasTrials {
				y *= trials
			}
			m.setNumber(p, y)
			return
		}
		m.setNumber(p, eta+offset)
		return
	}
	probs := p.probs
	switch g.kind {
	case glmGeneralized:
		r := &g.rows[0]
		eta := r.dot(x) + offset
		probs[r.cat] = inverseLink(g.link, eta, g.linkParam)
		probs[g.refCat] = complementLink(g.link, eta, g.linkParam)
	case glmMultinomial:
		// Softmax against the reference category's zero, from the largest
		// predictor so that small probabilities keep their digits.
		etas := p.scratch[len(g.designs):]
		maxEta := 0.0
		for i := range g.rows {
			etas[i] = g.rows[i].dot(x) + offset
			maxEta = math.Max(maxEta, etas[i])
		}
		sum := math.Exp(-maxEta)
		probs[g.refCat] = sum
		for i := range g.rows {
			q := math.Exp(etas[i] - maxEta)
			probs[g.rows[i].cat] = q
			sum += q
		}
		for i := range probs {
			probs[i] /= sum
		}
	case glmOrdinal:
		prev := 0.0
		for i := range g.rows {
			cum := inverseLink(g.link, g.rows[i].dot(x)+offset, 0)
			probs[g.rows[i].cat] = cum - prev
			prev = cum
		}
		probs[g.refCat] = 1 - prev
	}
	m.setClass(p)
}

// cox gives the survival at the end time: exp(-H0(t) exp(eta - eta_ref)),
// with H0 the baseline cumulative hazard of the last cell at or before t.
func (g *generalRegression) cox(s *Scorer, p *prediction, eta float64) {
	st := &g.strata[0]
	if g.strataSlot >= 0 {
		v := s.get(g.strataSlot)
		st = nil
		for i := range g.strata {
			if v.kind != KindMissing && equalValues(v, g.strata[i].value) {
				st = &g.strata[i]
				break
			}
		}
		if st == nil {
			return
		}
	}
	t, ok := s.get(g.endSlot).Float()
	if !ok || len(st.cells) == 0 {
		return
	}
	if t < st.cells[0].time {
		g.m.setNumber(p, 1)
		return
	}
	if t > st.maxTime {
		return
	}
	i := sort.Search(len(st.cells), func(i int) bool { return st.cells[i].time > t }) - 1
	h := st.cells[i].hazard * math.Exp(eta-g.refDot)
	g.m.setNumber(p, math.Exp(-h))
}
