package ml

import (
	"math"
	"strings"
)

type missingStrategy uint8

const (
	mvNone missingStrategy = iota
	mvLastPrediction
	mvNullPrediction
	mvDefaultChild
	mvWeightedConfidence
	mvAggregateNodes
)

type treeNode struct {
	id           string
	pred         *predicate
	children     []*treeNode
	defaultChild *treeNode
	hasScore     bool
	cls          int
	score        Value
	num          float64
	probs        []float64
	conf         []float64
	counts       []float64
	records      float64
	index, flat  int32
	// reason is the text Reasons shows for taking this node: its predicate,
	// or for a <True/> that stands for "otherwise" after a comparison, the
	// negated comparison.
	reason string
	// split is set when the first two children test one number against one
	// threshold from both sides (x < t, x >= t), as nearly every exported
	// tree does: a present value then picks the child in one comparison.
	split *numericSplit
}

// flatNode is a node in a compact array where siblings are contiguous, so
// that walking a tree touches few cache lines; nodes is the full form.
type flatNode struct {
	threshold float64
	score     float64
	slot      int32
	kids      int32 // index of the first child, -1 for a leaf
	node      int32 // index into treeModel.nodes
	split     bool
	inclusive bool
	reversed  bool
	hasScore  bool
	// low and high are the children a present number x goes to when
	// x < cut and when not; cut folds <= into < so that the walk is one
	// comparison.
	low, high int32
	cut       float64
}

func (t *treeModel) flatten() {
	t.flat = make([]flatNode, 1, len(t.nodes))
	queue := []*treeNode{t.root}
	t.root.flat = 0
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		f := flatNode{kids: -1, node: n.index, score: n.num, hasScore: n.hasScore}
		if len(n.children) > 0 {
			f.kids = int32(len(t.flat))
			if sp := n.split; sp != nil {
				f.split, f.slot, f.threshold, f.inclusive, f.reversed = true, int32(sp.slot), sp.threshold, sp.inclusive, sp.reversed
				f.cut = sp.threshold
				if sp.inclusive {
					f.cut = math.Nextafter(sp.threshold, math.Inf(1))
				}
				f.low, f.high = f.kids, f.kids+1
				if sp.reversed {
					f.low, f.high = f.high, f.low
				}
			}
			for _, ch := range n.children {
				ch.flat = int32(len(t.flat))
				t.flat = append(t.flat, flatNode{})
				queue = append(queue, ch)
			}
		}
		t.flat[n.flat] = f
	}
}

var negated = map[simpleOp]simpleOp{opLess: opGreaterEq, opLessEq: opGreater, opGreater: opLessEq, opGreaterEq: opLess}

type numericSplit struct {
	slot      int
	threshold float64
	inclusive bool // the first child takes x <= t rather than x < t
	reversed  bool // the first child takes the high side
}

// findSplit recognises complementary numeric predicates in the first two
// children: x < t then x >= t (or <= and >, either way round), or a numeric
// comparison then True, as XGBoost and LightGBM exports write. Any further
// children (an isMissing branch) only matter when the value is missing,
// where the general path runs.
func findSplit(n *treeNode) *numericSplit {
	if len(n.children) < 2 {
		return nil
	}
	a, b := n.children[0].pred, n.children[1].pred
	if a.kind != predSimple || !a.numeric {
		return nil
	}
	if b.kind == predTrue {
		if len(n.children) != 2 {
			return nil
		}
		op, ok := negated[a.op]
		if !ok {
			return nil
		}
		b = &predicate{kind: predSimple, numeric: true, op: op, slot: a.slot, num: a.num}
	}
	if b.kind != predSimple || !b.numeric || a.slot != b.slot || a.num != b.num {
		return nil
	}
	for _, ch := range n.children[2:] {
		if p := ch.pred; p.kind != predSimple || p.op != opIsMissing || p.slot != a.slot {
			return nil
		}
	}
	sp := &numericSplit{slot: a.slot, threshold: a.num}
	switch {
	case a.op == opLess && b.op == opGreaterEq:
	case a.op == opLessEq && b.op == opGreater:
		sp.inclusive = true
	case a.op == opGreaterEq && b.op == opLess:
		sp.reversed = true
	case a.op == opGreater && b.op == opLessEq:
		sp.reversed, sp.inclusive = true, true
	default:
		return nil
	}
	return sp
}

