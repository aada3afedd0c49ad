package rules

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cep-project/cep/rules/reflist"
)

var update = flag.Bool("update", false, "rewrite golden files")

func newTestCompiler(tb testing.TB) *Compiler {
	tb.Helper()
	lists, err := reflist.Load("testdata/lists")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := NewCompiler(Options{Lists: lists})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestBadRules loads every fixture under testdata/bad and compares all the
// errors, with positions and carets, with testdata/bad.golden.
func TestBadRules(t *testing.T) {
	c := newTestCompiler(t)
	set := c.Load("testdata/bad")
	var b strings.Builder
	for _, err := range set.Errors {
		b.WriteString(err.Error())
		b.WriteString("\n")
	}
	golden(t, "testdata/bad.golden", b.String())
	// Only the first of the two rules sharing an id loads; nothing else
	// in bad/ is valid.
	if len(set.Rules) != 1 || set.Rules[0].ID != "t.dup" || set.Rules[0].File != filepath.Join("testdata/bad", "dup-a.yaml") {
		t.Errorf("loaded %d rules, want only t.dup from dup-a.yaml", len(set.Rules))
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestGoodRules(t *testing.T) {
	c := newTestCompiler(t)
	set := c.Load("testdata/good")
	for _, err := range set.Errors {
		t.Error(err)
	}
	want := map[string]Kind{"g.filter": KindMatch, "g.sequence": KindSequence, "g.aggregate": KindAggregate, "g.join": KindJoin}
	if len(set.Rules) != len(want) {
		t.Fatalf("loaded %d rules, want %d", len(set.Rules), len(want))
	}
	for _, r := range set.Rules {
		if want[r.ID] != r.Kind {
			t.Errorf("%s: kind %v, want %v", r.ID, r.Kind, want[r.ID])
		}
		if len(r.Version) != 12 {
			t.Errorf("%s: version %q", r.ID, r.Version)
		}
	}
}
