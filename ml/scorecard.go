package ml

import (
	"fmt"
	"math"
)

type scoreAttribute struct {
	pred    *predicate
	partial float64
	complex expr
	reason  int
}

type characteristic struct {
	name     string
	attrs    []scoreAttribute
	baseline float64
}

type scorecard struct {
	m           *modelNode
	initial     float64
	chars       []characteristic
	useReasons  bool
	pointsAbove bool
	codes       []string
}

// NoAttributeError reports a scorecard characteristic none of whose
// attributes matched the input: the document gives no score for it.
type NoAttributeError struct{ Characteristic string }

func (e *NoAttributeError) Error() string {
	return fmt.Sprintf("no attribute of characteristic %q matches the input", e.Characteristic)
}

func (c *compiler) scorecard(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "Characteristics")
	if m.fn != regression {
		c.errs.add(e, "<Scorecard> needs functionName=\"regression\"")
	}
	s := &scorecard{m: m}
	s.initial = c.errs.float(e, "initialScore", 0)
	s.useReasons = c.errs.enum(e, "useReasonCodes", "true", "false") == "true"
	s.pointsAbove = c.errs.enum(e, "reasonCodeAlgorithm", "pointsBelow", "pointsAbove") == "pointsAbove"
	c.errs.enum(e, "baselineMethod", "other", "max", "min", "mean", "neutral")
	_, hasBase := e.attr("baselineScore")
	base := c.errs.float(e, "baselineScore", 0)
	codeIdx := map[string]int{}
	code := func(at *elem, name string) int {
		if i, ok := codeIdx[name]; ok {
			return i
		}
		codeIdx[name] = len(s.codes)
		s.codes = append(s.codes, name)
		return len(s.codes) - 1
	}
	chs := e.child("Characteristics")
	if chs == nil {
		c.errs.add(e, "<Scorecard> has no <Characteristics>")
		return nil
	}
	c.errs.checkChildren(chs, "Characteristic")
	for _, ce := range chs.all("Characteristic") {
		c.errs.checkChildren(ce, "Attribute")
		ch := characteristic{name: ce.attrOr("name", fmt.Sprintf("characteristic at line %d", ce.line))}
		charCode, hasCharCode := ce.attr("reasonCode")
		if _, ok := ce.attr("baselineScore"); ok {
			ch.baseline = c.errs.float(ce, "baselineScore", 0)
		} else if hasBase {
			ch.baseline = base
		} else if s.useReasons {
			c.errs.add(ce, "<Characteristic %q> has no baselineScore and the Scorecard none either, which reason codes need", ch.name)
		}
		for _, ae := range ce.all("Attribute") {
			a := scoreAttribute{pred: truePredicate, reason: -1}
			for _, x := range ae.children {
				switch {
				case ignorable[x.name]:
				case predicateElems[x.name]:
					a.pred = c.predicate(x, sc)
				case x.name == "ComplexPartialScore":
					var body *elem
					for _, y := range x.children {
						if !ignorable[y.name] {
							body = y
						}
					}
					if body == nil {
						c.errs.add(x, "<ComplexPartialScore> has no expression")
						continue
					}
					a.complex = c.expression(body, sc)
				default:
					c.errs.unsupported(x)
				}
			}
			if a.complex == nil {
				a.partial = c.errs.reqFloat(ae, "partialScore")
			}
			if rc, ok := ae.attr("reasonCode"); ok {
				a.reason = code(ae, rc)
			} else if hasCharCode {
				a.reason = code(ce, charCode)
			} else if s.useReasons {
				c.errs.add(ae, "<Attribute> has no reasonCode and its Characteristic %q none either", ch.name)
			}
			ch.attrs = append(ch.attrs, a)
		}
		s.chars = append(s.chars, ch)
	}
	if s.useReasons {
		m.maxReasons = len(s.codes)
	}
	m.scratch = len(s.codes)
	return s
}

func (sc *scorecard) eval(s *Scorer, p *prediction) {
	points := p.scratch
	for i := range points {
		points[i] = math.NaN()
	}
	total := sc.initial
	for i := range sc.chars {
		ch := &sc.chars[i]
		matched := false
		for j := range ch.attrs {
			a := &ch.attrs[j]
			if a.pred.eval(s) != triTrue {
				continue
			}
			partial := a.partial
			if a.complex != nil {
				v, ok := a.complex.eval(s).Float()
				if !ok {
					return
				}
				partial = v
			}
			total += partial
			if sc.useReasons && a.reason >= 0 {
				d := ch.baseline - partial
				if sc.pointsAbove {
					d = partial - ch.baseline
				}
				if math.IsNaN(points[a.reason]) {
					points[a.reason] = d
				} else {
					points[a.reason] += d
				}
			}
			matched = true
			break
		}
		if !matched {
			s.fail(&NoAttributeError{Characteristic: ch.name})
			return
		}
	}
	sc.m.setNumber(p, total)
	if !sc.useReasons {
		return
	}
	// Rank the reason codes that applied by points, highest first; ties
	// keep document order.
	for {
		best := -1
		for i, x := range points {
			if !math.IsNaN(x) && (best < 0 || x > points[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		p.reasons = append(p.reasons, sc.codes[best])
		points[best] = math.NaN()
	}
}
