package ml

import (
	"strconv"
	"strings"
)

// tri is a three-valued truth: PMML predicates over missing values are
// UNKNOWN, and each model decides what UNKNOWN means.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

type predKind uint8

const (
	predTrue predKind = iota
	predFalse
	predSimple
	predSet
	predAnd
	predOr
	predXor
	predSurrogate
)

type simpleOp uint8

const (
	opEqual simpleOp = iota
	opNotEqual
	opLess
	opLessEq
	opGreater
	opGreaterEq
	opIsMissing
	opIsNotMissing
)

var simpleOps = map[string]simpleOp{
	"equal": opEqual, "notEqual": opNotEqual, "lessThan": opLess, "lessOrEqual": opLessEq,
	"greaterThan": opGreater, "greaterOrEqual": opGreaterEq, "isMissing": opIsMissing,
	"isNotMissing": opIsNotMissing,
}

var opText = [...]string{"==", "!=", "<", "<=", ">", ">=", "is missing", "is not missing"}

type predicate struct {
	kind    predKind
	op      simpleOp
	slot    int
	numeric bool
	num     float64
	str     string
	ordinal *fieldDef
	strSet  map[string]struct{}
	numSet  map[float64]struct{}
	isIn    bool
	subs    []*predicate
	// text is the predicate for people, e.g. `amount > 500`; it is built at
	// load so that reasons cost nothing when scoring.
	text string
}

var truePredicate = &predicate{kind: predTrue, text: "true"}

// predicateElems are the element names that are predicates.
var predicateElems = map[string]bool{
	"SimplePredicate": true, "SimpleSetPredicate": true, "CompoundPredicate": true,
	"True": true, "False": true,
}

func (c *compiler) predicate(e *elem, sc *scope) *predicate {
	switch e.name {
	case "True":
		c.errs.checkChildren(e)
		return truePredicate
	case "False":
		c.errs.checkChildren(e)
		return &predicate{kind: predFalse, text: "false"}
	case "SimplePredicate":
		c.errs.checkChildren(e)
		name := c.errs.reqAttr(e, "field")
		f := c.resolve(sc, name, e)
		opName := c.errs.reqAttr(e, "operator")
		op, ok := simpleOps[opName]
		if !ok {
			c.errs.add(e, "<SimplePredicate> operator %q is not supported", opName)
		}
		p := &predicate{kind: predSimple, op: op}
		if f == nil {
			return p
		}
		p.slot = f.slot
		dt := fieldType(f)
		p.numeric = dt.numeric() || dt == TypeBoolean
		if f.def != nil && f.def.opType == Ordinal && f.def.validIdx != nil {
			p.ordinal = f.def
		}
		if op == opIsMissing || op == opIsNotMissing {
			p.text = name + " " + opText[op]
			return p
		}
		raw, ok := e.attr("value")
		if !ok {
			c.errs.add(e, "<SimplePredicate> operator %q needs a value", opName)
			return p
		}
		v, ok := parseLiteral(raw, literalType(dt))
		if !ok {
			c.errs.add(e, "<SimplePredicate> value %q is not a %s like field %q", raw, dt, name)
			return p
		}
		if p.numeric {
			p.num = v.num
			p.text = name + " " + opText[op] + " " + numText(v.num)
			if dt == TypeBoolean {
				p.text = name + " " + opText[op] + " " + v.String()
			}
		} else {
			p.str = v.str
			p.text = name + " " + opText[op] + " " + strconv.Quote(v.str)
		}
		return p
	case "SimpleSetPredicate":
		c.errs.checkChildren(e, "Array")
		name := c.errs.reqAttr(e, "field")
		f := c.resolve(sc, name, e)
		p := &predicate{kind: predSet}
		switch c.errs.reqAttr(e, "booleanOperator") {
		case "isIn":
			p.isIn = true
		case "isNotIn":
		default:
			c.errs.add(e, "<SimpleSetPredicate> booleanOperator must be isIn or isNotIn")
		}
		arr := e.child("Array")
		if arr == nil {
			c.errs.add(e, "<SimpleSetPredicate> needs an <Array>")
			return p
		}
		c.errs.enum(arr, "type", "string", "int", "real")
		items, err := splitArray(arr.text)
		if err != nil {
			c.errs.add(arr, "<Array>: %v", err)
		}
		if f == nil {
			return p
		}
		p.slot = f.slot
		dt := fieldType(f)
		p.numeric = dt.numeric()
		quoted := make([]string, 0, len(items))
		for _, it := range items {
			v, ok := parseLiteral(it, literalType(dt))
			if !ok {
				c.errs.add(arr, "<Array> item %q is not a %s like field %q", it, dt, name)
				continue
			}
			if p.numeric {
				if p.numSet == nil {
					p.numSet = map[float64]struct{}{}
				}
				p.numSet[v.num] = struct{}{}
				quoted = append(quoted, numText(v.num))
			} else {
				if p.strSet == nil {
					p.strSet = map[string]struct{}{}
				}
				k := key(v)
				p.strSet[k] = struct{}{}
				quoted = append(quoted, strconv.Quote(k))
			}
		}
		word := " in {"
		if !p.isIn {
			word = " not in {"
		}
		p.text = name + word + strings.Join(quoted, ", ") + "}"
		return p
	case "CompoundPredicate":
		p := &predicate{}
		switch op := c.errs.reqAttr(e, "booleanOperator"); op {
		case "and":
			p.kind = predAnd
		case "or":
			p.kind = predOr
		case "xor":
			p.kind = predXor
		case "surrogate":
			p.kind = predSurrogate
		default:
			c.errs.add(e, "<CompoundPredicate> booleanOperator %q is not supported", op)
		}
		var texts []string
		for _, ch := range e.children {
			if ignorable[ch.name] {
				continue
			}
			if !predicateElems[ch.name] {
				c.errs.unsupported(ch)
				continue
			}
			sub := c.predicate(ch, sc)
			p.subs = append(p.subs, sub)
			texts = append(texts, sub.text)
		}
		if len(p.subs) < 2 {
			c.errs.add(e, "<CompoundPredicate> needs at least two predicates")
		}
		sep := map[predKind]string{predAnd: " and ", predOr: " or ", predXor: " xor ", predSurrogate: " else "}[p.kind]
		p.text = "(" + strings.Join(texts, sep) + ")"
		return p
	}
	c.errs.unsupported(e)
	return &predicate{kind: predFalse, text: "false"}
}

