package ml

import "math"

type mfunc uint8

const (
	regression mfunc = iota
	classification
	clustering
)

// modelEval is the model-specific part of a compiled model.
type modelEval interface {
	eval(s *Scorer, p *prediction)
}

// modelNode is one compiled model: the top model or a segment's model.
type modelNode struct {
	id         int
	kind       string // element name
	fn         mfunc
	targetName string
	target     *fieldDef
	cats       []string
	catVals    []Value
	catIdx     map[string]int
	catsFixed  bool
	eval       modelEval
	targets    *targetsSpec
	outputs    []*outputField
	maxReasons int
	scratch    int // float64 scratch the model needs per score
	// ranks is how many ranked entities (neighbours) a prediction holds;
	// affinities how many per-entity affinities (clusters).
	ranks      int
	affinities int
	sc         *scope
}

// prediction is a model's result for one score, held in pre-sized buffers
// owned by the Scorer.
type prediction struct {
	ok       bool
	gen      uint32
	cls      int // index of the predicted class
	value    Value
	num      float64 // value as a number for regression
	probs    []float64
	hasProbs bool
	conf     float64
	hasConf  bool
	entity   string
	display  string // predictedDisplayValue when the model names it (a cluster's name)
	reasons  []string
	// A tree records the flat indexes of its path and leaf; reasons and
	// the entity id are looked up only when asked for.
	tree     *treeModel
	path     []int32
	leaf     int32
	resolved bool
	scratch  []float64
	// Clustering and nearest-neighbour models rank entities: ranked holds
	// entity indexes best first with their affinity in rankAff, names the
	// entity ids by index; affs holds the affinity to every cluster.
	ranked  []int32
	rankAff []float64
	names   []string
	affs    []float64
}

// reasonList returns the reasons, first turning a tree's path into its
// predicates' texts.
func (p *prediction) reasonList() []string {
	if p.tree != nil && !p.resolved {
		p.resolved = true
		p.reasons = p.reasons[:0]
		for _, fi := range p.path {
			if n := p.tree.nodes[p.tree.flat[fi].node]; n.reason != "" {
				p.reasons = append(p.reasons, n.reason)
			}
		}
	}
	return p.reasons
}

func (p *prediction) entityID() string {
	if p.tree != nil && p.leaf >= 0 {
		return p.tree.nodes[p.tree.flat[p.leaf].node].id
	}
	return p.entity
}

func (p *prediction) reset() {
	p.ok = false
	p.value = Value{}
	p.num = 0
	p.hasProbs = false
	p.hasConf = false
	p.entity = ""
	p.display = ""
	p.reasons = p.reasons[:0]
	p.tree = nil
	p.path = p.path[:0]
	p.leaf = -1
	p.resolved = false
	p.ranked = p.ranked[:0]
	p.rankAff = p.rankAff[:0]
	p.names = nil
	for i := range p.probs {
		p.probs[i] = 0
	}
}

// setClass finishes a classification from its probabilities: the predicted
// class is the most probable one, the first in target order on ties.
func (m *modelNode) setClass(p *prediction) {
	best := -1
	for i, q := range p.probs {
		if best < 0 || q > p.probs[best] {
			best = i
		}
	}
	p.hasProbs = true
	if best < 0 || math.IsNaN(p.probs[best]) {
		p.ok = false
		return
	}
	p.ok = true
	p.cls = best
	p.value = m.catVals[best]
}

func (m *modelNode) setNumber(p *prediction, x float64) {
	if math.IsNaN(x) {
		p.ok = false
		return
	}
	p.ok, p.num, p.value = true, x, Num(x)
}

// cat returns the index of a class label of m, adding it when the target
// does not list its values.
func (c *compiler) cat(m *modelNode, label string, at *elem) int {
	k := label
	if m.target != nil {
		if v, ok := parseLiteral(label, m.target.dataType); ok {
			k = key(v)
		}
	}
	if i, ok := m.catIdx[k]; ok {
		return i
	}
	if m.catsFixed {
		c.errs.add(at, "class %q is not a value of target field %q", label, m.targetName)
		return -1
	}
	v := Str(k)
	if m.target != nil {
		if tv, ok := parseLiteral(k, m.target.dataType); ok {
			v = tv
		}
	}
	m.catIdx[k] = len(m.cats)
	m.cats = append(m.cats, k)
	m.catVals = append(m.catVals, v)
	return len(m.cats) - 1
}

