package jsonx

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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

// rawCases are event lines as sources deliver them: spaced, escaped,
// HTML-unsafe, with line and paragraph separators, and with bytes that
// are not UTF-8.
var rawCases = []string{
	`{"a":1}`,
	`{ "id": "e|1", "ts": 1740832245, "user": "bob|eve=x\\y\nz", "note": "<b>&amp;</b> \u2028 ☃" }`,
	"{\"s\":\"\u2028\u2029\",\"t\":[true,false,null,-1.5e+3, 0]}",
	`{"esc":"\u003c\/\"\\"}`,
	"{\"bad\":\"\xff\xfe\",\"half\":\"\xe2\x82\",\"ok\":\"é\"}",
	"{\"\xff\":{\"nested\":[\"\xc0\xaf\"]}}",
}

// For valid UTF-8, AppendRaw is encoding/json's json.RawMessage form.
func TestAppendRawMatchesEncodingJSON(t *testing.T) {
	for _, raw := range rawCases {
		if !utf8.ValidString(raw) {
			continue
		}
		want, err := json.Marshal(json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendRaw(nil, []byte(raw))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s, %v\nwant %s", raw, got, err, want)
		}
	}
}

// Bytes that are not UTF-8 become U+FFFD, as a JSON decoder reads them,
// and the document stays valid UTF-8 JSON (RFC 8259 §8.1), where
// encoding/json copies them through.
func TestAppendRawMakesValidUTF8(t *testing.T) {
	for _, raw := range rawCases {
		got, err := AppendRaw(nil, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(got) || !json.Valid(got) {
			t.Fatalf("%q: not valid UTF-8 JSON: %q", raw, got)
		}
		var a, b any
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q reads back as %v, want %v", raw, b, a)
		}
	}
	// Event lines are valid JSON (they were decoded); text that needs
	// rewriting is checked all the same, as json.Compact did.
	if _, err := AppendRaw(nil, []byte(`{"a": `)); err == nil {
		t.Error("invalid JSON accepted")
	}
}

func TestAppendNames(t *testing.T) {
	upper := func(s string) string {
		if s == "" {
			return "EMPTY"
		}
		return strings.ToUpper(s)
	}
	got, err := AppendRawNames(nil, []byte(`{"a": {"": [ {"b\u0063": "v"} ]}, "x": "k:v"}`), upper)
	if err != nil || string(got) != `{"A":{"EMPTY":[{"BC":"v"}]},"X":"k:v"}` {
		t.Errorf("raw: %s, %v", got, err)
	}
	got, err = AppendAnyNames(nil, map[string]any{"a": []any{map[string]any{"": 1}}, "b": struct{ In map[string]int }{map[string]int{"z": 1}}}, upper)
	if err != nil || string(got) != `{"A":[{"EMPTY":1}],"B":{"IN":{"Z":1}}}` {
		t.Errorf("any: %s, %v", got, err)
	}
}

func TestAppendAnyRejectsBadNumbers(t *testing.T) {
	for _, n := range []json.Number{"1x", "\xff", "01", "1.", "-", "1e", "{}"} {
		if got, err := AppendAny(nil, n); err == nil {
			t.Errorf("%q written as %s", n, got)
		}
		if _, err := json.Marshal(n); err == nil {
			t.Errorf("%q: encoding/json accepts it", n)
		}
	}
	for _, n := range []json.Number{"0", "-0.5", "12e+3", "1E-2"} {
		if got, err := AppendAny(nil, n); err != nil || string(got) != string(n) {
			t.Errorf("%q: %s, %v", n, got, err)
		}
	}
}

// FuzzAppendRaw: whatever valid JSON comes in, valid UTF-8 JSON that reads
// back the same comes out, byte for byte encoding/json's when the input is
// UTF-8.
func FuzzAppendRaw(f *testing.F) {
	for _, raw := range rawCases {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		got, err := AppendRaw(nil, raw)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(got) || !json.Valid(got) {
			t.Fatalf("%q gave %q", raw, got)
		}
		if utf8.Valid(raw) {
			want, _ := json.Marshal(json.RawMessage(raw))
			if !bytes.Equal(got, want) {
				t.Fatalf("%q: got %s, want %s", raw, got, want)
			}
		}
		a, b := decodeNumbers(raw), decodeNumbers(got)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%q reads back as %v, want %v", raw, b, a)
		}
	})
}

// decodeNumbers reads JSON keeping numbers as text, so that numbers beyond
// float64 compare too.
func decodeNumbers(b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return err.Error()
	}
	return v
}
