package ml

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
)

// builtin is a PMML built-in function over evaluated arguments. Functions
// that must see missing arguments or evaluate lazily are handled in apply.
type builtin struct {
	min, max int // arity; max < 0 means any
	fn       func(s *Scorer, a []Value) Value
}

func num1(f func(float64) float64) builtin {
	return builtin{1, 1, func(_ *Scorer, a []Value) Value {
		x, ok := a[0].Float()
		if !ok {
			return nanValue
		}
		return numOrNaN(f(x))
	}}
}

func num2(f func(x, y float64) float64) builtin {
	return builtin{2, 2, func(_ *Scorer, a []Value) Value {
		x, okx := a[0].Float()
		y, oky := a[1].Float()
		if !okx || !oky {
			return nanValue
		}
		return numOrNaN(f(x, y))
	}}
}

// nanValue marks an invalid numeric result (a number kind holding NaN), which
// apply turns into an error, a missing value or NaN as the document says.
var nanValue = Value{kind: KindNumber, num: math.NaN()}

func numOrNaN(f float64) Value { return Value{kind: KindNumber, num: f} }

func agg(f func(a []Value) float64) builtin {
	return builtin{1, -1, func(_ *Scorer, a []Value) Value {
		for _, v := range a {
			if _, ok := v.Float(); !ok {
				return nanValue
			}
		}
		return numOrNaN(f(a))
	}}
}

func compare(f func(c int) bool) builtin {
	return builtin{2, 2, func(_ *Scorer, a []Value) Value {
		return Bool(f(compareValues(a[0], a[1])))
	}}
}

