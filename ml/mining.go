package ml

import (
	"math"
	"sort"
)

type combine uint8

const (
	cmSum combine = iota
	cmAverage
	cmWeightedAverage
	cmMedian
	cmWeightedMedian
	cmMax
	cmWeightedSum
	cmMajorityVote
	cmWeightedMajorityVote
	cmSelectFirst
	cmSelectAll
	cmModelChain
)

var combineNames = map[string]combine{
	"sum": cmSum, "average": cmAverage, "weightedAverage": cmWeightedAverage,
	"median": cmMedian, "weightedMedian": cmWeightedMedian, "max": cmMax, "weightedSum": cmWeightedSum,
	"majorityVote": cmMajorityVote, "weightedMajorityVote": cmWeightedMajorityVote,
	"selectFirst": cmSelectFirst, "selectAll": cmSelectAll, "modelChain": cmModelChain,
}

type segment struct {
	// quick is set for a plain regression tree (no Targets, no Output,
	// predicate True) whose score an ensemble can take without a full
	// prediction.
	quick  *treeModel
	id     string
	pred   *predicate
	weight float64
	model  *modelNode
	// classMap maps the segment model's class indexes to the parent's.
	classMap []int
}

type missingPrediction uint8

const (
	mpReturnMissing missingPrediction = iota
	mpSkipSegment
	mpContinue
)

type miningModel struct {
	m         *modelNode
	forest    *forest
	segs      []segment
	method    combine
	missing   missingPrediction
	threshold float64
}

func (c *compiler) miningModel(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "Segmentation")
	if e.child("Regression") != nil || e.child("DecisionTree") != nil {
		c.errs.add(e, "<MiningModel> model composition (embedded Regression/DecisionTree) is not supported; use Segmentation")
	}
	seg := e.child("Segmentation")
	if seg == nil {
		c.errs.add(e, "<MiningModel> has no <Segmentation>")
		return nil
	}
	c.errs.checkChildren(seg, "Segment")
	mm := &miningModel{m: m}
	name := c.errs.reqAttr(seg, "multipleModelMethod")
	method, ok := combineNames[name]
	if !ok {
		c.errs.add(seg, "multipleModelMethod %q is not supported", name)
		return nil
	}
	mm.method = method
	switch c.errs.enum(seg, "missingPredictionTreatment", "returnMissing", "skipSegment", "continue") {
	case "skipSegment":
		mm.missing = mpSkipSegment
	case "continue":
		mm.missing = mpContinue
	}
	mm.threshold = c.errs.float(seg, "missingThreshold", 1)
	switch method {
	case cmMajorityVote, cmWeightedMajorityVote:
		if m.fn != classification {
			c.errs.add(seg, "multipleModelMethod %q needs a classification model", name)
		}
	case cmSum, cmMedian, cmWeightedMedian, cmWeightedSum:
		if m.fn != regression {
			c.errs.add(seg, "multipleModelMethod %q needs a regression model", name)
		}
	}
	for _, se := range seg.all("Segment") {
		s := segment{id: se.attrOr("id", ""), weight: c.errs.float(se, "weight", 1), pred: truePredicate}
		var modelElem *elem
		for _, ch := range se.children {
			switch {
			case ignorable[ch.name]:
			case predicateElems[ch.name]:
				s.pred = c.predicate(ch, sc)
			case supportedModels[ch.name]:
				if modelElem != nil {
					c.errs.add(ch, "<Segment> holds more than one model")
				}
				modelElem = ch
			default:
				c.errs.unsupported(ch)
			}
		}
		if modelElem == nil {
			c.errs.add(se, "<Segment> holds no supported model")
			continue
		}
		sm := c.model(modelElem, sc, false)
		if sm == nil {
			continue
		}
		s.model = sm
		if method == cmModelChain {
			// Later segments of a chain see earlier segments' outputs.
			for _, o := range sm.outputs {
				sc.fields[o.name] = &scopeField{slot: o.slot, def: o.def}
			}
		}
		if m.fn == classification && sm.fn == classification {
			for _, label := range sm.cats {
				s.classMap = append(s.classMap, c.cat(m, label, modelElem))
			}
		}
		if sm.maxReasons > m.maxReasons {
			m.maxReasons = sm.maxReasons
		}
		if t, ok := sm.eval.(*treeModel); ok && sm.fn == regression && sm.targets == nil && len(sm.outputs) == 0 && s.pred == truePredicate && t.root.pred.kind == predTrue {
			s.quick = t
		}
		mm.segs = append(mm.segs, s)
	}
	if len(mm.segs) == 0 {
		c.errs.add(seg, "<Segmentation> has no segments")
		return nil
	}
	for i := range mm.segs {
		if method == cmModelChain && i < len(mm.segs)-1 {
			// Inner links of a chain may compute anything for later links.
			continue
		}
		if sm := mm.segs[i].model; sm.fn != m.fn {
			c.errs.add(seg, "segment %q is a %s model inside a %s model", mm.segs[i].id, fnName(sm.fn), fnName(m.fn))
		}
	}
	m.scratch = len(mm.segs) * 2
	if m.fn == regression {
		switch method {
		case cmSum, cmAverage, cmWeightedAverage, cmMedian, cmWeightedMedian, cmMax, cmWeightedSum:
			if mm.forest = buildForest(mm.segs); mm.forest != nil {
				m.scratch += len(mm.forest.slots)
			}
		}
	}
	return mm
}

func (mm *miningModel) weight(sg *segment) float64 {
	switch mm.method {
	case cmWeightedAverage, cmWeightedMedian, cmWeightedSum, cmWeightedMajorityVote:
		return sg.weight
	}
	return 1
}

