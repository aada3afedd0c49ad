package ml

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sharedPMML holds the reference models and JPMML's outputs for them; it is
// read in place and never copied into the repository.
const sharedPMML = "../../shared/testdata/pmml"

func requireShared(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(sharedPMML); err != nil {
		if os.Getenv("CEP_REQUIRE_SHARED") == "1" {
			t.Fatalf("reference PMML models not found at %s (CEP_REQUIRE_SHARED=1): %v", sharedPMML, err)
		}
		t.Skipf("reference PMML models not found at %s; set CEP_REQUIRE_SHARED=1 to make this a failure", sharedPMML)
	}
	return sharedPMML
}

func readCSV(t testing.TB, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func inputFileFor(model string) string {
	switch {
	case strings.Contains(model, "Audit"):
		return "Audit.csv"
	case strings.Contains(model, "Auto"):
		return "Auto.csv"
	case strings.Contains(model, "Versicolor"):
		return "Versicolor.csv"
	}
	return "Iris.csv"
}

// closeEnough compares within a relative tolerance of 1e-9, absolute for
// values near zero (where the files print rounding noise such as 0 for
// 1.8e-11).
func closeEnough(got, want float64) bool {
	const tol = 1e-9
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func TestConformance(t *testing.T) {
	dir := requireShared(t)
	models, err := filepath.Glob(filepath.Join(dir, "*.pmml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(models) == 0 {
		t.Fatalf("no models in %s", dir)
	}
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".pmml")
		t.Run(name, func(t *testing.T) {
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			in := readCSV(t, filepath.Join(dir, inputFileFor(name)))
			want := readCSV(t, filepath.Join(dir, name+".expected.csv"))
			if len(in) != len(want) {
				t.Fatalf("%d input rows, %d expected rows", len(in)-1, len(want)-1)
			}
			target, _ := m.Target()
			s := m.NewScorer()
			cols := make([]int, len(in[0]))
			for i, h := range in[0] {
				idx, ok := m.InputIndex(h)
				if !ok {
					idx = -1
				}
				cols[i] = idx
			}
			failures := 0
			for row := 1; row < len(in); row++ {
				s.Reset()
				for i, cell := range in[row] {
					if cols[i] >= 0 && cell != "" && cell != "NA" {
						s.SetStr(cols[i], cell)
					}
				}
				r, err := s.Score()
				if err != nil {
					t.Fatalf("row %d: %v", row, err)
				}
				for j, col := range want[0] {
					var got Value
					if col == target.Name {
						got = r.Predicted()
					} else {
						v, ok := r.Output(col)
						if !ok {
							t.Fatalf("model has no output %q", col)
						}
						got = v
					}
					exp := want[row][j]
					if !matches(got, exp) {
						failures++
						if failures <= 5 {
							t.Errorf("row %d %s: got %v, want %s", row, col, got, exp)
						}
					}
				}
			}
			if failures > 0 {
				t.Errorf("%d mismatches", failures)
			}
			t.Logf("%s: %d rows, %d columns compared", name, len(in)-1, len(want[0]))
		})
	}
}

func matches(got Value, exp string) bool {
	if exp == "" || exp == "NA" {
		return got.IsMissing()
	}
	if f, err := strconv.ParseFloat(exp, 64); err == nil {
		if g, ok := got.Float(); ok && got.Kind() != KindString {
			return closeEnough(g, f)
		}
	}
	s, _ := got.Text()
	if s == exp {
		return true
	}
	if f, err := strconv.ParseFloat(exp, 64); err == nil {
		if g, err := strconv.ParseFloat(s, 64); err == nil {
			return closeEnough(g, f)
		}
	}
	return false
}
