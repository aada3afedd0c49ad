package ml

import (
	"fmt"
	"math"
)

type invalidTreatment uint8

const (
	invalidReturn invalidTreatment = iota
	invalidAsIs
	invalidAsMissing
	invalidAsValue
)

type outlierTreatment uint8

const (
	outlierAsIs outlierTreatment = iota
	outlierAsMissing
	outlierAsExtreme
)

// treatment is what a MiningField does to a value before the model sees it.
// It is comparable so that nested models can share identical preparations.
type treatment struct {
	invalid        invalidTreatment
	invalidRepl    Value
	hasMissingRepl bool
	missingRepl    Value
	missingInvalid bool
	outliers       outlierTreatment
	low, high      float64
}

// prep prepares one MiningField: from a raw input (src < 0) or from the
// enclosing model's value of the field.
type prep struct {
	name  string
	def   *fieldDef
	src   int
	input int
	t     treatment
	// plain is set when a present number passes unchanged: a double field
	// with no value lists, intervals or outlier treatment.
	plain bool
}

func newPrep(name string, def *fieldDef, src, input int, t treatment) *prep {
	p := &prep{name: name, def: def, src: src, input: input, t: t}
	p.plain = def != nil && def.dataType == TypeDouble && def.opType == Continuous &&
		len(def.intervals) == 0 && def.missing == nil && def.invalid == nil && def.validIdx == nil &&
		t.outliers == outlierAsIs
	return p
}

// InvalidValueError reports an input value outside the field's domain when
// the model says invalidValueTreatment="returnInvalid" (the PMML default).
type InvalidValueError struct {
	Field string
	Value Value
}

func (e *InvalidValueError) Error() string {
	return fmt.Sprintf("invalid value %q for field %q", e.Value.String(), e.Field)
}

// MissingValueError reports a missing input that the model refuses
// (missingValueTreatment="returnInvalid").
type MissingValueError struct{ Field string }

func (e *MissingValueError) Error() string {
	return fmt.Sprintf("missing value for field %q", e.Field)
}

func (p *prep) derive(s *Scorer) Value {
	var raw Value
	if p.src < 0 {
		raw = s.raw[p.input]
	} else {
		raw = s.get(p.src)
	}
	if p.plain && raw.kind == KindNumber {
		return raw
	}
	v, st := raw, valid
	if p.def != nil {
		v, st = p.def.classify(raw)
	} else if raw.kind == KindMissing {
		st = missingValue
	}
	if st == invalidValue {
		switch p.t.invalid {
		case invalidReturn:
			s.fail(&InvalidValueError{Field: p.name, Value: raw})
			return Value{}
		case invalidAsMissing:
			v, st = Value{}, missingValue
		case invalidAsValue:
			return p.t.invalidRepl
		case invalidAsIs:
			return v
		}
	}
	if st == missingValue {
		if p.t.hasMissingRepl {
			return p.t.missingRepl
		}
		if p.t.missingInvalid {
			s.fail(&MissingValueError{Field: p.name})
		}
		return Value{}
	}
	if p.t.outliers != outlierAsIs && v.kind == KindNumber {
		if v.num < p.t.low || v.num > p.t.high {
			if p.t.outliers == outlierAsMissing {
				if p.t.hasMissingRepl {
					return p.t.missingRepl
				}
				return Value{}
			}
			return Num(math.Min(math.Max(v.num, p.t.low), p.t.high))
		}
	}
	return v
}

