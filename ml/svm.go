package ml

import (
	"math"
	"strconv"
)

type svmKernel uint8

const (
	kernelLinear svmKernel = iota
	kernelPolynomial
	kernelRBF
	kernelSigmoid
)

// svmField is one coordinate of the input vector: a field's number, or for
// a CategoricalPredictor the coefficient when the field has that value.
type svmField struct {
	slot  int
	cat   bool
	level Value
	coef  float64
}

// svmMachine is one SupportVectorMachine: f(x) = Σ α_i K(x, v_i) + b, or
// with the Coefficients representation f(x) = Σ c_j x_j + b.
type svmMachine struct {
	cat, alt  int // targetCategory and alternateTargetCategory; -1 for none
	threshold float64
	b         float64
	vecs      []int32
	alphas    []float64
}

type svmModel struct {
	m      *modelNode
	kernel svmKernel
	gamma  float64
	coef0  float64
	degree float64
	fields []svmField
	// Support vectors are sparse (indicator columns are mostly 0): vector
	// i holds the entries at nzIdx[nzStart[i]:nzStart[i+1]].
	nzStart  []int32
	nzIdx    []int32
	nzVal    []float64
	machines []svmMachine
	coefRep  bool
	vote     bool // one-against-one or binary: each machine votes
	maxWins  bool
}

