package event

import (
	"reflect"
	"testing"
)

// decodeAfter decodes line with a decoder of paths and limits that has
// decoded primers first, and with a fresh one, and fails unless both say
// the same: a decoder's remembered shapes change how fast it reads, never
// what.
func decodeAfter(t *testing.T, primers [][]byte, line []byte, paths [][]string, lim Limits) {
	t.Helper()
	proj := NewProjection(paths)
	warm := Decoder{Stream: "f", Limits: lim, Project: proj}
	for _, p := range primers {
		warm.Decode(p)
	}
	cold := Decoder{Stream: "f", Limits: lim, Project: proj}
	we, werr := warm.Decode(line)
	ce, cerr := cold.Decode(line)
	if (werr == nil) != (cerr == nil) || werr != nil && werr.Error() != cerr.Error() {
		t.Fatalf("after %q\nline %q\nprojection %q: warm decoder: %v; fresh: %v", primers, line, paths, werr, cerr)
	}
	if werr != nil {
		return
	}
	if we.ID != ce.ID || we.Time != ce.Time {
		t.Fatalf("after %q\nline %q: warm id, time %q %d; fresh %q %d", primers, line, we.ID, we.Time, ce.ID, ce.Time)
	}
	if got, want := ObjectValue(we.Fields).Interface(), ObjectValue(ce.Fields).Interface(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after %q\nline %q: warm decoder %#v; fresh %#v", primers, line, got, want)
	}
	for i := range we.Fields {
		if we.Fields[i].Key != ce.Fields[i].Key {
			t.Fatalf("after %q\nline %q: member %d warm %q, fresh %q", primers, line, i, we.Fields[i].Key, ce.Fields[i].Key)
		}
	}
}

// checkShaped decodes line, and prefixes of it, after decoding it and its
// prefixes: names remembered from a line meet the same names cut short,
// without their colon, or past a limit.
func checkShaped(t *testing.T, line []byte, paths [][]string) {
	t.Helper()
	cuts := []int{len(line)}
	for _, n := range []int{1, 2, 3, 5, 8, 13} {
		if c := len(line) * n / 16; c > 0 && c < len(line) {
			cuts = append(cuts, c)
		}
	}
	for _, lim := range []Limits{{}, {MaxValues: 4, MaxBytes: 120 + len(line), MaxDepth: 3}} {
		for _, a := range cuts {
			for _, b := range cuts {
				decodeAfter(t, [][]byte{line[:a]}, line[:b], paths, lim)
			}
		}
	}
}

func TestShapes(t *testing.T) {
	paths := [][]string{{"type"}, {"user"}, {"geo", "country"}}
	tests := []struct {
		name    string
		primers []string
		line    string
		lim     Limits
	}{
		{"same shape", []string{`{"ts":1,"type":"a","user":"u","x":2}`}, `{"ts":2,"type":"b","user":"v","x":3}`, Limits{}},
		{"other order", []string{`{"ts":1,"type":"a","user":"u"}`}, `{"user":"v","ts":2,"type":"b"}`, Limits{}},
		{"longer name", []string{`{"ts":1,"type":"a"}`}, `{"ts":2,"types":"b","type":"c"}`, Limits{}},
		{"shorter name", []string{`{"ts":1,"types":"a"}`}, `{"ts":2,"type":"b"}`, Limits{}},
		{"escaped name", []string{`{"ts":1,"type":"a"}`}, `{"ts":2,"t\u0079pe":"b"}`, Limits{}},
		{"escaped name remembered", []string{`{"ts":1,"t\u0079pe":"a"}`}, `{"ts":2,"type":"b"}`, Limits{}},
		{"name with a quote", []string{`{"ts":1,"type":"a"}`}, `{"ts":2,"type\"":"b"}`, Limits{}},
		{"no colon", []string{`{"ts":1,"type":"a"}`}, `{"ts":2,"type" "b"}`, Limits{}},
		{"space before colon", []string{`{"ts":1,"type":"a"}`}, `{ "ts" : 2 , "type"  :  "b" }`, Limits{}},
		{"space remembered", []string{`{ "ts" : 1 , "type" : "a" }`}, `{"ts":2,"type":"b"}`, Limits{}},
		{"cut after name", []string{`{"ts":1,"type":"a"}`}, `{"ts":2,"type"`, Limits{}},
		{"cut after colon", []string{`{"ts":1,"type":"a"}`}, `{"ts":2,"type":`, Limits{}},
		{"too many values at a known member", []string{`{"ts":1,"type":"a","user":"u"}`}, `{"ts":2,"type":"b","user":"v"}`, Limits{MaxValues: 2}},
		{"cut inside name", []string{`{"ts":1,"type":"a"}`}, `{"ts":2,"typ`, Limits{}},
		{"too many values", []string{`{"ts":1,"a":1,"type":"a"}`}, `{"ts":1,"a":[1,2],"type":"a"}`, Limits{MaxValues: 4}},
		{"nested", []string{`{"ts":1,"geo":{"country":"FR","city":"P"}}`}, `{"ts":2,"geo":{"city":"L","country":"GB"}}`, Limits{}},
		{"non-ASCII name", []string{`{"ts":1,"tÿpe":"a","type":"b"}`}, `{"ts":2,"tÿpe":"c","type":"d"}`, Limits{}},
		{"invalid UTF-8 name", []string{`{"ts":1,"t` + "\xff" + `pe":"a"}`}, `{"ts":2,"t` + "\xff" + `pe":"c","type":"d"}`, Limits{}},
		{"many members", []string{manyMembers(100, "a")}, manyMembers(100, "b"), Limits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var primers [][]byte
			for _, p := range tt.primers {
				primers = append(primers, []byte(p))
			}
			decodeAfter(t, primers, []byte(tt.line), paths, tt.lim)
		})
	}
}

