package correlate

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// Keys are JSON so that they decode back into the alert's key; values with
// control characters or invalid UTF-8 must survive the trip (they once came
// out as Go-quoted strings that JSON could not read, and the key vanished).
func TestEncodeKeyRoundTrips(t *testing.T) {
	tests := []struct {
		name string
		vals []any
		want []any
	}{
		{"plain", []any{"u-1", 3.0}, []any{"u-1", 3.0}},
		{"control characters", []any{"a\x01b\tc\nd"}, []any{"a\x01b\tc\nd"}},
		{"invalid UTF-8", []any{"x\xffy"}, []any{"x\uFFFDy"}},
		{"html", []any{"<a&b>"}, []any{"<a&b>"}},
		{"null and bool", []any{nil, true}, []any{nil, true}},
		{"large number", []any{1e21}, []any{1e21}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeKey(nil, tt.vals)
			if !utf8.Valid(b) {
				t.Fatalf("encodeKey(%q) = %q: not valid UTF-8", tt.vals, b)
			}
			var got []any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("encodeKey(%q) = %q: %v", tt.vals, b, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("decoded %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("part %d: decoded %#v, want %#v", i, got[i], tt.want[i])
				}
			}
			k := decodeKey(make([]string, len(tt.vals)), string(b))
			if len(k) != len(tt.vals) {
				t.Errorf("decodeKey lost the key: %v", k)
			}
		})
	}
}
