package ml

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

type knnModel struct {
	m        *modelNode
	k        int
	ms       measure
	fields   []measureField
	nums     []float64 // instances × fields; NaN where a cell is empty
	strs     []string  // instances × fields, for categorical fields
	target   []float64 // regression targets
	classes  []int     // classification targets
	ids      []string
	median   bool
	weighted bool
	thresh   float64
	qAll     float64
}

func (c *compiler) nearestNeighbor(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "TrainingInstances", "ComparisonMeasure", "KNNInputs")
	if m.fn == clustering {
		c.errs.add(e, "<NearestNeighborModel> needs functionName classification or regression")
		return nil
	}
	if m.targetName == "" {
		c.errs.add(e, "<NearestNeighborModel> without a target field is not supported")
		return nil
	}
	kn := &knnModel{m: m, k: int(c.errs.reqFloat(e, "numberOfNeighbors")), thresh: c.errs.float(e, "threshold", 0.001)}
	if kn.k < 1 {
		c.errs.add(e, "numberOfNeighbors must be at least 1")
		return nil
	}
	switch c.errs.enum(e, "continuousScoringMethod", "average", "median", "weightedAverage") {
	case "median":
		kn.median = true
	case "weightedAverage":
		kn.weighted = m.fn == regression
	}
	if c.errs.enum(e, "categoricalScoringMethod", "majorityVote", "weightedMajorityVote") == "weightedMajorityVote" && m.fn == classification {
		kn.weighted = true
	}
	ms, def, ok := c.comparisonMeasure(e)
	if !ok {
		return nil
	}
	kn.ms = ms
	if kn.weighted && ms.similarity {
		c.errs.add(e, "weighted scoring needs a distance measure (weights are 1/(distance+threshold))")
		return nil
	}

	ti := e.child("TrainingInstances")
	if ti == nil {
		c.errs.add(e, "<NearestNeighborModel> has no <TrainingInstances>")
		return nil
	}
	c.errs.checkChildren(ti, "InstanceFields", "InlineTable", "TableLocator")
	transformed := ti.attrOr("isTransformed", "false") == "true"
	ife := ti.child("InstanceFields")
	if ife == nil {
		c.errs.add(ti, "<TrainingInstances> has no <InstanceFields>")
		return nil
	}
	c.errs.checkChildren(ife, "InstanceField")
	column := map[string]string{}
	for _, f := range ife.all("InstanceField") {
		c.errs.checkChildren(f)
		name := c.errs.reqAttr(f, "field")
		column[name] = f.attrOr("column", name)
	}
	table := ti.child("InlineTable")
	if table == nil {
		c.errs.add(ti, "<TrainingInstances> needs an <InlineTable> (a <TableLocator> is not supported)")
		return nil
	}
	c.errs.checkChildren(table, "row")

	ki := e.child("KNNInputs")
	if ki == nil {
		c.errs.add(e, "<NearestNeighborModel> has no <KNNInputs>")
		return nil
	}
	c.errs.checkChildren(ki, "KNNInput")
	var cols []string
	for _, ie := range ki.all("KNNInput") {
		c.errs.checkChildren(ie)
		name := c.errs.reqAttr(ie, "field")
		f := c.resolve(sc, name, ie)
		if f == nil {
			continue
		}
		col, ok := column[name]
		if !ok {
			c.errs.add(ie, "<KNNInput field=%q> has no <InstanceField>", name)
			continue
		}
		if !transformed && (f.def == nil || !f.def.isData) {
			c.errs.add(ie, "<KNNInput field=%q> is a derived field but the training instances are not transformed (isTransformed=\"false\"); export them transformed", name)
			continue
		}
		mf := measureField{slot: f.slot, weight: c.errs.float(ie, "fieldWeight", 1), numeric: fieldType(f).numeric() || fieldType(f) == TypeBoolean, missQ: 1}
		if !c.compareFunction(ie, def, &mf) {
			return nil
		}
		kn.fields = append(kn.fields, mf)
		cols = append(cols, col)
		kn.qAll++
	}
	if len(kn.fields) == 0 {
		c.errs.add(ki, "<KNNInputs> has no usable <KNNInput>")
		return nil
	}
	targetCol, ok := column[m.targetName]
	if !ok {
		c.errs.add(ife, "no <InstanceField> holds the target %q", m.targetName)
		return nil
	}
	idCol := ""
	if v, ok := e.attr("instanceIdVariable"); ok {
		if idCol, ok = column[v]; !ok {
			c.errs.add(e, "instanceIdVariable %q has no <InstanceField>", v)
			return nil
		}
	}
	for ri, row := range table.all("row") {
		cells := map[string]string{}
		for _, cell := range row.children {
			cells[cell.name] = strings.TrimSpace(cell.text)
		}
		label, ok := cells[targetCol]
		if !ok {
			c.errs.add(row, "<row> has no target column %q", targetCol)
			continue
		}
		if m.fn == classification {
			i := c.cat(m, label, row)
			if i < 0 {
				continue
			}
			kn.classes = append(kn.classes, i)
		} else {
			y, err := parseNumber(label)
			if err != nil {
				c.errs.add(row, "<row> target %q is not a number", label)
				continue
			}
			kn.target = append(kn.target, y)
		}
		for j, col := range cols {
			t := cells[col]
			kn.strs = append(kn.strs, t)
			x := math.NaN()
			if kn.fields[j].numeric && t != "" {
				f, err := parseNumber(t)
				if err != nil {
					c.errs.add(row, "<row> %s %q is not a number", col, t)
				}
				x = f
			}
			kn.nums = append(kn.nums, x)
		}
		id := strconv.Itoa(ri + 1)
		if idCol != "" {
			id = cells[idCol]
		}
		kn.ids = append(kn.ids, id)
	}
	n := len(kn.ids)
	if n == 0 {
		c.errs.add(table, "<InlineTable> holds no training instance")
		return nil
	}
	if kn.k > n {
		c.errs.add(e, "numberOfNeighbors %d exceeds the %d training instances", kn.k, n)
		return nil
	}
	m.scratch = len(kn.fields) + kn.k
	m.ranks = kn.k
	return kn
}