func (c *compiler) model(e *elem, parent *scope, top bool) *modelNode {
	if !supportedModels[e.name] {
		c.errs.unsupported(e)
		return nil
	}
	errs := len(c.errs.errs)
	m := &modelNode{id: len(c.nodes), kind: e.name, catIdx: map[string]int{}}
	c.nodes = append(c.nodes, m)
	switch fn := c.errs.reqAttr(e, "functionName"); fn {
	case "regression":
		m.fn = regression
	case "classification":
		m.fn = classification
	case "clustering":
		m.fn = clustering
		if e.name != "ClusteringModel" {
			c.errs.add(e, "<%s> functionName=\"clustering\" is not supported: only a <ClusteringModel> clusters", e.name)
			return nil
		}
	case "":
	default:
		c.errs.add(e, "<%s> functionName=%q is not supported (supported: regression, classification, clustering)", e.name, fn)
		return nil
	}
	if e.name == "ClusteringModel" && m.fn != clustering {
		c.errs.add(e, "<ClusteringModel> needs functionName=\"clustering\"")
		return nil
	}
	if e.attrOr("isScorable", "true") == "false" {
		c.errs.add(e, "<%s> is marked isScorable=\"false\"", e.name)
		return nil
	}
	ms := e.child("MiningSchema")
	if ms == nil {
		c.errs.add(e, "<%s> has no <MiningSchema>", e.name)
		return nil
	}
	sc := &scope{parent: parent, fields: map[string]*scopeField{}}
	m.sc = sc
	if top {
		c.miningSchema(m, ms, c.root, true)
	} else {
		c.miningSchema(m, ms, sc, false)
	}
	if m.target != nil && m.fn == classification {
		if m.target.opType == Continuous {
			c.errs.add(ms, "classification target %q is continuous", m.targetName)
		}
		for i, v := range m.target.values {
			m.catIdx[m.target.labels[i]] = i
			m.cats = append(m.cats, m.target.labels[i])
			m.catVals = append(m.catVals, v)
		}
		m.catsFixed = len(m.cats) > 0
	}
	if lt := e.child("LocalTransformations"); lt != nil {
		c.errs.checkChildren(lt, "DerivedField")
		for _, d := range lt.all("DerivedField") {
			c.declare(sc, d)
		}
	}
	if t := e.child("Targets"); t != nil {
		m.targets = c.targetsSpec(m, t)
	}
	switch e.name {
	case "RegressionModel":
		m.eval = c.regressionModel(m, e, sc)
	case "TreeModel":
		m.eval = c.treeModel(m, e, sc)
	case "MiningModel":
		m.eval = c.miningModel(m, e, sc)
	case "Scorecard":
		m.eval = c.scorecard(m, e, sc)
	case "NeuralNetwork":
		m.eval = c.neuralNetwork(m, e, sc)
	case "GeneralRegressionModel":
		m.eval = c.generalRegression(m, e, sc)
	case "SupportVectorMachineModel":
		m.eval = c.svmModel(m, e, sc)
	case "NaiveBayesModel":
		m.eval = c.naiveBayes(m, e, sc)
	case "ClusteringModel":
		m.eval = c.clusteringModel(m, e, sc)
	case "NearestNeighborModel":
		m.eval = c.nearestNeighbor(m, e, sc)
	case "RuleSetModel":
		m.eval = c.ruleSet(m, e, sc)
	}
	if m.fn == classification && len(m.cats) == 0 && m.eval != nil {
		c.errs.add(e, "classification <%s> has no classes: list the target's values in the DataDictionary", e.name)
	}
	if o := e.child("Output"); o != nil {
		c.output(m, o, sc)
	}
	if m.eval == nil {
		// Every way a model fails to compile should say why; this is for
		// one that did not, so that no caller takes nil for a model.
		if len(c.errs.errs) == errs {
			c.errs.add(e, "<%s> cannot be scored", e.name)
		}
		return nil
	}
	return m
}