type treeModel struct {
	m          *modelNode
	root       *treeNode
	nodes      []*treeNode
	flat       []flatNode
	strategy   missingStrategy
	penalty    float64
	noTrueLast bool
}

func (c *compiler) treeModel(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "Node")
	t := &treeModel{m: m}
	switch c.errs.enum(e, "missingValueStrategy", "none", "lastPrediction", "nullPrediction", "defaultChild", "weightedConfidence", "aggregateNodes") {
	case "lastPrediction":
		t.strategy = mvLastPrediction
	case "nullPrediction":
		t.strategy = mvNullPrediction
	case "defaultChild":
		t.strategy = mvDefaultChild
	case "weightedConfidence":
		t.strategy = mvWeightedConfidence
	case "aggregateNodes":
		t.strategy = mvAggregateNodes
	}
	t.penalty = c.errs.float(e, "missingValuePenalty", 1)
	t.noTrueLast = c.errs.enum(e, "noTrueChildStrategy", "returnNullPrediction", "returnLastPrediction") == "returnLastPrediction"
	c.errs.enum(e, "splitCharacteristic", "multiSplit", "binarySplit")
	root := e.child("Node")
	if root == nil {
		c.errs.add(e, "<TreeModel> has no <Node>")
		return nil
	}
	if m.fn == classification {
		// Classes met in the tree but not in the DataDictionary are added
		// before any node sizes its probability vector.
		c.treeClasses(m, root)
	}
	depth := 0
	t.root = c.treeNode(t, root, sc, 0, &depth)
	t.flatten()
	m.maxReasons = depth
	if m.fn == classification {
		m.scratch = len(m.cats)
	} else {
		m.scratch = 2
	}
	return t
}

func (c *compiler) treeClasses(m *modelNode, n *elem) {
	if s, ok := n.attr("score"); ok {
		c.cat(m, s, n)
	}
	for _, ch := range n.children {
		switch ch.name {
		case "ScoreDistribution":
			if v, ok := ch.attr("value"); ok {
				c.cat(m, v, ch)
			}
		case "Node":
			c.treeClasses(m, ch)
		}
	}
}

func (c *compiler) treeNode(t *treeModel, e *elem, sc *scope, depth int, maxDepth *int) *treeNode {
	if depth > *maxDepth {
		*maxDepth = depth
	}
	n := &treeNode{id: e.attrOr("id", ""), pred: truePredicate, index: int32(len(t.nodes))}
	t.nodes = append(t.nodes, n)
	n.records = c.errs.float(e, "recordCount", 0)
	m := t.m
	var sds []*elem
	var kids []*elem
	seenPred := false
	for _, ch := range e.children {
		switch {
		case ignorable[ch.name]:
		case predicateElems[ch.name]:
			if seenPred {
				c.errs.add(ch, "<Node> has more than one predicate")
			}
			seenPred = true
			n.pred = c.predicate(ch, sc)
		case ch.name == "ScoreDistribution":
			sds = append(sds, ch)
		case ch.name == "Node":
			kids = append(kids, ch)
		default:
			c.errs.unsupported(ch)
		}
	}
	if !seenPred {
		c.errs.add(e, "<Node> has no predicate")
	}
	if s, ok := e.attr("score"); ok {
		n.hasScore = true
		if m.fn == classification {
			if i := c.cat(m, s, e); i >= 0 {
				n.score, n.cls = m.catVals[i], i
			}
		} else {
			f, err := parseNumber(s)
			if err != nil {
				c.errs.add(e, "<Node> score %q is not a number", s)
			}
			n.num, n.score = f, Num(f)
		}
	}
	if m.fn == classification {
		c.scoreDistributions(m, n, sds)
	} else if len(sds) > 0 {
		// Regression trees may carry distributions for information only.
		for _, sd := range sds {
			c.errs.checkChildren(sd)
		}
	}
	for _, k := range kids {
		n.children = append(n.children, c.treeNode(t, k, sc, depth+1, maxDepth))
	}
	n.split = findSplit(n)
	for _, ch := range n.children {
		if ch.pred.kind != predTrue {
			ch.reason = ch.pred.text
		}
	}
	if n.split != nil && len(n.children) == 2 && n.children[1].pred.kind == predTrue {
		a := n.children[0].pred
		n.children[1].reason = strings.Replace(a.text, " "+opText[a.op]+" ", " "+opText[negated[a.op]]+" ", 1)
	}
	if dc, ok := e.attr("defaultChild"); ok {
		for _, ch := range n.children {
			if ch.id == dc {
				n.defaultChild = ch
			}
		}
		if n.defaultChild == nil {
			c.errs.add(e, "<Node> defaultChild %q is not a child of node %q", dc, n.id)
		}
	} else if t.strategy == mvDefaultChild && len(n.children) > 0 {
		c.errs.add(e, "<Node id=%q> has children but no defaultChild, which missingValueStrategy=\"defaultChild\" needs", n.id)
	}
	return n
}