func fnName(f mfunc) string {
	switch f {
	case classification:
		return "classification"
	case clustering:
		return "clustering"
	}
	return "regression"
}

func (mm *miningModel) eval(s *Scorer, p *prediction) {
	m := mm.m
	switch mm.method {
	case cmModelChain, cmSelectFirst, cmSelectAll:
		var chosen *segment
		var cp *prediction
		for i := range mm.segs {
			sg := &mm.segs[i]
			if sg.pred.eval(s) != triTrue {
				continue
			}
			sp := s.evalModel(sg.model)
			if mm.method != cmModelChain {
				if chosen == nil {
					chosen, cp = sg, sp
				}
				if mm.method == cmSelectFirst {
					break
				}
				continue
			}
			chosen, cp = sg, sp
		}
		if chosen != nil {
			mm.copyFrom(p, chosen, cp)
		}
		return
	}
	nums := p.scratch[:0]
	weights := p.scratch[len(mm.segs):len(mm.segs)]
	total, missing, used := 0.0, 0, 0
	if f := mm.forest; f != nil {
		n := len(mm.segs)
		if f.scores(s, p.scratch[2*n:], p.scratch[:n]) {
			nums = p.scratch[:n]
			weights = p.scratch[n : 2*n]
			for i := range mm.segs {
				weights[i] = mm.weight(&mm.segs[i])
			}
			mm.combine(p, nums, weights)
			return
		}
	}
	for i := range mm.segs {
		sg := &mm.segs[i]
		if sg.quick != nil && m.fn == regression {
			if x, ok := sg.quick.quick(s); ok {
				used++
				nums = append(nums, x)
				weights = append(weights, mm.weight(sg))
				continue
			}
		}
		if sg.pred.eval(s) != triTrue {
			continue
		}
		used++
		sp := s.evalModel(sg.model)
		if !sp.ok {
			missing++
			if mm.missing == mpReturnMissing {
				return
			}
			continue
		}
		w := sg.weight
		switch mm.method {
		case cmSum, cmAverage, cmMedian, cmMax:
			if m.fn == regression {
				nums = append(nums, sp.num)
				weights = append(weights, 1)
				continue
			}
		case cmWeightedAverage, cmWeightedMedian, cmWeightedSum:
			if m.fn == regression {
				nums = append(nums, sp.num)
				weights = append(weights, w)
				continue
			}
		}
		// Classification: votes or probabilities in the parent's classes.
		switch mm.method {
		case cmMajorityVote, cmWeightedMajorityVote:
			if mm.method == cmMajorityVote {
				w = 1
			}
			p.probs[sg.classMap[sp.cls]] += w
			total += w
		case cmAverage, cmWeightedAverage:
			if mm.method == cmAverage {
				w = 1
			}
			for j, q := range sp.probs {
				p.probs[sg.classMap[j]] += w * q
			}
			total += w
		case cmMax:
			best := 0.0
			for _, q := range sp.probs {
				best = math.Max(best, q)
			}
			if total == 0 || best > total {
				for j := range p.probs {
					p.probs[j] = 0
				}
				for j, q := range sp.probs {
					p.probs[sg.classMap[j]] = q
				}
				total = best
			}
		}
	}
	if used == 0 || missing == used || mm.missing == mpContinue && float64(missing)/float64(used) > mm.threshold {
		return
	}
	if m.fn == classification {
		if mm.method != cmMax {
			if total <= 0 {
				return
			}
			for j := range p.probs {
				p.probs[j] /= total
			}
		}
		m.setClass(p)
		return
	}
	mm.combine(p, nums, weights)
}

// combine finishes a regression ensemble from its segments' values.
func (mm *miningModel) combine(p *prediction, nums, weights []float64) {
	var y float64
	switch mm.method {
	case cmSum:
		for _, x := range nums {
			y += x
		}
	case cmWeightedSum:
		for i, x := range nums {
			y += weights[i] * x
		}
	case cmAverage, cmWeightedAverage:
		sw := 0.0
		for i, x := range nums {
			y += weights[i] * x
			sw += weights[i]
		}
		y /= sw
	case cmMax:
		y = math.Inf(-1)
		for _, x := range nums {
			y = math.Max(y, x)
		}
	case cmMedian:
		sort.Float64s(nums)
		y = median(nums)
	case cmWeightedMedian:
		y = weightedMedian(nums, weights)
	}
	mm.m.setNumber(p, y)
}

// weightedMedian is the smallest value at which the cumulative weight
// reaches half of the total.
func weightedMedian(xs, ws []float64) float64 {
	n := len(xs)
	// Insertion sort keeps the pairs together without allocating.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && xs[j] < xs[j-1]; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
	total := 0.0
	for _, w := range ws {
		total += w
	}
	acc := 0.0
	for i, w := range ws {
		acc += w
		if acc >= total/2 {
			return xs[i]
		}
	}
	return math.NaN()
}

func (mm *miningModel) copyFrom(p *prediction, sg *segment, sp *prediction) {
	m := mm.m
	if !sp.ok {
		return
	}
	p.ok, p.value, p.num = true, sp.value, sp.num
	if m.fn == classification && sg.classMap != nil {
		p.cls = sg.classMap[sp.cls]
	}
	p.entity = sp.entityID()
	p.conf, p.hasConf = sp.conf, sp.hasConf
	p.reasons = append(p.reasons[:0], sp.reasonList()...)
	if m.fn == classification && sp.hasProbs && sg.classMap != nil {
		for j, q := range sp.probs {
			p.probs[sg.classMap[j]] = q
		}
		p.hasProbs = true
	}
}
