package rules

import (
	"strings"
	"testing"
)

// TestLintWarnings lints the rules of testdata/lint (which all load) and
// compares every warning, with positions and carets, with
// testdata/lint.golden.
func TestLintWarnings(t *testing.T) {
	c := newTestCompiler(t)
	set := c.Load("testdata/lint")
	for _, err := range set.Errors {
		t.Errorf("testdata/lint must load cleanly: %v", err)
	}
	var b strings.Builder
	for _, err := range c.Lint(set) {
		b.WriteString(err.Error())
		b.WriteString("\n")
	}
	golden(t, "testdata/lint.golden", b.String())
}