func (c *compiler) scoreDistributions(m *modelNode, n *treeNode, sds []*elem) {
	k := len(m.cats)
	if len(sds) == 0 {
		if n.hasScore {
			n.probs = make([]float64, k)
			n.probs[n.cls] = 1
			n.counts = make([]float64, k)
			n.counts[n.cls] = n.records
		}
		return
	}
	n.probs = make([]float64, k)
	n.counts = make([]float64, k)
	var conf []float64
	hasProb := false
	total := 0.0
	for _, sd := range sds {
		c.errs.checkChildren(sd)
		i := c.cat(m, c.errs.reqAttr(sd, "value"), sd)
		if i < 0 || i >= k {
			continue
		}
		rc := c.errs.reqFloat(sd, "recordCount")
		n.counts[i] = rc
		total += rc
		if _, ok := sd.attr("probability"); ok {
			hasProb = true
			n.probs[i] = c.errs.float(sd, "probability", 0)
		}
		if _, ok := sd.attr("confidence"); ok {
			if conf == nil {
				conf = make([]float64, k)
			}
			conf[i] = c.errs.float(sd, "confidence", 0)
		}
	}
	if !hasProb {
		if total == 0 {
			total = n.records
		}
		for i := range n.probs {
			if total > 0 {
				n.probs[i] = n.counts[i] / total
			}
		}
	}
	n.conf = conf
	if !n.hasScore {
		best := 0
		for i, p := range n.probs {
			if p > n.probs[best] {
				best = i
			}
		}
		n.hasScore = true
		n.score, n.cls = m.catVals[best], best
	}
}

// quick walks a regression tree through numeric splits only, for
// ensembles that need nothing but the leaf's score. ok is false when the
// walk meets a node that needs the general path (a missing value, another
// kind of predicate, a leaf without a score).
func (t *treeModel) quick(s *Scorer) (score float64, ok bool) {
	fl := t.flat
	f := &fl[0]
	for f.kids >= 0 {
		if !f.split {
			return 0, false
		}
		sv := &s.slots[f.slot]
		if sv.gen != s.gen || sv.v.kind != KindNumber {
			return 0, false
		}
		next := f.low
		if sv.v.num >= f.cut {
			next = f.high
		}
		f = &fl[next]
	}
	return f.score, f.hasScore
}

