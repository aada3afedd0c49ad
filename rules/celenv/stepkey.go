package celenv

import (
	"encoding/binary"
	"math"

	"github.com/google/cel-go/common/ast"

	"github.com/cep-project/cep/event"
)

// StepKey is what a sequence condition compares for equality between the
// event and earlier steps' events: the conjuncts of its top-level && of
// the form event.a == step.b (either way round). Where the event's key
// and a partial match's differ, one of those conjuncts is false, and so
// is the condition, with no error: CEL's && is false when any side is.
// The matcher uses it to offer an event only the partial matches of its
// key (nfa.Step.Key).
//
// Keys are built so that two values CEL's == finds equal give the same
// bytes (sameScalar: kinds differ, values differ): a kind byte, then a
// string's length and bytes, a number's bits (-0 as 0), a bool's byte.
// Where CEL would fail (a missing field, a step with no event or with
// several), or its == is not a comparison of scalars (lists, objects,
// NaN), there is no key, and the matcher asks the condition itself.
type StepKey struct {
	pairs []keyPair
}

// keyPair is one equality: a field of the event, and one of a step.
// orFalse is set when a missing field makes it false (missing_fields:
// false_if_missing).
type keyPair struct {
	event   []string
	step    stepRef
	orFalse bool
}

// StepKeyOf returns the key of condition e, or nil when no conjunct of
// its top-level && compares a field of the event with a field of an
// earlier step.
func StepKeyOf(e ast.Expr) *StepKey {
	var k StepKey
	var walk func(x ast.Expr, orFalse bool)
	walk = func(x ast.Expr, orFalse bool) {
		if x.Kind() != ast.CallKind {
			return
		}
		call := x.AsCall()
		switch call.FunctionName() {
		case "_&&_":
			for _, a := range call.Args() {
				walk(a, orFalse)
			}
		case FnFalseIfMissing:
			// A missing field's error made false.
			walk(call.Args()[0], true)
		case "_==_":
			args := call.Args()
			a, okA := stepRefOf(args[0])
			b, okB := stepRefOf(args[1])
			if !okA || !okB || len(a.path) == 0 || len(b.path) == 0 {
				return
			}
			if a.step != "" {
				a, b = b, a
			}
			if a.step == "" && b.step != "" {
				k.pairs = append(k.pairs, keyPair{event: a.path, step: b, orFalse: orFalse})
			}
		}
	}
	walk(e, false)
	if len(k.pairs) == 0 {
		return nil
	}
	return &k
}

// KeyFound is what StepKey.Event found of the event's key.
type KeyFound uint8

// What an event has of its key.
const (
	// KeyNone: no key; the condition is asked of every partial match.
	KeyNone KeyFound = iota
	// KeyAll: the whole key.
	KeyAll
	// KeyFirst: the first equality's part, not a later one's (a field
	// missing, under missing_fields: error): the condition can hold, or
	// fail, only for the partial matches whose first part is the same.
	KeyFirst
	// KeyFalse: the condition is false whatever the step's fields: a
	// field missing from the event, where that makes its equality false
	// (missing_fields: false_if_missing).
	KeyFalse
)

// Event appends the event's key to dst (only its first part for
// KeyFirst), and says what it found.
func (k *StepKey) Event(dst []byte, ev *event.Event) ([]byte, KeyFound) {
	found, start, first := KeyAll, len(dst), 0
	for i, p := range k.pairs {
		v, t := lookupPath(ev, p.event)
		if t == Missing && p.orFalse {
			return dst[:start], KeyFalse
		}
		if found != KeyAll {
			continue
		}
		var ok bool
		if dst, ok = appendScalarKey(dst, v, t); !ok {
			found = KeyNone
			if i > 0 {
				found, dst = KeyFirst, dst[:start+first]
			}
		}
		if i == 0 {
			first = len(dst) - start
		}
	}
	return dst, found
}

// Step appends the partial match's key, read from the events s gives, to
// dst, and returns the length of its first part; false when it has none.
func (k *StepKey) Step(dst []byte, s Steps) ([]byte, int, bool) {
	start, first := len(dst), 0
	for i, p := range k.pairs {
		x := s.StepEvent(p.step.step)
		if x == nil {
			return dst, 0, false
		}
		v, t := lookupPath(x, p.step.path)
		var ok bool
		if dst, ok = appendScalarKey(dst, v, t); !ok {
			return dst, 0, false
		}
		if i == 0 {
			first = len(dst) - start
		}
	}
	return dst, first, true
}

// appendScalarKey appends the key of a scalar that lookupPath found
// (t == True), and false for anything else.
func appendScalarKey(dst []byte, v *event.Value, t Tri) ([]byte, bool) {
	if t != True {
		return dst, false
	}
	switch v.Kind() {
	case event.String:
		s := v.Str()
		dst = binary.AppendUvarint(append(dst, 's'), uint64(len(s)))
		return append(dst, s...), true
	case event.Number:
		f := v.Num()
		if f != f {
			return dst, false // NaN equals nothing, itself included
		}
		if f == 0 {
			f = 0 // -0 == 0
		}
		return binary.BigEndian.AppendUint64(append(dst, 'n'), math.Float64bits(f)), true
	case event.Bool:
		b := byte(0)
		if v.Bool() {
			b = 1
		}
		return append(dst, 'b', b), true
	case event.Null:
		return append(dst, 'z'), true
	}
	return dst, false
}
