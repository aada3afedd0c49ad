package rules

import (
	"strings"
	"testing"
)

type fakeCase struct{ fields map[string]bool }

func (fakeCase) MappingName() string               { return "fake" }
func (fakeCase) Streams() []string                 { return []string{"windows"} }
func (f fakeCase) IsCaseInsensitive(p string) bool { return f.fields[strings.ToLower(p)] }

func TestLintCase(t *testing.T) {
	c := newTestCompiler(t)
	src := `id: t.case
title: t
streams: [windows]
match: |
  event.Channel == "Security" && event.Image.endsWith("x") && event.Image.iendsWith("x") &&
  event.Key.matches("(?i)run") && event.Key.matches("Run") && event.Other == "x" && event.Image in ["a"] &&
  string(event.Key).matches("x")
`
	r, errs := c.CompileFile("r.yaml", []byte(src))
	if r == nil {
		t.Fatal(errs)
	}
	set := &Set{Rules: []*Rule{r}}
	ci := fakeCase{map[string]bool{"channel": true, "image": true, "key": true}}
	var got []string
	for _, e := range LintCase(set, ci) {
		got = append(got, e.Error())
	}
	want := []string{
		"r.yaml:5:17: == compares event.Channel",
		"r.yaml:5:54: endsWith compares event.Image",
		"r.yaml:6:52: matches compares event.Key",
		"r.yaml:6:97: in compares event.Image",
		"r.yaml:7:28: matches compares event.Key",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d warnings:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	// A rule reading other streams is not the mapping's business.
	r.Streams = []string{"linux"}
	if ws := LintCase(set, ci); len(ws) != 0 {
		t.Errorf("warnings for another stream: %v", ws)
	}
}