func (c *compiler) svmModel(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "LinearKernelType", "PolynomialKernelType", "RadialBasisKernelType", "SigmoidKernelType", "VectorDictionary", "SupportVectorMachine")
	v := &svmModel{m: m}
	if m.fn == clustering {
		c.errs.add(e, "<SupportVectorMachineModel> needs functionName classification or regression")
		return nil
	}
	kernels := 0
	for _, k := range []struct {
		name string
		kind svmKernel
	}{{"LinearKernelType", kernelLinear}, {"PolynomialKernelType", kernelPolynomial}, {"RadialBasisKernelType", kernelRBF}, {"SigmoidKernelType", kernelSigmoid}} {
		ke := e.child(k.name)
		if ke == nil {
			continue
		}
		c.errs.checkChildren(ke)
		kernels++
		v.kernel = k.kind
		v.gamma = c.errs.float(ke, "gamma", 1)
		v.coef0 = c.errs.float(ke, "coef0", 1)
		v.degree = c.errs.float(ke, "degree", 1)
	}
	if kernels != 1 {
		c.errs.add(e, "<SupportVectorMachineModel> needs exactly one kernel type element, has %d", kernels)
		return nil
	}
	v.coefRep = c.errs.enum(e, "svmRepresentation", "SupportVectors", "Coefficients") == "Coefficients"
	if v.coefRep && v.kernel != kernelLinear {
		c.errs.add(e, "svmRepresentation=\"Coefficients\" needs a <LinearKernelType>")
	}
	method := c.errs.enum(e, "classificationMethod", "OneAgainstAll", "OneAgainstOne")
	v.maxWins = c.errs.enum(e, "maxWins", "false", "true") == "true"
	threshold := c.errs.float(e, "threshold", 0)

	vd := e.child("VectorDictionary")
	if vd == nil {
		c.errs.add(e, "<SupportVectorMachineModel> has no <VectorDictionary>")
		return nil
	}
	c.errs.checkChildren(vd, "VectorFields", "VectorInstance")
	vf := vd.child("VectorFields")
	if vf == nil {
		c.errs.add(vd, "<VectorDictionary> has no <VectorFields>")
		return nil
	}
	c.errs.checkChildren(vf, "FieldRef", "CategoricalPredictor")
	for _, fe := range vf.children {
		switch fe.name {
		case "FieldRef":
			f := c.resolve(sc, c.errs.reqAttr(fe, "field"), fe)
			if f == nil {
				continue
			}
			v.fields = append(v.fields, svmField{slot: f.slot})
		case "CategoricalPredictor":
			f := c.resolve(sc, c.errs.reqAttr(fe, "name"), fe)
			if f == nil {
				continue
			}
			lv, ok := c.literal(fe, "value", fieldType(f))
			if !ok {
				c.errs.add(fe, "<CategoricalPredictor> needs attribute value")
			}
			v.fields = append(v.fields, svmField{slot: f.slot, cat: true, level: lv, coef: c.errs.float(fe, "coefficient", 1)})
		}
	}
	dim := len(v.fields)
	ids := map[string]int32{}
	for _, ve := range vd.all("VectorInstance") {
		c.errs.checkChildren(ve, "REAL-SparseArray", "Array", "REAL-ARRAY")
		id := c.errs.reqAttr(ve, "id")
		if _, dup := ids[id]; dup {
			c.errs.add(ve, "vector id %q is used twice", id)
			continue
		}
		row := make([]float64, dim)
		if !c.realVector(ve, row) {
			continue
		}
		ids[id] = int32(len(ids))
		v.nzStart = append(v.nzStart, int32(len(v.nzIdx)))
		for j, x := range row {
			if x != 0 {
				v.nzIdx = append(v.nzIdx, int32(j))
				v.nzVal = append(v.nzVal, x)
			}
		}
	}

	for _, me := range e.all("SupportVectorMachine") {
		c.errs.checkChildren(me, "SupportVectors", "Coefficients")
		mc := svmMachine{cat: -1, alt: -1, threshold: c.errs.float(me, "threshold", threshold)}
		if m.fn == classification {
			label, ok := me.attr("targetCategory")
			if !ok {
				c.errs.add(me, "<SupportVectorMachine> of a classification needs targetCategory")
				continue
			}
			mc.cat = c.cat(m, label, me)
			if alt, ok := me.attr("alternateTargetCategory"); ok {
				mc.alt = c.cat(m, alt, me)
			}
		}
		ce := me.child("Coefficients")
		if ce == nil {
			c.errs.add(me, "<SupportVectorMachine> has no <Coefficients>")
			continue
		}
		c.errs.checkChildren(ce, "Coefficient")
		mc.b = c.errs.float(ce, "absoluteValue", 0)
		for _, co := range ce.all("Coefficient") {
			c.errs.checkChildren(co)
			mc.alphas = append(mc.alphas, c.errs.float(co, "value", 0))
		}
		if v.coefRep {
			if len(mc.alphas) != dim {
				c.errs.add(ce, "<Coefficients> of the Coefficients representation needs one per vector field (%d), has %d", dim, len(mc.alphas))
				continue
			}
		} else {
			sv := me.child("SupportVectors")
			if sv == nil {
				c.errs.add(me, "<SupportVectorMachine> has no <SupportVectors>")
				continue
			}
			c.errs.checkChildren(sv, "SupportVector")
			for _, s := range sv.all("SupportVector") {
				c.errs.checkChildren(s)
				id := c.errs.reqAttr(s, "vectorId")
				i, ok := ids[id]
				if !ok {
					c.errs.add(s, "<SupportVector> vectorId %q is not in the <VectorDictionary>", id)
					continue
				}
				mc.vecs = append(mc.vecs, i)
			}
			if len(mc.vecs) != len(mc.alphas) {
				c.errs.add(ce, "%d support vectors but %d coefficients", len(mc.vecs), len(mc.alphas))
				continue
			}
		}
		v.machines = append(v.machines, mc)
	}
	v.nzStart = append(v.nzStart, int32(len(v.nzIdx)))
	if len(v.machines) == 0 {
		c.errs.add(e, "<SupportVectorMachineModel> has no usable <SupportVectorMachine>")
		return nil
	}
	if m.fn == regression {
		if len(v.machines) != 1 {
			c.errs.add(e, "regression <SupportVectorMachineModel> needs exactly one <SupportVectorMachine>, has %d", len(v.machines))
		}
	} else {
		if alt, ok := e.attr("alternateBinaryTargetCategory"); ok && len(v.machines) == 1 && v.machines[0].alt < 0 {
			v.machines[0].alt = c.cat(m, alt, e)
		}
		v.vote = method == "OneAgainstOne" || len(v.machines) == 1
		for i := range v.machines {
			if v.vote && v.machines[i].alt < 0 {
				c.errs.add(e, "<SupportVectorMachine targetCategory=%q> needs alternateTargetCategory (one-against-one or binary classification; or alternateBinaryTargetCategory on the model)", m.cats[v.machines[i].cat])
				return nil
			}
		}
	}
	m.scratch = dim + len(ids)
	return v
}

