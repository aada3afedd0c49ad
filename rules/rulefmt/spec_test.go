package rulefmt

import "testing"

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]string{"90s": "1m30s", "10m": "10m0s", "2d": "48h0m0s", "1w": "168h0m0s", "1d12h": "36h0m0s"} {
		d, err := ParseDuration(in)
		if err != nil || d.String() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "10", "d", "-1d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

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
