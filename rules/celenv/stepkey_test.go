package celenv

import (
	"bytes"
	"math"
	"testing"

	"github.com/cep-project/cep/event"
)

// TestScalarKeysAreEquality holds keys to CEL's equality of scalars
// (sameScalar): two values have the same key exactly when they are equal,
// and a value nothing equals has none.
func TestScalarKeysAreEquality(t *testing.T) {
	values := []event.Value{
		event.StringValue(""), event.StringValue("a"), event.StringValue("ab"), event.StringValue("1"),
		event.NumberValue(0), event.NumberValue(math.Copysign(0, -1)), event.NumberValue(1), event.NumberValue(1 << 60),
		event.NumberValue(math.Inf(1)), event.BoolValue(true), event.BoolValue(false), {},
	}
	for _, a := range values {
		ka, okA := appendScalarKey(nil, &a, True)
		if !okA {
			t.Fatalf("%v has no key", a.Interface())
		}
		for _, b := range values {
			kb, _ := appendScalarKey(nil, &b, True)
			if got, want := bytes.Equal(ka, kb), sameScalar(a, b); got != want {
				t.Errorf("%v and %v: same key %v, equal %v", a.Interface(), b.Interface(), got, want)
			}
		}
	}
	// Keys of several fields concatenate: a string's length keeps "a",
	// "bc" apart from "ab", "c".
	a, bc, ab, c := event.StringValue("a"), event.StringValue("bc"), event.StringValue("ab"), event.StringValue("c")
	k1, _ := appendScalarKey(nil, &a, True)
	k1, _ = appendScalarKey(k1, &bc, True)
	k2, _ := appendScalarKey(nil, &ab, True)
	k2, _ = appendScalarKey(k2, &c, True)
	if bytes.Equal(k1, k2) {
		t.Error(`"a","bc" and "ab","c" have one key`)
	}
	for _, c := range []struct {
		v event.Value
		t Tri
	}{{event.NumberValue(math.NaN()), True}, {event.StringValue("a"), Missing}, {event.StringValue("a"), Failed}} {
		if _, ok := appendScalarKey(nil, &c.v, c.t); ok {
			t.Errorf("%v (%v) has a key", c.v.Interface(), c.t)
		}
	}
}