// realVector reads a VectorInstance's REAL-SparseArray (1-based indices) or
// dense Array into row.
func (c *compiler) realVector(ve *elem, row []float64) bool {
	if sa := ve.child("REAL-SparseArray"); sa != nil {
		c.errs.checkChildren(sa, "Indices", "REAL-Entries")
		var idx, vals []string
		if ie := sa.child("Indices"); ie != nil {
			idx, _ = splitArray(ie.text)
		}
		if re := sa.child("REAL-Entries"); re != nil {
			vals, _ = splitArray(re.text)
		}
		if len(idx) != len(vals) {
			c.errs.add(sa, "<REAL-SparseArray> has %d indices and %d entries", len(idx), len(vals))
			return false
		}
		if n := c.errs.float(sa, "n", float64(len(row))); int(n) != len(row) {
			c.errs.add(sa, "<REAL-SparseArray> n=%v, but there are %d vector fields", n, len(row))
			return false
		}
		for k := range idx {
			i, err := strconv.Atoi(idx[k])
			if err != nil || i < 1 || i > len(row) {
				c.errs.add(sa, "<REAL-SparseArray> index %q is not in 1..%d", idx[k], len(row))
				return false
			}
			x, err := parseNumber(vals[k])
			if err != nil {
				c.errs.add(sa, "<REAL-SparseArray> entry %q is not a number", vals[k])
				return false
			}
			row[i-1] = x
		}
		return true
	}
	a := ve.child("Array")
	if a == nil {
		a = ve.child("REAL-ARRAY")
	}
	if a == nil {
		c.errs.add(ve, "<VectorInstance> has no <REAL-SparseArray> or <Array>")
		return false
	}
	items, err := splitArray(a.text)
	if err != nil || len(items) != len(row) {
		c.errs.add(a, "<%s> has %d numbers, there are %d vector fields", a.name, len(items), len(row))
		return false
	}
	for i, it := range items {
		x, err := parseNumber(it)
		if err != nil {
			c.errs.add(a, "<%s> entry %q is not a number", a.name, it)
			return false
		}
		row[i] = x
	}
	return true
}

// kernelOf is K(x, v_i) for support vector i; xx is x·x. The squared
// distance of the RBF kernel is x·x + Σ v_j (v_j - 2 x_j) over the
// vector's non-zero entries, exact where x and v_i share their zeros.
func (v *svmModel) kernelOf(x []float64, xx float64, i int32) float64 {
	lo, hi := v.nzStart[i], v.nzStart[i+1]
	idx, val := v.nzIdx[lo:hi], v.nzVal[lo:hi]
	if v.kernel == kernelRBF {
		d := xx
		for k, j := range idx {
			d += val[k] * (val[k] - 2*x[j])
		}
		return math.Exp(-v.gamma * math.Max(d, 0))
	}
	dot := 0.0
	for k, j := range idx {
		dot += val[k] * x[j]
	}
	switch v.kernel {
	case kernelPolynomial:
		return math.Pow(v.gamma*dot+v.coef0, v.degree)
	case kernelSigmoid:
		return math.Tanh(v.gamma*dot + v.coef0)
	}
	return dot
}

func (v *svmModel) eval(s *Scorer, p *prediction) {
	dim := len(v.fields)
	x := p.scratch[:dim]
	for i := range v.fields {
		f := &v.fields[i]
		in := s.get(f.slot)
		if in.kind == KindMissing {
			return
		}
		if f.cat {
			x[i] = 0
			if equalValues(in, f.level) {
				x[i] = f.coef
			}
			continue
		}
		n, ok := in.Float()
		if !ok {
			return
		}
		x[i] = n
	}
	xx := 0.0
	for _, xi := range x {
		xx += xi * xi
	}
	// Kernel values are computed once per vector: one-against-one machines
	// share their support vectors.
	k := p.scratch[dim:]
	if !v.coefRep {
		for i := range k {
			k[i] = math.NaN()
		}
	}
	m := v.m
	best, bestY := -1, 0.0
	for mi := range v.machines {
		mc := &v.machines[mi]
		y := mc.b
		if v.coefRep {
			for j, c := range mc.alphas {
				y += c * x[j]
			}
		} else {
			for j, vi := range mc.vecs {
				kv := k[vi]
				if kv != kv {
					kv = v.kernelOf(x, xx, vi)
					k[vi] = kv
				}
				y += mc.alphas[j] * kv
			}
		}
		if m.fn == regression {
			m.setNumber(p, y)
			return
		}
		if v.vote {
			// The target category wins below the threshold (above it with
			// maxWins), the alternate otherwise.
			win := mc.alt
			if !v.maxWins && y < mc.threshold || v.maxWins && y > mc.threshold {
				win = mc.cat
			}
			p.probs[win]++
			continue
		}
		if best < 0 || !v.maxWins && y < bestY || v.maxWins && y > bestY {
			best, bestY = mc.cat, y
		}
	}
	if !v.vote {
		p.probs[best] = 1
	} else {
		for i := range p.probs {
			p.probs[i] /= float64(len(v.machines))
		}
	}
	m.setClass(p)
}