// TestShapeScreened checks a decoder that alternates between two
// projections, as a screened one does, keeps a shape for each.
func TestShapeScreened(t *testing.T) {
	d := Decoder{Stream: "f"}
	d.SetScreen(&Screen{Project: NewProjection([][]string{{"type"}}), Pass: func(ev *Event) bool { v, _ := ev.Get("type"); return v.Str() == "b" }})
	d.SetProject(NewProjection([][]string{{"type"}, {"user"}}))
	for i, line := range []string{`{"ts":1,"type":"a","user":"u"}`, `{"ts":2,"type":"b","user":"v"}`, `{"ts":3,"type":"b","user":"w"}`} {
		ev, err := d.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := ev.Get("user"); i > 0 && v.Str() != line[len(line)-3:len(line)-2] {
			t.Errorf("line %d: user %q", i+1, v.Str())
		}
	}
	if len(d.s.shapes[0].members) == 0 || len(d.s.shapes[1].members) == 0 || d.s.shapes[0].node == d.s.shapes[1].node {
		t.Errorf("the screen's and the projection's shapes are not both kept: %+v", d.s.shapes)
	}
}

func manyMembers(n int, v string) string {
	s := `{"ts":1`
	for i := range n {
		s += `,"m` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":"` + v + `"`
	}
	return s + `,"type":"t"}`
}

// TestShapeMemberAt compares a remembered name with bytes.Equal's answer
// for every length of name the word comparison treats apart, at every
// place of a line, the last bytes included.
func TestShapeMemberAt(t *testing.T) {
	for _, name := range []string{"a", "ab", "abcd", "abcde", "abcdef", "abcdefghijkl", "abcdefghijklm", "abcdefghijklmnopqrstu"} {
		var sh shape
		kid := &projNode{}
		sh.learn(0, name, true, kid)
		m := &sh.members[0]
		if !m.ok || m.kid != kid {
			t.Fatalf("name %q: learnt ok %v and child %p, want true and %p", name, m.ok, m.kid, kid)
		}
		pat := string(m.pat)
		for _, line := range []string{
			pat,
			"{" + pat + "1}",
			`{"x":1,` + pat + `2}`,
			pat[:len(pat)-1] + ";",
			"#" + pat[1:],
			pat[:len(pat)/2] + "?" + pat[len(pat)/2+1:] + "   ",
			pat[:len(pat)-1],
		} {
			for pos := 0; pos <= len(line); pos++ {
				want := pos+len(pat) <= len(line) && line[pos:pos+len(pat)] == pat
				if got := m.at([]byte(line), pos); got != want {
					t.Errorf("name %q, line %q, at %d: %v, want %v", name, line, pos, got, want)
				}
			}
		}
	}
}
