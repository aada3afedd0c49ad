package yamlx

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
