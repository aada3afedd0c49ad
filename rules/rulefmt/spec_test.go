package rulefmt

import "testing"

func TestParseTimes(t *testing.T) {
	tests := []struct {
		in       string
		min, max int
		ok       bool
	}{
		{"1", 1, 1, true}, {"3", 3, 3, true}, {"2..4", 2, 4, true}, {"3+", 3, -1, true},
		{"0+", 0, -1, true}, {"?", 0, 1, true}, {"0", 0, 0, false}, {"4..2", 4, 2, false}, {"x", 1, 1, false},
	}
	for _, tt := range tests {
		min, max, ok := parseTimes(tt.in)
		if ok != tt.ok || (ok && (min != tt.min || max != tt.max)) {
			t.Errorf("parseTimes(%q) = %d, %d, %v", tt.in, min, max, ok)
		}
	}
}
