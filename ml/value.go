package ml

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Kind tells what a Value holds.
type Kind uint8

// Value kinds.
const (
	KindMissing Kind = iota
	KindNumber
	KindString
	KindBool
)

func (k Kind) String() string {
	switch k {
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindBool:
		return "bool"
	}
	return "missing"
}

// Value is a typed scalar: missing, a number, a string or a boolean. It is a
// small value type so that setting inputs and reading results never allocates.
type Value struct {
	kind Kind
	num  float64
	str  string
}

// Missing returns the missing value.
func Missing() Value { return Value{} }

// Num returns a number value. NaN is treated as missing, as PMML has no NaN.
func Num(f float64) Value {
	if math.IsNaN(f) {
		return Value{}
	}
	return Value{kind: KindNumber, num: f}
}

// Str returns a string value.
func Str(s string) Value { return Value{kind: KindString, str: s} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, num: 1}
	}
	return Value{kind: KindBool}
}

// ValueOf converts a Go value as found in decoded JSON or a map literal:
// nil is missing; numbers of any Go type, json.Number, strings and booleans
// keep their kind. Anything else is rendered with its text as a string.
func ValueOf(x any) Value {
	switch v := x.(type) {
	case nil:
		return Value{}
	case Value:
		return v
	case float64:
		return Num(v)
	case float32:
		return Num(float64(v))
	case int:
		return Num(float64(v))
	case int8:
		return Num(float64(v))
	case int16:
		return Num(float64(v))
	case int32:
		return Num(float64(v))
	case int64:
		return Num(float64(v))
	case uint:
		return Num(float64(v))
	case uint8:
		return Num(float64(v))
	case uint16:
		return Num(float64(v))
	case uint32:
		return Num(float64(v))
	case uint64:
		return Num(float64(v))
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return Str(string(v))
		}
		return Num(f)
	case string:
		return Str(v)
	case bool:
		return Bool(v)
	case interface{ String() string }:
		return Str(v.String())
	}
	return Value{}
}

// Kind returns the kind of v.
func (v Value) Kind() Kind { return v.kind }

// IsMissing reports whether v is missing.
func (v Value) IsMissing() bool { return v.kind == KindMissing }

// Float returns v as a number: numbers as they are, booleans as 0 or 1,
// strings parsed. ok is false for missing values and unparsable strings.
func (v Value) Float() (f float64, ok bool) {
	switch v.kind {
	case KindNumber, KindBool:
		return v.num, true
	case KindString:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.str), 64)
		if err != nil || math.IsNaN(f) {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

// Text returns v as text; ok is false for a missing value.
func (v Value) Text() (s string, ok bool) {
	switch v.kind {
	case KindString:
		return v.str, true
	case KindNumber:
		return formatNum(v.num), true
	case KindBool:
		if v.num != 0 {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// String renders v for people; missing is "<missing>".
func (v Value) String() string {
	if s, ok := v.Text(); ok {
		return s
	}
	return "<missing>"
}

// Any returns v as a plain Go value for JSON encoding: nil, float64, string or bool.
func (v Value) Any() any {
	switch v.kind {
	case KindNumber:
		if math.IsInf(v.num, 0) {
			return formatNum(v.num)
		}
		return v.num
	case KindString:
		return v.str
	case KindBool:
		return v.num != 0
	}
	return nil
}

func (v Value) truth() bool { return v.num != 0 }

// formatNum prints integers without a fraction so that a numeric input can
// match a categorical value such as "8" or "1".
func formatNum(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
