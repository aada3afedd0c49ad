package sigma

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/mapping"
)

// sharedSigma holds SigmaHQ's rule trees; they are read in place and never
// copied into the repository.
const sharedSigma = "../../../shared/testdata/sigma"

func requireShared(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat(sharedSigma); err != nil {
		if os.Getenv("CEP_REQUIRE_SHARED") == "1" {
			tb.Fatalf("SigmaHQ rules not found at %s (CEP_REQUIRE_SHARED=1): %v", sharedSigma, err)
		}
		tb.Skipf("SigmaHQ rules not found at %s; set CEP_REQUIRE_SHARED=1 to make this a failure", sharedSigma)
	}
	return sharedSigma
}

// TestCorpus imports SigmaHQ's rules/ with the Windows mapping: at least
// 97% import, every refusal has a reason, and every imported rule loads.
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole corpus takes seconds")
	}
	root := requireShared(t)
	m, err := mapping.Load("windows-raw")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	rep := Import([]string{filepath.Join(root, "rules")}, Options{Mapping: m, Output: out})
	total := len(rep.Imported) + len(rep.Refused)
	if total < 3000 || len(rep.Errors) > 0 {
		t.Fatalf("%d rules, errors %v", total, rep.Errors)
	}
	if len(rep.Imported)*100 < total*97 {
		t.Errorf("imported %d of %d (want at least 97%%): %v", len(rep.Imported), total, rep.ByReason())
	}
	for _, r := range rep.Refused {
		if r.Reason == "" {
			t.Errorf("%s refused without a reason", r.Source)
		}
	}
	if raceSample > 1 {
		// Under the race detector, load a sample of the output.
		sampled := t.TempDir()
		for i, im := range rep.Imported {
			if i%raceSample == 0 {
				p := filepath.Join(sampled, im.Out)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, im.Text, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		out = sampled
		rep.Imported = rep.Imported[:(len(rep.Imported)+raceSample-1)/raceSample]
	}
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set := c.Load(out)
	for i, e := range set.Errors {
		if i < 10 {
			t.Error(e)
		}
	}
	if len(set.Rules) != len(rep.Imported) {
		t.Errorf("%d rules loaded of %d imported", len(set.Rules), len(rep.Imported))
	}
}

// BenchmarkImportCorpus converts SigmaHQ's rules/ (about 3,100 files).
func BenchmarkImportCorpus(b *testing.B) {
	root := requireShared(b)
	m, err := mapping.Load("windows-raw")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rep := Import([]string{filepath.Join(root, "rules")}, Options{Mapping: m})
		b.ReportMetric(float64(len(rep.Imported)), "rules")
	}
}

// BenchmarkLoadCorpus compiles the imported rules, as cep run does at start.
func BenchmarkLoadCorpus(b *testing.B) {
	root := requireShared(b)
	m, err := mapping.Load("windows-raw")
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	rep := Import([]string{filepath.Join(root, "rules")}, Options{Mapping: m, Output: out})
	b.ResetTimer()
	for b.Loop() {
		c, err := rules.NewCompiler(rules.Options{})
		if err != nil {
			b.Fatal(err)
		}
		set := c.Load(out)
		if len(set.Rules) != len(rep.Imported) {
			b.Fatalf("%d of %d loaded", len(set.Rules), len(rep.Imported))
		}
		b.ReportMetric(float64(len(set.Rules)), "rules")
	}
}
