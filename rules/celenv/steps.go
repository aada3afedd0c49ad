package celenv

import (
	"math"
	"time"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/event"
)

// A sequence's later steps often compare the event with an earlier step's:
// impossible travel divides the distance between two logins by the hours
// between them. cel-go's interpreter boxes every value and resolves every
// name and function on the way, and in the fraud example such a condition,
// tested against every login of a user in the last twelve hours, was a
// third of the replay. FastStepPredicate builds a native form of the
// subset such conditions are written in: comparisons of double arithmetic
// over fields of the event and of earlier steps, geo_distance_km,
// hours_between and math.greatest/least, joined by && and || with any
// condition FastPredicate covers. It answers true or false only where CEL
// answers the same without an error; for anything else (a missing field,
// a value of another type, NaN, a step that took no event or several) it
// answers Failed and the caller lets CEL evaluate the condition, which
// words the error. TestFastStepsMatchCEL holds the two together.

// Steps gives a sequence condition's native form the events of earlier
// steps.
type Steps interface {
	// StepEvent returns the one event the step named took, or nil when it
	// took none or several, or there is no such step: CEL reads those.
	StepEvent(name string) *event.Event
}

// StepPred is the native form of a condition over the event and earlier
// steps' events: True or False, or Failed where CEL must answer.
type StepPred func(ev *event.Event, steps Steps) Tri

// FastStepPredicate builds the native form of a sequence condition that
// names earlier steps, or nil when the condition is outside the subset
// or names no step (FastPredicate covers those).
func FastStepPredicate(e ast.Expr, share func(string) string) StepPred {
	return fastStepPredicate(e, natives{share: share})
}

func fastStepPredicate(e ast.Expr, nb natives) StepPred {
	if !NamesOtherThanEvent(e) {
		return nil
	}
	return stepPred(e, nb)
}

// NamesOtherThanEvent reports whether e names a variable other than
// event: a step, a namespace, a macro's variable.
func NamesOtherThanEvent(e ast.Expr) bool {
	found := false
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() == ast.IdentKind && x.AsIdent() != "event" {
			found = true
		}
	}))
	return found
}