func (kn *knnModel) eval(s *Scorer, p *prediction) {
	nf := len(kn.fields)
	x := p.scratch[:nf]
	present := 0
	for i := range kn.fields {
		f := &kn.fields[i]
		v := s.get(f.slot)
		x[i] = math.NaN()
		if v.kind == KindMissing {
			continue
		}
		present++
		if f.numeric {
			n, ok := v.Float()
			if !ok {
				return
			}
			x[i] = n
		}
	}
	if present == 0 {
		return
	}
	// Keep the k best instances in rank order; ties keep table order.
	ranked, aff := p.ranked[:0], p.rankAff[:0]
	for r := range kn.ids {
		acc := accumulator{qAll: kn.qAll}
		row := r * nf
		for i := range kn.fields {
			f := &kn.fields[i]
			var c, xi float64
			y := kn.nums[row+i]
			if f.numeric {
				xi = x[i]
				if xi != xi || y != y {
					continue
				}
				c = f.compare(xi, y, false)
			} else {
				v := s.get(f.slot)
				if v.kind == KindMissing {
					continue
				}
				t := v.str
				if v.kind != KindString {
					t = key(v)
				}
				c = f.compare(0, 0, t == kn.strs[row+i])
				xi = 1
			}
			acc.add(&kn.ms, f, c, xi, y)
		}
		d, ok := acc.result(&kn.ms)
		if !ok {
			continue
		}
		if len(ranked) == kn.k && !kn.ms.better(d, aff[kn.k-1]) {
			continue
		}
		j := len(ranked)
		if j < kn.k {
			ranked, aff = append(ranked, 0), append(aff, 0)
		} else {
			j--
		}
		for j > 0 && kn.ms.better(d, aff[j-1]) {
			ranked[j], aff[j] = ranked[j-1], aff[j-1]
			j--
		}
		ranked[j], aff[j] = int32(r), d
	}
	p.ranked, p.rankAff = ranked, aff
	if len(ranked) == 0 {
		return
	}
	p.names = kn.ids
	p.entity = kn.ids[ranked[0]]
	m := kn.m
	if m.fn == classification {
		total := 0.0
		for i, r := range ranked {
			w := 1.0
			if kn.weighted {
				w = 1 / (aff[i] + kn.thresh)
			}
			p.probs[kn.classes[r]] += w
			total += w
		}
		for i := range p.probs {
			p.probs[i] /= total
		}
		m.setClass(p)
		return
	}
	switch {
	case kn.median:
		ys := p.scratch[nf : nf+len(ranked)]
		for i, r := range ranked {
			ys[i] = kn.target[r]
		}
		sort.Float64s(ys)
		m.setNumber(p, median(ys))
	default:
		sum, sw := 0.0, 0.0
		for i, r := range ranked {
			w := 1.0
			if kn.weighted {
				w = 1 / (aff[i] + kn.thresh)
			}
			sum += w * kn.target[r]
			sw += w
		}
		m.setNumber(p, sum/sw)
	}
}
