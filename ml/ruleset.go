package ml

type ruleCriterion uint8

const (
	ruleFirstHit ruleCriterion = iota
	ruleWeightedSum
	ruleWeightedMax
)

// rule is a SimpleRule, or a CompoundRule whose nested rules are tried
// only when its predicate holds.
type rule struct {
	pred       *predicate
	id         string
	cat        int
	weight     float64
	confidence float64
	sub        []*rule
	compound   bool
}

type ruleSetModel struct {
	m           *modelNode
	rules       []*rule
	flat        []flatRule
	criterion   ruleCriterion
	defaultCat  int
	defaultConf float64
}

func (c *compiler) ruleSet(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "RuleSet")
	if m.fn != classification {
		c.errs.add(e, "<RuleSetModel> needs functionName=\"classification\"")
		return nil
	}
	rs := e.child("RuleSet")
	if rs == nil {
		c.errs.add(e, "<RuleSetModel> has no <RuleSet>")
		return nil
	}
	c.errs.checkChildren(rs, "RuleSelectionMethod", "ScoreDistribution", "SimpleRule", "CompoundRule")
	r := &ruleSetModel{m: m, defaultCat: -1}
	sel := rs.all("RuleSelectionMethod")
	if len(sel) == 0 {
		c.errs.add(rs, "<RuleSet> has no <RuleSelectionMethod>")
		return nil
	}
	// The first method is the one to score with; the others are
	// alternatives an application may choose.
	switch c.errs.reqAttr(sel[0], "criterion") {
	case "firstHit":
		r.criterion = ruleFirstHit
	case "weightedSum":
		r.criterion = ruleWeightedSum
	case "weightedMax":
		r.criterion = ruleWeightedMax
	default:
		c.errs.add(sel[0], "<RuleSelectionMethod> criterion %q is not supported (supported: firstHit, weightedSum, weightedMax)", sel[0].attrOr("criterion", ""))
		return nil
	}
	if d, ok := rs.attr("defaultScore"); ok {
		r.defaultCat = c.cat(m, d, rs)
		r.defaultConf = c.errs.float(rs, "defaultConfidence", 0)
	}
	r.rules = c.rules(m, rs, sc)
	r.flat = flattenRules(r.rules, nil)
	m.maxReasons = 1
	m.scratch = len(m.cats)
	return r
}

func (c *compiler) rules(m *modelNode, parent *elem, sc *scope) []*rule {
	var out []*rule
	for _, re := range parent.children {
		if re.name != "SimpleRule" && re.name != "CompoundRule" {
			continue
		}
		ru := &rule{pred: truePredicate, cat: -1, compound: re.name == "CompoundRule"}
		seen := false
		for _, ch := range re.children {
			if predicateElems[ch.name] {
				if seen {
					c.errs.add(ch, "<%s> has more than one predicate", re.name)
				}
				seen = true
				ru.pred = c.predicate(ch, sc)
			}
		}
		if !seen {
			c.errs.add(re, "<%s> has no predicate", re.name)
		}
		if ru.compound {
			c.errs.checkChildren(re, "SimplePredicate", "SimpleSetPredicate", "CompoundPredicate", "True", "False", "SimpleRule", "CompoundRule")
			ru.sub = c.rules(m, re, sc)
		} else {
			c.errs.checkChildren(re, "SimplePredicate", "SimpleSetPredicate", "CompoundPredicate", "True", "False", "ScoreDistribution")
			ru.id = re.attrOr("id", "")
			ru.cat = c.cat(m, c.errs.reqAttr(re, "score"), re)
			ru.weight = c.errs.float(re, "weight", 1)
			ru.confidence = c.errs.float(re, "confidence", 1)
		}
		out = append(out, ru)
	}
	return out
}

// flatten lays the rules out in document order; skip is the index past a
// rule's subtree, where the walk goes when its predicate does not hold.
func flattenRules(rules []*rule, out []flatRule) []flatRule {
	for _, ru := range rules {
		i := len(out)
		out = append(out, flatRule{rule: ru})
		if ru.compound {
			out = flattenRules(ru.sub, out)
		}
		out[i].skip = int32(len(out))
	}
	return out
}

type flatRule struct {
	*rule
	skip int32
}

// eval scores with the selection method. A class's probability is the
// confidence the method gives it: for firstHit the confidence of its first
// firing rule, for weightedSum its rules' total weight over the number of
// firing rules, for weightedMax the confidence of its heaviest rule.
func (r *ruleSetModel) eval(s *Scorer, p *prediction) {
	m := r.m
	probs := p.probs
	// scratch holds the winning weight per class for weightedMax.
	best := p.scratch
	for i := range best {
		best[i] = -1
	}
	var winner *rule
	fired := 0
	for i := 0; i < len(r.flat); {
		ru := &r.flat[i]
		if ru.pred.eval(s) != triTrue {
			i = int(ru.skip)
			continue
		}
		i++
		if ru.compound {
			continue
		}
		fired++
		switch r.criterion {
		case ruleFirstHit:
			if winner == nil {
				winner = ru.rule
			}
			if best[ru.cat] < 0 {
				best[ru.cat] = 0
				probs[ru.cat] = ru.confidence
			}
		case ruleWeightedSum:
			probs[ru.cat] += ru.weight
		case ruleWeightedMax:
			if best[ru.cat] < ru.weight {
				best[ru.cat] = ru.weight
				probs[ru.cat] = ru.confidence
			}
			if winner == nil || ru.weight > winner.weight {
				winner = ru.rule
			}
		}
	}
	if r.criterion == ruleWeightedSum {
		for i := range probs {
			probs[i] /= float64(max(fired, 1))
		}
	}
	if fired == 0 {
		if r.defaultCat < 0 {
			return
		}
		probs[r.defaultCat] = r.defaultConf
		p.ok, p.cls, p.value, p.hasProbs = true, r.defaultCat, m.catVals[r.defaultCat], true
		p.conf, p.hasConf = r.defaultConf, true
		return
	}
	p.hasProbs = true
	if r.criterion == ruleWeightedSum {
		m.setClass(p)
		p.conf, p.hasConf = probs[p.cls], true
		return
	}
	p.ok, p.cls, p.value = true, winner.cat, m.catVals[winner.cat]
	p.conf, p.hasConf = winner.confidence, true
	p.entity = winner.id
	p.reasons = append(p.reasons, winner.pred.text)
}
