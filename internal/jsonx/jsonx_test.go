package jsonx

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

var baseTime = time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.UTC)

// The appenders are byte for byte encoding/json, which is what makes the
// JSON sink format the alert contract.
func TestAppendAnyMatchesEncodingJSON(t *testing.T) {
	values := []any{
		0.0, math.Copysign(0, -1), 1e20, 1e21, 1e-6, 1e-7, 123456789.125, float32(1e21), float32(3.25), int64(-5), uint64(1 << 63),
		"", "\u2028\u2029", "\x00\x1f", "<&>", "\xff", []any{}, []any(nil), map[string]any{}, map[string]any{"b": 1, "a": []string{"x"}},
		json.Number("12.5"), true, nil,
		baseTime, baseTime.Truncate(time.Second), baseTime.Truncate(time.Millisecond), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		baseTime.In(time.FixedZone("X", -3*3600)), time.Date(2024, 2, 29, 23, 59, 59, 100, time.UTC),
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendAny(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%#v: got %s, want %s", v, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\u2028", "\xff", "<x>", "\"\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
