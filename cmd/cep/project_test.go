package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/cep-project/cep/rules"
)

// A stream's projection follows its rules across a reload: sources share
// it, and decode what the new rules read from the next lines on.
func TestProjectionsFollowReload(t *testing.T) {
	old := loadRulesText(t, "id: a\ntitle: a\nstreams: [auth]\nmatch: event.user == \"x\"\n")
	projs := newProjections(slog.New(slog.DiscardHandler))
	sp := projs.of("auth", old)
	if got := strings.Join(sp.Load().Paths(), ","); got != "user" {
		t.Fatalf("projection %s", got)
	}
	if projs.of("auth", old) != sp {
		t.Fatal("two sources of one stream do not share its projection")
	}
	projs.update(loadRulesText(t, "id: b\ntitle: b\nstreams: [auth]\nmatch: event.geo.country == \"NG\" && event.ip != \"\"\n"))
	if got := strings.Join(sp.Load().Paths(), ","); got != "geo.country,ip" {
		t.Errorf("after a reload: %s", got)
	}
	projs.update(loadRulesText(t, "id: c\ntitle: c\nstreams: [auth]\nmatch: keywords(event, [\"x\"])\n"))
	if sp.Load() != nil {
		t.Errorf("a rule reading whole events leaves the stream projected to %v", sp.Load().Paths())
	}
}

func loadRulesText(t *testing.T, srcs ...string) []*rules.Rule {
	t.Helper()
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*rules.Rule
	for _, src := range srcs {
		r, errs := c.CompileFile("r.yaml", []byte(src))
		if r == nil {
			t.Fatal(errs)
		}
		out = append(out, r)
	}
	return out
}