func stepPred(e ast.Expr, nb natives) StepPred {
	if !NamesOtherThanEvent(e) {
		p := fastPred(e, nb)
		if p == nil {
			return nil
		}
		return func(ev *event.Event, _ Steps) Tri { return p(ev) }
	}
	if e.Kind() != ast.CallKind {
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	switch fn := call.FunctionName(); fn {
	case "_&&_", "_||_":
		a, b := stepPred(args[0], nb), stepPred(args[1], nb)
		if a == nil || b == nil {
			return nil
		}
		// CEL's && is false when either side is, whatever the other;
		// || likewise true. Anything else with an error is an error.
		absorb := False
		if fn == "_||_" {
			absorb = True
		}
		return func(ev *event.Event, s Steps) Tri {
			x := a(ev, s)
			if x == absorb {
				return x
			}
			y := b(ev, s)
			if y == absorb {
				return y
			}
			if isErr(x) || isErr(y) {
				return Failed
			}
			return x
		}
	case "!_":
		a := stepPred(args[0], nb)
		if a == nil {
			return nil
		}
		return func(ev *event.Event, s Steps) Tri { return negate(a(ev, s)) }
	case FnFalseIfMissing:
		// A missing field's error, which this answers as Failed, is CEL's
		// to turn into false.
		a := stepPred(args[0], nb)
		if a == nil {
			return nil
		}
		return func(ev *event.Event, s Steps) Tri {
			if t := a(ev, s); t == True || t == False {
				return t
			}
			return Failed
		}
	case "_<_", "_<=_", "_>_", "_>=_", "_==_", "_!=_":
		if fn == "_==_" || fn == "_!=_" {
			if x, y := scalarOf(args[0]), scalarOf(args[1]); x != nil && y != nil {
				ne := fn == "_!=_"
				return func(ev *event.Event, s Steps) Tri {
					a, b, ok := both(x, y, ev, s)
					if !ok {
						return Failed
					}
					return triOf(sameScalar(a, b) != ne)
				}
			}
		}
		x, y := compared(args[0]), compared(args[1])
		if x == nil || y == nil {
			return nil
		}
		var test func(a, b float64) bool
		switch fn {
		case "_<_":
			test = func(a, b float64) bool { return a < b }
		case "_<=_":
			test = func(a, b float64) bool { return a <= b }
		case "_>_":
			test = func(a, b float64) bool { return a > b }
		case "_>=_":
			test = func(a, b float64) bool { return a >= b }
		case "_==_":
			test = func(a, b float64) bool { return a == b }
		default:
			test = func(a, b float64) bool { return a != b }
		}
		return func(ev *event.Event, s Steps) Tri {
			a, b, ok := both(x, y, ev, s)
			if !ok || math.IsNaN(a) || math.IsNaN(b) {
				return Failed // an error, or NaN, which CEL cannot order
			}
			return triOf(test(a, b))
		}
	}
	return nil
}

// both reads two operands: ok only when both read.
func both[T any](x, y func(*event.Event, Steps) (T, bool), ev *event.Event, s Steps) (a, b T, ok bool) {
	if a, ok = x(ev, s); ok {
		b, ok = y(ev, s)
	}
	return a, b, ok
}

// numFn evaluates a double: ok is false where CEL would fail (or give
// NaN, which it cannot order).
type numFn func(ev *event.Event, s Steps) (float64, bool)

// maxExact is the largest integer a double holds exactly, and so compares
// with as CEL compares a double with an int.
const maxExact = 1 << 53

// compared is an operand of a comparison: a double, or an int literal
// that a double compares with exactly.
func compared(e ast.Expr) numFn {
	if e.Kind() == ast.LiteralKind {
		if i, ok := e.AsLiteral().(types.Int); ok && -maxExact <= i && i <= maxExact {
			f := float64(i)
			return func(*event.Event, Steps) (float64, bool) { return f, true }
		}
	}
	return numExpr(e)
}

// numExpr is the native form of a double-valued expression, or nil. Every
// value it reads is a double at run time (JSON numbers are CEL doubles),
// and it takes no int literal where CEL would find no overload for a
// double and an int.
func numExpr(e ast.Expr) numFn {
	switch e.Kind() {
	case ast.LiteralKind:
		d, ok := e.AsLiteral().(types.Double)
		if !ok || math.IsNaN(float64(d)) {
			return nil
		}
		f := float64(d)
		return func(*event.Event, Steps) (float64, bool) { return f, true }
	case ast.SelectKind, ast.IdentKind:
		ref, ok := stepRefOf(e)
		if !ok || len(ref.path) == 0 {
			return nil
		}
		return func(ev *event.Event, s Steps) (float64, bool) {
			x := ref.event(ev, s)
			if x == nil {
				return 0, false
			}
			v, t := lookupPath(x, ref.path)
			if t != True || v.Kind() != event.Number {
				return 0, false
			}
			return v.Num(), true
		}
	case ast.CallKind:
	default:
		return nil
	}
	call := e.AsCall()
	if call.IsMemberFunction() {
		return nil
	}
	args := call.Args()
	switch fn := call.FunctionName(); fn {
	case "_+_", "_-_", "_*_", "_/_":
		if len(args) != 2 {
			return nil
		}
		a, b := numExpr(args[0]), numExpr(args[1])
		if a == nil || b == nil {
			return nil
		}
		var op func(x, y float64) float64
		switch fn {
		case "_+_":
			op = func(x, y float64) float64 { return x + y }
		case "_-_":
			op = func(x, y float64) float64 { return x - y }
		case "_*_":
			op = func(x, y float64) float64 { return x * y }
		default:
			op = func(x, y float64) float64 { return x / y }
		}
		return func(ev *event.Event, s Steps) (float64, bool) {
			x, y, ok := both(a, b, ev, s)
			if !ok {
				return 0, false
			}
			r := op(x, y)
			return r, !math.IsNaN(r)
		}
	case "-_":
		a := numExpr(args[0])
		if a == nil {
			return nil
		}
		return func(ev *event.Event, s Steps) (float64, bool) {
			x, ok := a(ev, s)
			return -x, ok
		}
	case "math.@max", "math.@min":
		// math.greatest(a, b) and math.least(a, b); with more arguments
		// the macro passes them as a list.
		if len(args) == 1 && args[0].Kind() == ast.ListKind {
			args = args[0].AsList().Elements()
		}
		if len(args) == 0 {
			return nil
		}
		ns := make([]numFn, len(args))
		for i, a := range args {
			if ns[i] = numExpr(a); ns[i] == nil {
				return nil
			}
		}
		greatest := fn == "math.@max"
		return func(ev *event.Event, s Steps) (float64, bool) {
			r, ok := ns[0](ev, s)
			if !ok {
				return 0, false
			}
			for _, n := range ns[1:] {
				x, ok := n(ev, s)
				if !ok {
					return 0, false
				}
				if math.IsNaN(r) || math.IsNaN(x) {
					return 0, false // CEL cannot order NaN
				}
				// As cel-go's maxPair and minPair: the first of equals.
				if greatest && r < x || !greatest && r > x {
					r = x
				}
			}
			return r, true
		}
	case "hours_between":
		if len(args) != 2 {
			return nil
		}
		a, aok := stepRefOf(args[0])
		b, bok := stepRefOf(args[1])
		if !aok || !bok || len(a.path) > 0 || len(b.path) > 0 {
			return nil
		}
		return func(ev *event.Event, s Steps) (float64, bool) {
			x, y := a.event(ev, s), b.event(ev, s)
			if x == nil || y == nil {
				return 0, false
			}
			return math.Abs(time.Unix(0, y.Time).Sub(time.Unix(0, x.Time)).Hours()), true
		}
	case "geo_distance_km":
		switch len(args) {
		case 2:
			a, b := pointOf(args[0]), pointOf(args[1])
			if a == nil || b == nil {
				return nil
			}
			return func(ev *event.Event, s Steps) (float64, bool) {
				lat1, lon1, ok := a.read(ev, s)
				if !ok {
					return 0, false
				}
				lat2, lon2, ok := b.read(ev, s)
				if !ok {
					return 0, false
				}
				r := haversineKm(lat1, lon1, lat2, lon2)
				return r, !math.IsNaN(r)
			}
		case 4:
			var ns [4]numFn
			for i, a := range args {
				if ns[i] = numExpr(a); ns[i] == nil {
					return nil
				}
			}
			return func(ev *event.Event, s Steps) (float64, bool) {
				var f [4]float64
				for i, n := range ns {
					x, ok := n(ev, s)
					if !ok {
						return 0, false
					}
					f[i] = x
				}
				r := haversineKm(f[0], f[1], f[2], f[3])
				return r, !math.IsNaN(r)
			}
		}
	}
	return nil
}

// stepRef is event or a step, and a path in it.
type stepRef struct {
	step string // "" for event
	path []string
}

func stepRefOf(e ast.Expr) (stepRef, bool) {
	if e.Kind() == ast.IdentKind {
		name := e.AsIdent()
		if name == "event" {
			name = ""
		}
		return stepRef{step: name}, true
	}
	name, path, ok := VarPath(e)
	if !ok {
		return stepRef{}, false
	}
	if name == "event" {
		name = ""
	}
	return stepRef{step: name, path: path}, true
}

func (r stepRef) event(ev *event.Event, s Steps) *event.Event {
	if r.step == "" {
		return ev
	}
	return s.StepEvent(r.step)
}

// point is an argument of geo_distance_km(a, b): an object with lat and
// lon (or latitude/longitude, lng), or an event, whose geo object is read
// when it has one (see latLon). paths are the places its coordinates may
// be at, in the order latLon looks: with a geo object, then without.
type point struct {
	ref      stepRef
	geo      []string // the event's geo member, for an event
	lat, lon [2][][]string
}

func pointOf(e ast.Expr) *point {
	ref, ok := stepRefOf(e)
	if !ok {
		return nil
	}
	p := &point{ref: ref}
	at := func(base []string, names ...string) [][]string {
		var out [][]string
		for _, n := range names {
			out = append(out, append(base[:len(base):len(base)], n))
		}
		return out
	}
	if len(ref.path) == 0 {
		p.geo = []string{"geo"}
		p.lat[0], p.lon[0] = at(p.geo, "lat", "latitude"), at(p.geo, "lon", "lng", "longitude")
		p.lat[1], p.lon[1] = at(nil, "lat", "latitude"), at(nil, "lon", "lng", "longitude")
	} else {
		p.lat[0], p.lon[0] = at(ref.path, "lat", "latitude"), at(ref.path, "lon", "lng", "longitude")
	}
	return p
}

func (p *point) read(ev *event.Event, s Steps) (lat, lon float64, ok bool) {
	x := p.ref.event(ev, s)
	if x == nil {
		return 0, 0, false
	}
	k := 0
	if p.geo != nil {
		// An event: its geo object if it has one, else itself.
		if v, t := lookupPath(x, p.geo); t != True || v.Kind() != event.Object {
			k = 1
		}
	} else if v, t := lookupPath(x, p.ref.path); t != True || v.Kind() != event.Object {
		return 0, 0, false // CEL wants an object
	}
	lat, ok1 := firstNumber(x, p.lat[k])
	lon, ok2 := firstNumber(x, p.lon[k])
	return lat, lon, ok1 && ok2
}

// firstNumber is latLon's num: the first of paths that holds a number.
func firstNumber(ev *event.Event, paths [][]string) (float64, bool) {
	for _, path := range paths {
		if v, t := lookupPath(ev, path); t == True && v.Kind() == event.Number {
			return v.Num(), true
		}
	}
	return 0, false
}

// scalarFn reads a string, number, bool or null: ok is false where CEL
// would fail, and for an object or a list, whose equality CEL judges.
type scalarFn func(ev *event.Event, s Steps) (event.Value, bool)

// scalarOf is a literal, or a field of the event or of a step.
func scalarOf(e ast.Expr) scalarFn {
	if e.Kind() == ast.LiteralKind {
		var v event.Value
		switch x := e.AsLiteral().(type) {
		case types.String:
			v = event.StringValue(string(x))
		case types.Double:
			v = event.NumberValue(float64(x))
		case types.Int:
			if x < -maxExact || x > maxExact {
				return nil
			}
			v = event.NumberValue(float64(x))
		case types.Bool:
			v = event.BoolValue(bool(x))
		case types.Null:
		default:
			return nil
		}
		return func(*event.Event, Steps) (event.Value, bool) { return v, true }
	}
	ref, ok := stepRefOf(e)
	if !ok || len(ref.path) == 0 {
		return nil
	}
	return func(ev *event.Event, s Steps) (event.Value, bool) {
		x := ref.event(ev, s)
		if x == nil {
			return event.Value{}, false
		}
		v, t := lookupPath(x, ref.path)
		if t != True || v.Kind() == event.Object || v.Kind() == event.Array {
			return event.Value{}, false
		}
		return *v, true
	}
}

// sameScalar is CEL's heterogeneous equality of two scalars: values of
// different kinds are unequal, numbers compare by value.
func sameScalar(a, b event.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case event.String:
		return a.Str() == b.Str()
	case event.Number:
		return a.Num() == b.Num()
	case event.Bool:
		return a.Bool() == b.Bool()
	}
	return true // null
}