// commonChildren are the elements every model may hold besides its own.
var commonChildren = []string{"MiningSchema", "Output", "Targets", "LocalTransformations"}

func (c *compiler) checkModelChildren(e *elem, own ...string) {
	c.errs.checkChildren(e, append(own, commonChildren...)...)
}

// targetsSpec is the Targets element of a model: post-processing of a
// regression value and defaults when a model has no prediction.
type targetsSpec struct {
	hasMin, hasMax bool
	min, max       float64
	factor, konst  float64
	cast           string
	defaultValue   Value
	hasDefault     bool
	priors         []float64
	hasPriors      bool
	display        map[string]string
}

func (c *compiler) targetsSpec(m *modelNode, e *elem) *targetsSpec {
	c.errs.checkChildren(e, "Target")
	ts := e.all("Target")
	if len(ts) == 0 {
		return nil
	}
	if len(ts) > 1 {
		c.errs.add(ts[1], "more than one <Target>: models with several targets are not supported")
	}
	t := ts[0]
	c.errs.checkChildren(t, "TargetValue")
	s := &targetsSpec{factor: 1}
	if f, ok := t.attr("field"); ok && m.targetName != "" && f != m.targetName {
		c.errs.add(t, "<Target field=%q> is not the model's target %q", f, m.targetName)
	}
	c.errs.enum(t, "optype", "continuous", "categorical", "ordinal")
	if _, ok := t.attr("min"); ok {
		s.hasMin, s.min = true, c.errs.float(t, "min", 0)
	}
	if _, ok := t.attr("max"); ok {
		s.hasMax, s.max = true, c.errs.float(t, "max", 0)
	}
	s.factor = c.errs.float(t, "rescaleFactor", 1)
	s.konst = c.errs.float(t, "rescaleConstant", 0)
	s.cast = c.errs.enum(t, "castInteger", "", "round", "ceiling", "floor")
	for _, tv := range t.all("TargetValue") {
		c.errs.checkChildren(tv, "Partition")
		if d, ok := tv.attr("defaultValue"); ok {
			f, err := parseNumber(d)
			if err != nil {
				c.errs.add(tv, "defaultValue %q is not a number", d)
			}
			s.defaultValue, s.hasDefault = Num(f), true
		}
		v, hasV := tv.attr("value")
		if p, ok := tv.attr("priorProbability"); ok {
			f, err := parseNumber(p)
			if err != nil || !hasV {
				c.errs.add(tv, "<TargetValue> priorProbability needs a value and a number")
				continue
			}
			i := c.cat(m, v, tv)
			if i < 0 {
				continue
			}
			for len(s.priors) <= i {
				s.priors = append(s.priors, 0)
			}
			s.priors[i] = f
			s.hasPriors = true
		}
		if d, ok := tv.attr("displayValue"); ok && hasV {
			if s.display == nil {
				s.display = map[string]string{}
			}
			s.display[v] = d
		}
	}
	return s
}

// apply post-processes a prediction as the Targets element says.
func (t *targetsSpec) apply(m *modelNode, p *prediction) {
	if !p.ok {
		switch {
		case m.fn == regression && t.hasDefault:
			m.setNumber(p, t.defaultValue.num)
			return
		case m.fn == classification && t.hasPriors:
			copy(p.probs, t.priors)
			m.setClass(p)
			return
		}
		return
	}
	if m.fn != regression {
		return
	}
	x := p.num
	if t.hasMin && x < t.min {
		x = t.min
	}
	if t.hasMax && x > t.max {
		x = t.max
	}
	x = x*t.factor + t.konst
	switch t.cast {
	case "round":
		x = math.Round(x)
	case "ceiling":
		x = math.Ceil(x)
	case "floor":
		x = math.Floor(x)
	}
	m.setNumber(p, x)
}