// miningSchema reads the MiningFields of model m. Prepared fields go into
// into: the root scope for the top model, the model's own scope otherwise.
func (c *compiler) miningSchema(m *modelNode, ms *elem, into *scope, top bool) {
	c.errs.checkChildren(ms, "MiningField")
	for _, e := range ms.all("MiningField") {
		name := c.errs.reqAttr(e, "name")
		if name == "" {
			continue
		}
		usage := c.errs.enum(e, "usageType", "active", "predicted", "target", "supplementary", "group", "order", "frequencyWeight", "analysisWeight")
		switch usage {
		case "predicted", "target":
			if m.targetName != "" {
				c.errs.add(e, "second target field %q: models with several targets are not supported", name)
				continue
			}
			m.targetName = name
			if d, ok := c.dd[name]; ok {
				m.target = d
			} else if f := c.lookup(into, name); f != nil {
				m.target = f.def
			} else {
				c.errs.add(e, "target field %q is not in the DataDictionary", name)
			}
			continue
		case "group", "order", "frequencyWeight", "analysisWeight":
			continue
		}
		t := c.treatment(e)
		if top {
			d, ok := c.dd[name]
			if !ok {
				c.errs.add(e, "MiningField %q is not in the DataDictionary", name)
				continue
			}
			if _, dup := into.fields[name]; dup {
				c.errs.add(e, "MiningField %q is listed twice", name)
				continue
			}
			idx := c.addInput(d)
			slot := c.newSlot(newPrep(name, d, -1, idx, t))
			c.inputSlots = append(c.inputSlots, slot)
			into.fields[name] = &scopeField{slot: slot, def: d}
			if into.prep == nil {
				into.prep = map[string]treatment{}
			}
			into.prep[name] = t
			continue
		}
		parent := c.resolve(into.parent, name, e)
		if parent == nil {
			continue
		}
		if c.sameTreatment(into.parent, name, t) {
			continue
		}
		var d *fieldDef
		if parent.def != nil && parent.def.isData {
			d = parent.def
		}
		into.fields[name] = &scopeField{slot: c.newSlot(newPrep(name, d, parent.slot, 0, t)), def: parent.def}
		if into.prep == nil {
			into.prep = map[string]treatment{}
		}
		into.prep[name] = t
	}
}

// sameTreatment reports whether the nearest enclosing preparation of name
// equals t, or t does nothing; then the nested model reads the same slot.
func (c *compiler) sameTreatment(sc *scope, name string, t treatment) bool {
	for s := sc; s != nil; s = s.parent {
		if p, ok := s.prep[name]; ok {
			return p == t || t == (treatment{invalid: invalidAsIs}) || t == (treatment{})
		}
		if _, ok := s.fields[name]; ok {
			return t == (treatment{invalid: invalidAsIs}) || t == (treatment{})
		}
	}
	return t == (treatment{})
}

func (c *compiler) treatment(e *elem) treatment {
	var t treatment
	def := c.dd[e.attrOr("name", "")]
	dt := TypeDouble
	if def != nil {
		dt = def.dataType
	}
	switch c.errs.enum(e, "invalidValueTreatment", "returnInvalid", "asIs", "asMissing", "asValue") {
	case "asIs":
		t.invalid = invalidAsIs
	case "asMissing":
		t.invalid = invalidAsMissing
	case "asValue":
		t.invalid = invalidAsValue
		s, ok := e.attr("invalidValueReplacement")
		if !ok {
			c.errs.add(e, "invalidValueTreatment=\"asValue\" needs invalidValueReplacement")
		}
		v, ok := parseLiteral(s, dt)
		if !ok {
			c.errs.add(e, "invalidValueReplacement %q is not a %s", s, dt)
		}
		t.invalidRepl = v
	}
	if s, ok := e.attr("missingValueReplacement"); ok {
		v, ok := parseLiteral(s, dt)
		if !ok {
			c.errs.add(e, "missingValueReplacement %q is not a %s", s, dt)
		}
		t.hasMissingRepl, t.missingRepl = true, v
	}
	// asMean, asMode, asMedian and asValue only document how the replacement
	// was chosen; the replacement itself is missingValueReplacement.
	if c.errs.enum(e, "missingValueTreatment", "asIs", "asMean", "asMode", "asMedian", "asValue", "returnInvalid") == "returnInvalid" {
		t.missingInvalid = true
	}
	switch c.errs.enum(e, "outliers", "asIs", "asMissingValues", "asExtremeValues") {
	case "asMissingValues":
		t.outliers = outlierAsMissing
	case "asExtremeValues":
		t.outliers = outlierAsExtreme
	}
	if t.outliers != outlierAsIs {
		t.low = c.errs.reqFloat(e, "lowValue")
		t.high = c.errs.reqFloat(e, "highValue")
	}
	return t
}
