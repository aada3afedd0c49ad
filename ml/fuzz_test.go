package ml

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary documents to the parser and scores whatever
// compiles: loading may fail, but neither loading nor scoring may panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.pmml"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(gbmPMML(2, 2, 2))
	f.Fuzz(func(t *testing.T, doc string) {
		m, err := Parse(strings.NewReader(doc), "fuzz.pmml")
		if err != nil {
			return
		}
		s := m.NewScorer()
		if _, err := s.Score(); err != nil {
			return
		}
		for i := range m.Inputs() {
			s.Set(i, Num(float64(i)-0.5))
		}
		if r, err := s.Score(); err == nil {
			r.Reasons()
			r.Map()
		}
	})
}