// literalType is the type a predicate's constant is read in: any number
// for a numeric field, since PMML compares numbers by value whatever their
// declared types (an integer field against 70.5 is a comparison, not an
// error).
func literalType(dt DataType) DataType {
	if dt.numeric() {
		return TypeDouble
	}
	return dt
}

// splitArray splits the content of an <Array>: whitespace-separated items,
// double-quoted when they contain spaces, with \" inside quotes.
func splitArray(s string) ([]string, error) {
	var out []string
	i := 0
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		case '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) && s[i+1] == '"' {
					b.WriteByte('"')
					i += 2
					continue
				}
				if s[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return out, errUnclosedQuote
			}
			out = append(out, b.String())
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

type arrayError string

func (e arrayError) Error() string { return string(e) }

const errUnclosedQuote = arrayError("unclosed quote")

func (p *predicate) eval(s *Scorer) tri {
	switch p.kind {
	case predTrue:
		return triTrue
	case predFalse:
		return triFalse
	case predSimple:
		v := s.get(p.slot)
		if v.kind == KindMissing {
			switch p.op {
			case opIsMissing:
				return triTrue
			case opIsNotMissing:
				return triFalse
			}
			return triUnknown
		}
		switch p.op {
		case opIsMissing:
			return triFalse
		case opIsNotMissing:
			return triTrue
		}
		var c int
		if p.numeric {
			x := v.num
			if v.kind == KindString {
				f, ok := v.Float()
				if !ok {
					return triUnknown
				}
				x = f
			}
			switch {
			case x < p.num:
				c = -1
			case x > p.num:
				c = 1
			}
		} else {
			t := v.str
			if v.kind != KindString {
				t, _ = v.Text()
			}
			if p.ordinal != nil && p.op >= opLess {
				i, j := p.ordinal.index(Str(t)), p.ordinal.index(Str(p.str))
				if i < 0 || j < 0 {
					return triUnknown
				}
				c = i - j
			} else {
				c = strings.Compare(t, p.str)
			}
		}
		var ok bool
		switch p.op {
		case opEqual:
			ok = c == 0
		case opNotEqual:
			ok = c != 0
		case opLess:
			ok = c < 0
		case opLessEq:
			ok = c <= 0
		case opGreater:
			ok = c > 0
		case opGreaterEq:
			ok = c >= 0
		}
		if ok {
			return triTrue
		}
		return triFalse
	case predSet:
		v := s.get(p.slot)
		if v.kind == KindMissing {
			return triUnknown
		}
		var in bool
		if p.numeric {
			x, ok := v.Float()
			if !ok {
				return triUnknown
			}
			_, in = p.numSet[x]
		} else {
			t := v.str
			if v.kind != KindString {
				t = key(v)
			}
			_, in = p.strSet[t]
		}
		if in == p.isIn {
			return triTrue
		}
		return triFalse
	case predAnd:
		r := triTrue
		for _, sub := range p.subs {
			switch sub.eval(s) {
			case triFalse:
				return triFalse
			case triUnknown:
				r = triUnknown
			}
		}
		return r
	case predOr:
		r := triFalse
		for _, sub := range p.subs {
			switch sub.eval(s) {
			case triTrue:
				return triTrue
			case triUnknown:
				r = triUnknown
			}
		}
		return r
	case predXor:
		r := false
		for _, sub := range p.subs {
			switch sub.eval(s) {
			case triUnknown:
				return triUnknown
			case triTrue:
				r = !r
			}
		}
		if r {
			return triTrue
		}
		return triFalse
	case predSurrogate:
		for _, sub := range p.subs {
			if r := sub.eval(s); r != triUnknown {
				return r
			}
		}
		return triUnknown
	}
	return triFalse
}