func (t *treeModel) eval(s *Scorer, p *prediction) {
	if r := t.root.pred; r.kind != predTrue && r.eval(s) != triTrue {
		return
	}
	fl := t.flat
	path := p.path[:0]
	fi := int32(0)
	hits := 0
	for fl[fi].kids >= 0 {
		f := &fl[fi]
		if f.split {
			sv := &s.slots[f.slot]
			v := sv.v
			if sv.gen != s.gen {
				v = s.get(int(f.slot))
			}
			if v.kind == KindNumber {
				fi = f.low
				if v.num >= f.cut {
					fi = f.high
				}
				path = append(path, fi)
				continue
			}
		}
		node := t.nodes[f.node]
		next := -1
		unknown := false
		for k, ch := range node.children {
			r := ch.pred.eval(s)
			if r == triTrue {
				next = k
				break
			}
			if r == triUnknown && t.strategy != mvNone {
				unknown = true
				break
			}
		}
		if unknown {
			switch t.strategy {
			case mvLastPrediction:
				t.finish(p, fi, path, hits)
				return
			case mvNullPrediction:
				return
			case mvDefaultChild:
				next = -1
				for k, ch := range node.children {
					if ch == node.defaultChild {
						next = k
					}
				}
				hits++
			case mvWeightedConfidence, mvAggregateNodes:
				t.aggregate(s, p, node)
				return
			}
		}
		if next < 0 {
			if t.noTrueLast {
				t.finish(p, fi, path, hits)
			}
			return
		}
		fi = f.kids + int32(next)
		path = append(path, fi)
	}
	t.finish(p, fi, path, hits)
}

func (t *treeModel) finish(p *prediction, fi int32, path []int32, hits int) {
	f := &t.flat[fi]
	if !f.hasScore {
		return
	}
	p.tree, p.path, p.leaf = t, path, fi
	p.ok = true
	if t.m.fn != classification {
		p.num = f.score
		p.value = Value{kind: KindNumber, num: f.score}
		return
	}
	n := t.nodes[f.node]
	p.value = n.score
	copy(p.probs, n.probs)
	p.hasProbs = true
	i := n.cls
	p.cls = i
	p.conf = n.probs[i]
	if n.conf != nil {
		p.conf = n.conf[i]
	}
	for ; hits > 0; hits-- {
		p.conf *= t.penalty
	}
	p.hasConf = true
}

// aggregate scores every child of node that is not FALSE and combines the
// leaves reached: weighted by their share of the records
// (weightedConfidence) or by adding their record counts (aggregateNodes).
func (t *treeModel) aggregate(s *Scorer, p *prediction, node *treeNode) {
	out := p.scratch
	for i := range out {
		out[i] = 0
	}
	t.collect(s, node, 1, out)
	if t.m.fn != classification {
		if out[1] > 0 {
			t.m.setNumber(p, out[0]/out[1])
		}
		return
	}
	total := 0.0
	for _, x := range out {
		total += x
	}
	if total <= 0 {
		return
	}
	for i := range out {
		p.probs[i] = out[i] / total
	}
	t.m.setClass(p)
	p.conf = p.probs[p.cls]
	p.hasConf = true
}

func (t *treeModel) collect(s *Scorer, node *treeNode, w float64, out []float64) {
	for len(node.children) > 0 {
		var next *treeNode
		unknown := false
		for _, ch := range node.children {
			r := ch.pred.eval(s)
			if r == triTrue {
				next = ch
				break
			}
			if r == triUnknown {
				unknown = true
				break
			}
		}
		if unknown {
			for _, ch := range node.children {
				if ch.pred.eval(s) == triFalse {
					continue
				}
				share := 1.0
				if node.records > 0 {
					share = ch.records / node.records
				}
				t.collect(s, ch, w*share, out)
			}
			return
		}
		if next == nil {
			if !t.noTrueLast {
				return
			}
			break
		}
		node = next
	}
	if !node.hasScore {
		return
	}
	if t.m.fn != classification {
		weight := w
		if t.strategy == mvAggregateNodes {
			weight = node.records
		}
		out[0] += weight * node.num
		out[1] += weight
		return
	}
	for i := range out {
		if t.strategy == mvAggregateNodes {
			out[i] += node.counts[i]
		} else {
			out[i] += w * node.probs[i]
		}
	}
}