// compareValues orders numbers numerically and other values by their text.
func compareValues(a, b Value) int {
	x, okx := a.Float()
	y, oky := b.Float()
	if okx && oky && (a.kind != KindString || b.kind != KindString) {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	at, _ := a.Text()
	bt, _ := b.Text()
	return strings.Compare(at, bt)
}

func str1(f func(string) string) builtin {
	return builtin{1, 1, func(_ *Scorer, a []Value) Value {
		t, _ := a[0].Text()
		return Str(f(t))
	}}
}

var builtins map[string]builtin

func init() {
	builtins = map[string]builtin{
		"+": num2(func(x, y float64) float64 { return x + y }),
		"-": num2(func(x, y float64) float64 { return x - y }),
		"*": num2(func(x, y float64) float64 { return x * y }),
		"/": num2(func(x, y float64) float64 {
			if y == 0 {
				return math.NaN()
			}
			return x / y
		}),
		"min": agg(func(a []Value) float64 {
			m := math.Inf(1)
			for _, v := range a {
				m = math.Min(m, v.num)
			}
			return m
		}),
		"max": agg(func(a []Value) float64 {
			m := math.Inf(-1)
			for _, v := range a {
				m = math.Max(m, v.num)
			}
			return m
		}),
		"sum": agg(func(a []Value) float64 {
			t := 0.0
			for _, v := range a {
				t += v.num
			}
			return t
		}),
		"product": agg(func(a []Value) float64 {
			t := 1.0
			for _, v := range a {
				t *= v.num
			}
			return t
		}),
		"avg": agg(func(a []Value) float64 {
			t := 0.0
			for _, v := range a {
				t += v.num
			}
			return t / float64(len(a))
		}),
		"median": {1, -1, func(s *Scorer, a []Value) Value {
			base := len(s.nums)
			for _, v := range a {
				x, ok := v.Float()
				if !ok {
					return nanValue
				}
				s.nums = append(s.nums, x)
			}
			m := median(s.nums[base:])
			s.nums = s.nums[:base]
			return Num(m)
		}},
		"log10": num1(func(x float64) float64 {
			if x <= 0 {
				return math.NaN()
			}
			return math.Log10(x)
		}),
		"ln": num1(func(x float64) float64 {
			if x <= 0 {
				return math.NaN()
			}
			return math.Log(x)
		}),
		"log1p": num1(math.Log1p),
		"exp":   num1(math.Exp),
		"expm1": num1(math.Expm1),
		"sqrt": num1(func(x float64) float64 {
			if x < 0 {
				return math.NaN()
			}
			return math.Sqrt(x)
		}),
		"abs":   num1(math.Abs),
		"floor": num1(math.Floor),
		"ceil":  num1(math.Ceil),
		"round": num1(func(x float64) float64 { return math.Floor(x + 0.5) }),
		"rint":  num1(math.RoundToEven),
		"pow":   num2(math.Pow),
		"threshold": num2(func(x, t float64) float64 {
			if x > t {
				return 1
			}
			return 0
		}),
		"modulo": num2(func(x, y float64) float64 {
			if y == 0 {
				return math.NaN()
			}
			return x - math.Floor(x/y)*y
		}),
		"sin": num1(math.Sin), "cos": num1(math.Cos), "tan": num1(math.Tan),
		"asin": num1(math.Asin), "acos": num1(math.Acos), "atan": num1(math.Atan),
		"sinh": num1(math.Sinh), "cosh": num1(math.Cosh), "tanh": num1(math.Tanh),
		"atan2": num2(math.Atan2), "hypot": num2(math.Hypot),
		"erf":          num1(math.Erf),
		"stdNormalCDF": num1(normCDF),
		"stdNormalPDF": num1(normPDF),
		"stdNormalIDF": num1(normIDF),
		"normalCDF": {3, 3, normal3(func(x, mu, sigma float64) float64 {
			return normCDF((x - mu) / sigma)
		})},
		"normalPDF": {3, 3, normal3(func(x, mu, sigma float64) float64 {
			return normPDF((x-mu)/sigma) / sigma
		})},
		"normalIDF": {3, 3, normal3(func(p, mu, sigma float64) float64 {
			return mu + sigma*normIDF(p)
		})},
		"equal":          {2, 2, func(_ *Scorer, a []Value) Value { return Bool(equalValues(a[0], a[1])) }},
		"notEqual":       {2, 2, func(_ *Scorer, a []Value) Value { return Bool(!equalValues(a[0], a[1])) }},
		"lessThan":       compare(func(c int) bool { return c < 0 }),
		"lessOrEqual":    compare(func(c int) bool { return c <= 0 }),
		"greaterThan":    compare(func(c int) bool { return c > 0 }),
		"greaterOrEqual": compare(func(c int) bool { return c >= 0 }),
		"not":            {1, 1, func(_ *Scorer, a []Value) Value { return Bool(!truthy(a[0])) }},
		"isIn": {2, -1, func(_ *Scorer, a []Value) Value {
			for _, v := range a[1:] {
				if equalValues(a[0], v) {
					return Bool(true)
				}
			}
			return Bool(false)
		}},
		"isNotIn": {2, -1, func(_ *Scorer, a []Value) Value {
			for _, v := range a[1:] {
				if equalValues(a[0], v) {
					return Bool(false)
				}
			}
			return Bool(true)
		}},
		"uppercase": str1(strings.ToUpper),
		"lowercase": str1(strings.ToLower),
		"trimBlanks": str1(func(s string) string {
			return strings.TrimSpace(s)
		}),
		"stringLength": {1, 1, func(_ *Scorer, a []Value) Value {
			t, _ := a[0].Text()
			return Num(float64(len([]rune(t))))
		}},
		"substring": {3, 3, func(_ *Scorer, a []Value) Value {
			t, _ := a[0].Text()
			start, ok1 := a[1].Float()
			n, ok2 := a[2].Float()
			if !ok1 || !ok2 {
				return nanValue
			}
			return Str(substring(t, start, n))
		}},
		"concat": {1, -1, func(_ *Scorer, a []Value) Value {
			var b strings.Builder
			for _, v := range a {
				t, _ := v.Text()
				b.WriteString(t)
			}
			return Str(b.String())
		}},
		"formatNumber": {2, 2, func(_ *Scorer, a []Value) Value {
			x, ok := a[0].Float()
			pat, _ := a[1].Text()
			if !ok {
				return nanValue
			}
			out, ok := formatNumber(pat, x)
			if !ok {
				return nanValue
			}
			return Str(out)
		}},
	}
	registerDateFunctions()
}

func normal3(f func(x, mu, sigma float64) float64) func(*Scorer, []Value) Value {
	return func(_ *Scorer, a []Value) Value {
		x, ok1 := a[0].Float()
		mu, ok2 := a[1].Float()
		sigma, ok3 := a[2].Float()
		if !ok1 || !ok2 || !ok3 || sigma <= 0 {
			return nanValue
		}
		return numOrNaN(f(x, mu, sigma))
	}
}

func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }
func normPDF(x float64) float64 { return math.Exp(-x*x/2) / math.Sqrt(2*math.Pi) }
func normIDF(p float64) float64 {
	if p <= 0 || p >= 1 {
		return math.NaN()
	}
	return -math.Sqrt2 * math.Erfcinv(2*p)
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func truthy(v Value) bool {
	switch v.kind {
	case KindBool, KindNumber:
		return v.num != 0
	case KindString:
		return v.str == "true" || v.str == "1"
	}
	return false
}

type special uint8

const (
	plain special = iota
	fnIsMissing
	fnIsNotMissing
	fnIf
	fnAnd
	fnOr
	fnMatches
	fnReplace
)

var specials = map[string]special{
	"isMissing": fnIsMissing, "isNotMissing": fnIsNotMissing,
	"isValid": fnIsNotMissing, "isNotValid": fnIsMissing,
	"if": fnIf, "and": fnAnd, "or": fnOr, "matches": fnMatches, "replace": fnReplace,
}

// ApplyError reports a function whose result is invalid (a division by zero,
// the logarithm of a negative number) when the Apply element does not say
// to treat it as missing.
type ApplyError struct {
	Function string
	Line     int
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("line %d: function %q returned an invalid result", e.Line, e.Function)
}

type applyExpr struct {
	name          string
	line          int
	sp            special
	fn            builtin
	user          *userFunc
	args          []expr
	re            *regexp.Regexp
	mapMissing    Value
	hasMapMissing bool
	def           Value
	invalid       invalidTreatment
}

func (c *compiler) apply(e *elem, sc *scope) expr {
	name := c.errs.reqAttr(e, "function")
	a := &applyExpr{name: name, line: e.line}
	for _, ch := range e.children {
		if ignorable[ch.name] {
			continue
		}
		a.args = append(a.args, c.expression(ch, sc))
	}
	if s, ok := e.attr("mapMissingTo"); ok {
		a.hasMapMissing = true
		if f, err := parseNumber(s); err == nil {
			a.mapMissing = Num(f)
		} else {
			a.mapMissing = Str(s)
		}
	}
	if s, ok := e.attr("defaultValue"); ok {
		if f, err := parseNumber(s); err == nil {
			a.def = Num(f)
		} else {
			a.def = Str(s)
		}
	}
	switch c.errs.enum(e, "invalidValueTreatment", "returnInvalid", "asIs", "asMissing") {
	case "asIs":
		a.invalid = invalidAsIs
	case "asMissing":
		a.invalid = invalidAsMissing
	}
	n := len(a.args)
	if u, ok := c.funcs[name]; ok {
		a.user = u
		if n != len(u.params) {
			c.errs.add(e, "function %q takes %d arguments, got %d", name, len(u.params), n)
		}
		return a
	}
	if sp, ok := specials[name]; ok {
		a.sp = sp
		want := map[special][2]int{fnIsMissing: {1, 1}, fnIsNotMissing: {1, 1}, fnIf: {2, 3}, fnAnd: {2, -1}, fnOr: {2, -1}, fnMatches: {2, 2}, fnReplace: {3, 3}}[sp]
		if n < want[0] || want[1] >= 0 && n > want[1] {
			c.errs.add(e, "function %q got %d arguments", name, n)
		}
		if (sp == fnMatches || sp == fnReplace) && n >= 2 {
			if k, ok := a.args[1].(constExpr); ok {
				pat, _ := k.v.Text()
				re, err := regexp.Compile(pat)
				if err != nil {
					c.errs.add(e, "function %q: bad regular expression %q: %v", name, pat, err)
				}
				a.re = re
			}
		}
		return a
	}
	fn, ok := builtins[name]
	if !ok {
		c.errs.add(e, "unsupported function %q in <Apply>", name)
		return constExpr{}
	}
	if n < fn.min || fn.max >= 0 && n > fn.max {
		c.errs.add(e, "function %q got %d arguments", name, n)
		return constExpr{}
	}
	a.fn = fn
	return a
}

func (a *applyExpr) eval(s *Scorer) Value {
	switch a.sp {
	case fnIsMissing:
		return Bool(a.args[0].eval(s).kind == KindMissing)
	case fnIsNotMissing:
		return Bool(a.args[0].eval(s).kind != KindMissing)
	case fnIf:
		cond := a.args[0].eval(s)
		if cond.kind == KindMissing {
			return a.missing()
		}
		if truthy(cond) {
			return a.result(s, a.args[1].eval(s))
		}
		if len(a.args) == 3 {
			return a.result(s, a.args[2].eval(s))
		}
		return a.result(s, Value{})
	case fnAnd, fnOr:
		// Three-valued logic: a decisive operand wins even when another
		// is missing.
		sawMissing := false
		for _, x := range a.args {
			v := x.eval(s)
			if v.kind == KindMissing {
				sawMissing = true
				continue
			}
			if truthy(v) == (a.sp == fnOr) {
				return Bool(a.sp == fnOr)
			}
		}
		if sawMissing {
			return a.missing()
		}
		return Bool(a.sp == fnAnd)
	}
	base := len(s.stack)
	for _, x := range a.args {
		v := x.eval(s)
		if v.kind == KindMissing {
			s.stack = s.stack[:base]
			return a.missing()
		}
		s.stack = append(s.stack, v)
	}
	args := s.stack[base:]
	var out Value
	switch {
	case a.user != nil:
		saved := s.frame
		s.frame = base
		out = castTo(a.user.body.eval(s), a.user.dt)
		s.frame = saved
	case a.sp == fnMatches || a.sp == fnReplace:
		out = a.regex(args)
	default:
		out = a.fn.fn(s, args)
	}
	s.stack = s.stack[:base]
	return a.result(s, out)
}

func (a *applyExpr) regex(args []Value) Value {
	in, _ := args[0].Text()
	re := a.re
	if re == nil {
		pat, _ := args[1].Text()
		var err error
		if re, err = regexp.Compile(pat); err != nil {
			return nanValue
		}
	}
	if a.sp == fnMatches {
		return Bool(re.MatchString(in))
	}
	rep, _ := args[2].Text()
	return Str(re.ReplaceAllString(in, rep))
}

func (a *applyExpr) missing() Value {
	if a.hasMapMissing {
		return a.mapMissing
	}
	return Value{}
}

func (a *applyExpr) result(s *Scorer, v Value) Value {
	if v.kind == KindNumber && (math.IsNaN(v.num) || math.IsInf(v.num, 0)) {
		switch a.invalid {
		case invalidReturn:
			s.fail(&ApplyError{Function: a.name, Line: a.line})
			return Value{}
		case invalidAsMissing:
			return a.def
		}
		if math.IsNaN(v.num) {
			return a.def
		}
		return v
	}
	if v.kind == KindMissing {
		return a.def
	}
	return v
}

// userFunc is a DefineFunction: its body reads parameters from the
// Scorer's argument stack.
type userFunc struct {
	name   string
	params []string
	types  []DataType
	dt     DataType
	body   expr
	e      *elem
}

func (c *compiler) declareFunction(e *elem) {
	name := c.errs.reqAttr(e, "name")
	if c.funcs == nil {
		c.funcs = map[string]*userFunc{}
	}
	if _, dup := c.funcs[name]; dup {
		c.errs.add(e, "function %q is defined twice", name)
		return
	}
	u := &userFunc{name: name, e: e, dt: TypeDouble, body: constExpr{}}
	if s, ok := e.attr("dataType"); ok {
		dt, ok := parseDataType(s)
		if !ok {
			c.errs.add(e, "<DefineFunction> dataType %q is not supported", s)
		}
		u.dt = dt
	}
	for _, p := range e.all("ParameterField") {
		u.params = append(u.params, c.errs.reqAttr(p, "name"))
		dt := TypeDouble
		if s, ok := p.attr("dataType"); ok {
			if d, ok := parseDataType(s); ok {
				dt = d
			} else {
				c.errs.add(p, "<ParameterField> dataType %q is not supported", s)
			}
		}
		u.types = append(u.types, dt)
	}
	c.funcs[name] = u
}

// functionBodies compiles every DefineFunction once all are declared, so
// that functions may call functions defined later.
func (c *compiler) functionBodies() {
	for _, u := range c.funcs {
		var body *elem
		for _, ch := range u.e.children {
			if ch.name == "ParameterField" || ignorable[ch.name] {
				continue
			}
			if body != nil {
				c.errs.add(ch, "<DefineFunction name=%q> has more than one expression", u.name)
				continue
			}
			body = ch
		}
		if body == nil {
			c.errs.add(u.e, "<DefineFunction name=%q> has no expression", u.name)
			continue
		}
		c.params = map[string]int{}
		c.paramTypes = u.types
		for i, p := range u.params {
			c.params[p] = i
		}
		// A function body sees only its parameters.
		u.body = c.expression(body, &scope{fields: map[string]*scopeField{}})
		c.params, c.paramTypes = nil, nil
	}
}
