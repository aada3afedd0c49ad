package rulefmt

import "testing"

// TestExprPosAt maps offsets into a match expression to file positions,
// for each way YAML writes a scalar; a one-line expression keeps no
// segments of its own.
func TestExprPosAt(t *testing.T) {
	tests := []struct {
		name, match string
		offs        []int
		want        [][2]int // line, col of each offset
		segs        bool
	}{
		{"plain", "match: event.a == 1 && event.b\n", []int{0, 10}, [][2]int{{3, 8}, {3, 18}}, false},
		{"double quoted", "match: \"event.a == 1\"\n", []int{0, 5}, [][2]int{{3, 9}, {3, 14}}, false},
		{"single quoted", "match: 'event.a == 1'\n", []int{0, 5}, [][2]int{{3, 9}, {3, 14}}, false},
		{"plain on two lines", "match: event.a == 1 &&\n  event.b == 2\n", []int{0, 16, 18}, [][2]int{{3, 8}, {4, 3}, {4, 5}}, true},
		{"literal block", "match: |\n  event.a == 1 &&\n  event.b == 2\n", []int{0, 16}, [][2]int{{4, 3}, {5, 3}}, true},
	}
	for _, tt := range tests {
		spec, errs := Parse("r.yaml", []byte("id: r\ntitle: t\n"+tt.match))
		if len(errs) > 0 || spec == nil || spec.Match == nil {
			t.Fatalf("%s: %v", tt.name, errs)
		}
		e := spec.Match
		if (e.segs != nil) != tt.segs {
			t.Errorf("%s: segments %v", tt.name, e.segs)
		}
		for i, off := range tt.offs {
			if p := e.PosAt(off); p.Line != tt.want[i][0] || p.Col != tt.want[i][1] {
				t.Errorf("%s: offset %d at %d:%d, want %d:%d", tt.name, off, p.Line, p.Col, tt.want[i][0], tt.want[i][1])
			}
		}
	}
}
