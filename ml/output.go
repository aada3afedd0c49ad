package ml

type feature uint8

const (
	featPredicted feature = iota
	featDisplay
	featProbability
	featConfidence
	featTransformed
	featReasonCode
	featEntityID
	featAffinity
	featClusterAffinity
	featClusterID
)

var features = map[string]feature{
	"predictedValue": featPredicted, "predictedDisplayValue": featDisplay,
	"probability": featProbability, "confidence": featConfidence,
	"transformedValue": featTransformed, "decision": featTransformed,
	"reasonCode": featReasonCode, "entityId": featEntityID,
	"affinity": featAffinity, "entityAffinity": featAffinity,
	"clusterAffinity": featClusterAffinity, "clusterId": featClusterID,
}

// clusterIndexer is a model whose entities (clusters) an OutputField can
// name by id, as clusterAffinity value="..." does.
type clusterIndexer interface {
	clusterIndex(id string) int
}

// OutputInfo describes one OutputField of the model.
type OutputInfo struct {
	Name    string
	Feature string
	// DataType is the declared type; HasType is false when the document
	// leaves it to the feature (a predicted class keeps the target's type).
	DataType DataType
	HasType  bool
}

type outputField struct {
	name    string
	feat    feature
	featStr string
	def     *fieldDef
	hasDT   bool
	cat     int // probability of this class (or affinity of this cluster); -1 means the predicted one
	rank    int
	x       expr
	slot    int
	from    *modelNode // segmentId: read that segment's prediction
}

func (c *compiler) output(m *modelNode, o *elem, sc *scope) {
	c.errs.checkChildren(o, "OutputField")
	for _, e := range o.all("OutputField") {
		def := c.fieldHeader(e, true)
		if def == nil {
			continue
		}
		_, hasDT := e.attr("dataType")
		fs := e.attrOr("feature", "predictedValue")
		feat, ok := features[fs]
		if !ok {
			c.errs.add(e, "<OutputField name=%q> feature %q is not supported", def.name, fs)
			continue
		}
		of := &outputField{name: def.name, feat: feat, featStr: fs, def: def, hasDT: hasDT, cat: -1}
		if tf, ok := e.attr("targetField"); ok && tf != m.targetName {
			c.errs.add(e, "<OutputField name=%q> targetField %q is not the model's target %q", def.name, tf, m.targetName)
		}
		src := m
		if id, ok := e.attr("segmentId"); ok {
			mm, isMining := m.eval.(*miningModel)
			if !isMining {
				c.errs.add(e, "<OutputField name=%q> segmentId needs a MiningModel", def.name)
				continue
			}
			for i := range mm.segs {
				if mm.segs[i].id == id {
					of.from = mm.segs[i].model
				}
			}
			if of.from == nil {
				c.errs.add(e, "<OutputField name=%q> segmentId %q names no segment", def.name, id)
				continue
			}
			src = of.from
		}
		switch feat {
		case featProbability:
			if src.fn != classification {
				c.errs.add(e, "<OutputField name=%q> probability needs a classification model", def.name)
				continue
			}
			if v, ok := e.attr("value"); ok {
				of.cat = c.cat(src, v, e)
			}
		case featConfidence:
			if src.fn != classification {
				c.errs.add(e, "<OutputField name=%q> confidence needs a classification model", def.name)
				continue
			}
		case featReasonCode, featEntityID, featAffinity:
			of.rank = int(c.errs.float(e, "rank", 1))
			if of.rank < 1 {
				c.errs.add(e, "<OutputField name=%q> rank must be at least 1", def.name)
			}
			if of.rank > 1 && feat != featReasonCode && src.ranks < of.rank {
				c.errs.add(e, "<OutputField name=%q> rank %d: the model ranks only %d entities", def.name, of.rank, src.ranks)
			}
			if feat == featAffinity && src.kind != "NearestNeighborModel" && src.kind != "ClusteringModel" {
				c.errs.add(e, "<OutputField name=%q> feature %q needs a ClusteringModel or NearestNeighborModel", def.name, fs)
				continue
			}
		case featClusterAffinity, featClusterID:
			ci, ok := src.eval.(clusterIndexer)
			if !ok {
				c.errs.add(e, "<OutputField name=%q> feature %q needs a ClusteringModel", def.name, fs)
				continue
			}
			if v, ok := e.attr("value"); ok && feat == featClusterAffinity {
				if of.cat = ci.clusterIndex(v); of.cat < 0 {
					c.errs.add(e, "<OutputField name=%q> value %q names no cluster", def.name, v)
					continue
				}
			}
		case featTransformed:
			var body *elem
			for _, ch := range e.children {
				if !ignorable[ch.name] && ch.name != "Decisions" && ch.name != "Value" {
					if body != nil {
						c.errs.add(ch, "<OutputField name=%q> has more than one expression", def.name)
					}
					body = ch
				}
			}
			if body == nil {
				c.errs.add(e, "<OutputField name=%q> feature %q needs an expression", def.name, fs)
				continue
			}
			of.x = c.expression(body, sc)
		}
		if feat != featTransformed {
			for _, ch := range e.children {
				if !ignorable[ch.name] {
					c.errs.unsupported(ch)
				}
			}
		}
		if _, dup := sc.fields[def.name]; dup {
			c.errs.add(e, "output field %q is defined twice", def.name)
			continue
		}
		of.slot = c.newSlot(nil)
		sc.fields[def.name] = &scopeField{slot: of.slot, def: def}
		m.outputs = append(m.outputs, of)
	}
}

func (of *outputField) compute(s *Scorer, m *modelNode, p *prediction) Value {
	if of.from != nil {
		m, p = of.from, &s.preds[of.from.id]
		if p.gen != s.gen {
			return Value{}
		}
	}
	var v Value
	switch of.feat {
	case featPredicted:
		if p.ok {
			v = p.value
		}
	case featDisplay:
		if p.ok {
			v = p.value
			if p.display != "" {
				v = Str(p.display)
			} else if m.targets != nil && m.targets.display != nil {
				if d, ok := m.targets.display[key(p.value)]; ok {
					v = Str(d)
				}
			}
		}
	case featProbability:
		if p.ok && p.hasProbs {
			i := of.cat
			if i < 0 {
				i = p.cls
			}
			v = Num(p.probs[i])
		}
	case featConfidence:
		if p.ok {
			if p.hasConf {
				v = Num(p.conf)
			} else if p.hasProbs {
				v = Num(p.probs[p.cls])
			}
		}
	case featTransformed:
		v = of.x.eval(s)
	case featReasonCode:
		if reasons := p.reasonList(); p.ok && of.rank <= len(reasons) {
			v = Str(reasons[of.rank-1])
		}
	case featEntityID:
		if !p.ok {
			break
		}
		if len(p.names) > 0 || of.rank > 1 {
			if of.rank <= len(p.ranked) {
				v = Str(p.names[p.ranked[of.rank-1]])
			}
		} else if id := p.entityID(); id != "" {
			v = Str(id)
		}
	case featAffinity:
		if p.ok && of.rank <= len(p.rankAff) {
			v = Num(p.rankAff[of.rank-1])
		}
	case featClusterAffinity:
		if p.ok {
			if of.cat >= 0 {
				v = Num(p.affs[of.cat])
			} else if len(p.rankAff) > 0 {
				v = Num(p.rankAff[0])
			}
		}
	case featClusterID:
		if p.ok && len(p.ranked) > 0 {
			v = Num(float64(p.ranked[0] + 1))
		}
	}
	if of.hasDT && v.kind != KindMissing {
		v = castTo(v, of.def.dataType)
	}
	return v
}
