package ml

import "math"

// A ComparisonMeasure with its per-field compare functions, shared by
// ClusteringModel and NearestNeighborModel.

type measureKind uint8

const (
	measEuclidean measureKind = iota
	measSquaredEuclidean
	measChebychev
	measCityBlock
	measMinkowski
	measSimpleMatching
	measJaccard
	measTanimoto
	measBinarySimilarity
)

var measureKinds = map[string]measureKind{
	"euclidean": measEuclidean, "squaredEuclidean": measSquaredEuclidean, "chebychev": measChebychev,
	"cityBlock": measCityBlock, "minkowski": measMinkowski, "simpleMatching": measSimpleMatching,
	"jaccard": measJaccard, "tanimoto": measTanimoto, "binarySimilarity": measBinarySimilarity,
}

type compareFn uint8

const (
	cmpAbsDiff compareFn = iota
	cmpGaussSim
	cmpDelta
	cmpEqual
)

var compareFns = map[string]compareFn{"absDiff": cmpAbsDiff, "gaussSim": cmpGaussSim, "delta": cmpDelta, "equal": cmpEqual}

type measure struct {
	kind       measureKind
	similarity bool
	p          float64
	// binarySimilarity: c11 c10 c01 c00 then d11 d10 d01 d00.
	coef [8]float64
}

// measureField is one compared field: its slot, weight and compare
// function; numeric fields compare numbers, others their text.
type measureField struct {
	slot    int
	weight  float64
	cmp     compareFn
	scale   float64
	numeric bool
	missQ   float64 // weight in the missing-value adjustment
}

func (c *compiler) comparisonMeasure(e *elem) (measure, compareFn, bool) {
	var ms measure
	cm := e.child("ComparisonMeasure")
	if cm == nil {
		c.errs.add(e, "<%s> has no <ComparisonMeasure>", e.name)
		return ms, 0, false
	}
	ms.similarity = c.errs.enum(cm, "kind", "distance", "similarity") == "similarity"
	def, ok := compareFns[cm.attrOr("compareFunction", "absDiff")]
	if !ok {
		c.errs.add(cm, "<ComparisonMeasure> compareFunction %q is not supported (supported: absDiff, gaussSim, delta, equal)", cm.attrOr("compareFunction", ""))
		return ms, 0, false
	}
	var me *elem
	for _, ch := range cm.children {
		if ignorable[ch.name] {
			continue
		}
		if me != nil {
			c.errs.add(ch, "<ComparisonMeasure> has more than one measure")
			return ms, 0, false
		}
		me = ch
	}
	if me == nil {
		c.errs.add(cm, "<ComparisonMeasure> has no measure")
		return ms, 0, false
	}
	kind, ok := measureKinds[me.name]
	if !ok {
		c.errs.add(me, "measure <%s> is not supported (supported: euclidean, squaredEuclidean, chebychev, cityBlock, minkowski, simpleMatching, jaccard, tanimoto, binarySimilarity)", me.name)
		return ms, 0, false
	}
	c.errs.checkChildren(me)
	ms.kind = kind
	switch kind {
	case measMinkowski:
		ms.p = c.errs.reqFloat(me, "p-parameter")
		if ms.p <= 0 {
			c.errs.add(me, "<minkowski> p-parameter must be positive")
		}
	case measBinarySimilarity:
		for i, a := range []string{"c11-parameter", "c10-parameter", "c01-parameter", "c00-parameter", "d11-parameter", "d10-parameter", "d01-parameter", "d00-parameter"} {
			ms.coef[i] = c.errs.reqFloat(me, a)
		}
	}
	binary := kind >= measSimpleMatching
	if binary != ms.similarity {
		want := "distance"
		if binary {
			want = "similarity"
		}
		c.errs.add(cm, "<%s> is a %s measure: set kind=%q", me.name, want, want)
		return ms, 0, false
	}
	return ms, def, true
}

