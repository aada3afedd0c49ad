package ml

import (
	"math"
	"strconv"
)

type cluster struct {
	id, name string
	nums     []float64 // per field; NaN for a categorical field
	strs     []string  // per field, for categorical fields
}

type clusteringModel struct {
	m        *modelNode
	ms       measure
	fields   []measureField
	clusters []cluster
	ids      []string
	qAll     float64
}

func (c *compiler) clusteringModel(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "ComparisonMeasure", "ClusteringField", "MissingValueWeights", "Cluster", "CenterFields")
	if e.child("CenterFields") != nil {
		c.errs.add(e.child("CenterFields"), "<CenterFields> (PMML 3 derived cluster centres) is not supported; list the fields as <ClusteringField>s")
		return nil
	}
	if mc := c.errs.reqAttr(e, "modelClass"); mc != "centerBased" {
		_, given := e.attr("modelClass")
		switch {
		case mc == "distributionBased":
			c.errs.add(e, "<ClusteringModel modelClass=\"distributionBased\"> is not supported: PMML gives no scoring rule for clusters described by statistics; export a centerBased model")
		case given: // reqAttr said so when it is missing
			c.errs.add(e, "<ClusteringModel> modelClass %q is not supported (supported: centerBased)", mc)
		}
		return nil
	}
	cm := &clusteringModel{m: m}
	ms, def, ok := c.comparisonMeasure(e)
	if !ok {
		return nil
	}
	cm.ms = ms
	for _, fe := range e.all("ClusteringField") {
		c.errs.checkChildren(fe, "Comparisons")
		if fe.child("Comparisons") != nil {
			c.errs.add(fe, "<ClusteringField> compareFunction \"table\" (<Comparisons>) is not supported")
			return nil
		}
		if fe.attrOr("isCenterField", "true") == "false" {
			continue
		}
		f := c.resolve(sc, c.errs.reqAttr(fe, "field"), fe)
		if f == nil {
			continue
		}
		mf := measureField{slot: f.slot, weight: c.errs.float(fe, "fieldWeight", 1), numeric: fieldType(f).numeric() || fieldType(f) == TypeBoolean, missQ: 1}
		if !c.compareFunction(fe, def, &mf) {
			return nil
		}
		cm.fields = append(cm.fields, mf)
	}
	if len(cm.fields) == 0 {
		c.errs.add(e, "<ClusteringModel> has no <ClusteringField>")
		return nil
	}
	if mw := e.child("MissingValueWeights"); mw != nil {
		c.errs.checkChildren(mw, "Array")
		a := mw.child("Array")
		var items []string
		if a != nil {
			items, _ = splitArray(a.text)
		}
		if len(items) != len(cm.fields) {
			c.errs.add(mw, "<MissingValueWeights> has %d weights for %d clustering fields", len(items), len(cm.fields))
			return nil
		}
		for i, it := range items {
			q, err := parseNumber(it)
			if err != nil {
				c.errs.add(mw, "<MissingValueWeights> weight %q is not a number", it)
				return nil
			}
			cm.fields[i].missQ = q
		}
	}
	for _, f := range cm.fields {
		cm.qAll += f.missQ
	}
	for i, ce := range e.all("Cluster") {
		c.errs.checkChildren(ce, "Array", "KohonenMap", "Partition", "Covariances")
		cl := cluster{id: ce.attrOr("id", strconv.Itoa(i+1)), name: ce.attrOr("name", "")}
		a := ce.child("Array")
		if a == nil {
			c.errs.add(ce, "<Cluster> has no centre <Array>")
			continue
		}
		items, err := splitArray(a.text)
		if err != nil || len(items) != len(cm.fields) {
			c.errs.add(a, "cluster centre has %d values for %d clustering fields", len(items), len(cm.fields))
			continue
		}
		cl.nums = make([]float64, len(items))
		cl.strs = make([]string, len(items))
		for j, it := range items {
			cl.strs[j] = it
			cl.nums[j] = math.NaN()
			if cm.fields[j].numeric {
				x, err := parseNumber(it)
				if err != nil {
					c.errs.add(a, "cluster centre value %q of a numeric field is not a number", it)
					continue
				}
				cl.nums[j] = x
			}
		}
		cm.clusters = append(cm.clusters, cl)
		cm.ids = append(cm.ids, cl.id)
	}
	if len(cm.clusters) == 0 {
		c.errs.add(e, "<ClusteringModel> has no <Cluster>")
		return nil
	}
	m.scratch = len(cm.fields)
	m.ranks = 1
	m.affinities = len(cm.clusters)
	return cm
}

func (cm *clusteringModel) clusterIndex(id string) int {
	for i, x := range cm.ids {
		if x == id {
			return i
		}
	}
	return -1
}

func (cm *clusteringModel) eval(s *Scorer, p *prediction) {
	x := p.scratch
	present := 0
	for i := range cm.fields {
		f := &cm.fields[i]
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
	best := -1
	for k := range cm.clusters {
		cl := &cm.clusters[k]
		acc := accumulator{qAll: cm.qAll}
		for i := range cm.fields {
			f := &cm.fields[i]
			var c, xi float64
			if f.numeric {
				xi = x[i]
				if xi != xi {
					continue
				}
				c = f.compare(xi, cl.nums[i], false)
			} else {
				v := s.get(f.slot)
				if v.kind == KindMissing {
					continue
				}
				t := v.str
				if v.kind != KindString {
					t = key(v)
				}
				same := t == cl.strs[i]
				c = f.compare(0, 0, same)
				xi = 1
			}
			acc.add(&cm.ms, f, c, xi, cl.nums[i])
		}
		d, _ := acc.result(&cm.ms)
		p.affs[k] = d
		if best < 0 || cm.ms.better(d, p.affs[best]) {
			best = k
		}
	}
	cl := &cm.clusters[best]
	p.ok = true
	p.value = Str(cl.id)
	p.num = p.affs[best]
	p.cls = best
	p.names = cm.ids
	p.ranked = append(p.ranked, int32(best))
	p.rankAff = append(p.rankAff, p.affs[best])
	p.entity = cl.id
	p.display = cl.name
}