// compareFunction reads a field's compareFunction (falling back to the
// measure's) and its similarityScale.
func (c *compiler) compareFunction(e *elem, def compareFn, f *measureField) bool {
	f.cmp = def
	if s, ok := e.attr("compareFunction"); ok {
		cf, ok := compareFns[s]
		if !ok {
			c.errs.add(e, "compareFunction %q is not supported (supported: absDiff, gaussSim, delta, equal)", s)
			return false
		}
		f.cmp = cf
	}
	f.scale = c.errs.float(e, "similarityScale", math.NaN())
	if f.cmp == cmpGaussSim && (math.IsNaN(f.scale) || f.scale == 0) {
		c.errs.add(e, "compareFunction \"gaussSim\" needs a similarityScale")
		return false
	}
	if !f.numeric && (f.cmp == cmpAbsDiff || f.cmp == cmpGaussSim) {
		c.errs.add(e, "compareFunction %q needs a numeric field; use delta or equal for a categorical one", e.attrOr("compareFunction", "absDiff"))
		return false
	}
	return true
}

// compare is a field's compare function on a present input and a
// reference value: numbers in x and y, or for a categorical field
// whether they are equal.
func (f *measureField) compare(x, y float64, same bool) float64 {
	switch f.cmp {
	case cmpGaussSim:
		d := x - y
		return math.Exp(-math.Ln2 * d * d / (f.scale * f.scale))
	case cmpDelta:
		if f.numeric {
			same = x == y
		}
		if same {
			return 0
		}
		return 1
	case cmpEqual:
		if f.numeric {
			same = x == y
		}
		if same {
			return 1
		}
		return 0
	}
	return math.Abs(x - y)
}

// accumulator folds compared fields into a distance or similarity.
type accumulator struct {
	sum, max  float64
	a         [4]float64 // binary counts a11 a10 a01 a00
	qAll, qIn float64
}

func (a *accumulator) add(ms *measure, f *measureField, c, x, y float64) {
	a.qIn += f.missQ
	switch ms.kind {
	case measEuclidean, measSquaredEuclidean:
		a.sum += f.weight * c * c
	case measCityBlock:
		a.sum += f.weight * c
	case measChebychev:
		a.max = math.Max(a.max, f.weight*c)
	case measMinkowski:
		a.sum += f.weight * math.Pow(c, ms.p)
	default:
		i := 0
		if x == 0 {
			i += 2
		}
		if y == 0 {
			i++
		}
		a.a[i] += f.weight
	}
}

// result finishes the measure; ok is false when no field was present.
// Distances over present fields are scaled up by the share of the
// missing-value weights they cover.
func (a *accumulator) result(ms *measure) (float64, bool) {
	if a.qIn == 0 {
		return 0, false
	}
	adj := a.qAll / a.qIn
	a11, a10, a01, a00 := a.a[0], a.a[1], a.a[2], a.a[3]
	switch ms.kind {
	case measEuclidean:
		return math.Sqrt(a.sum * adj), true
	case measSquaredEuclidean, measCityBlock:
		return a.sum * adj, true
	case measChebychev:
		return a.max * adj, true
	case measMinkowski:
		return math.Pow(a.sum*adj, 1/ms.p), true
	case measSimpleMatching:
		return (a11 + a00) / (a11 + a10 + a01 + a00), true
	case measJaccard:
		return a11 / (a11 + a10 + a01), true
	case measTanimoto:
		return (a11 + a00) / (a11 + 2*(a10+a01) + a00), true
	}
	k := &ms.coef
	return (k[0]*a11 + k[1]*a10 + k[2]*a01 + k[3]*a00) / (k[4]*a11 + k[5]*a10 + k[6]*a01 + k[7]*a00), true
}

// better reports whether affinity x beats y under the measure: smaller
// distances, larger similarities.
func (ms *measure) better(x, y float64) bool {
	if ms.similarity {
		return x > y
	}
	return x < y
}
