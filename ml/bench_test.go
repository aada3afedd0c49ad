package ml

import (
	"fmt"
	"strings"
	"testing"
)

// lcg is a tiny deterministic generator so that generated models are the
// same on every run.
type lcg uint64

func (r *lcg) next() float64 {
	*r = *r*6364136223846793005 + 1442695040888963407
	return float64(uint64(*r)>>11) / (1 << 53)
}

// gbmPMML writes a gradient-boosting model as jpmml-xgboost exports it: a
// sum of regression trees whose leaves hold the tree's contribution, and a
// logistic link in a model chain.
func gbmPMML(trees, depth, features int) string {
	r := lcg(42)
	var b strings.Builder
	b.WriteString(`<PMML version="4.4" xmlns="http://www.dmg.org/PMML-4_4"><DataDictionary>`)
	b.WriteString(`<DataField name="label" optype="categorical" dataType="integer"><Value value="0"/><Value value="1"/></DataField>`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<DataField name="f%d" optype="continuous" dataType="double"/>`, f)
	}
	b.WriteString(`</DataDictionary><MiningModel functionName="classification"><MiningSchema><MiningField name="label" usageType="target"/>`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<MiningField name="f%d"/>`, f)
	}
	b.WriteString(`</MiningSchema><Segmentation multipleModelMethod="modelChain"><Segment id="1"><True/><MiningModel functionName="regression"><MiningSchema>`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<MiningField name="f%d"/>`, f)
	}
	b.WriteString(`</MiningSchema><Output><OutputField name="margin" optype="continuous" dataType="double" feature="predictedValue"/></Output><Segmentation multipleModelMethod="sum">`)
	var node func(d int)
	node = func(d int) {
		if d == depth {
			return
		}
		f := int(r.next() * float64(features))
		t := r.next()*2 - 1
		for side := 0; side < 2; side++ {
			op := "lessThan"
			if side == 1 {
				op = "greaterOrEqual"
			}
			if d == depth-1 {
				fmt.Fprintf(&b, `<Node score="%.6f"><SimplePredicate field="f%d" operator="%s" value="%.6f"/></Node>`, r.next()-0.5, f, op, t)
				continue
			}
			fmt.Fprintf(&b, `<Node><SimplePredicate field="f%d" operator="%s" value="%.6f"/>`, f, op, t)
			node(d + 1)
			b.WriteString(`</Node>`)
		}
	}
	for i := 0; i < trees; i++ {
		fmt.Fprintf(&b, `<Segment id="%d"><True/><TreeModel functionName="regression" missingValueStrategy="none" noTrueChildStrategy="returnLastPrediction"><MiningSchema>`, i+1)
		for f := 0; f < features; f++ {
			fmt.Fprintf(&b, `<MiningField name="f%d"/>`, f)
		}
		b.WriteString(`</MiningSchema><Node score="0"><True/>`)
		node(0)
		b.WriteString(`</Node></TreeModel></Segment>`)
	}
	b.WriteString(`</Segmentation></MiningModel></Segment><Segment id="2"><True/><RegressionModel functionName="classification" normalizationMethod="logit"><MiningSchema><MiningField name="label" usageType="target"/><MiningField name="margin"/></MiningSchema>`)
	b.WriteString(`<RegressionTable intercept="0" targetCategory="1"><NumericPredictor name="margin" coefficient="1"/></RegressionTable><RegressionTable intercept="0" targetCategory="0"/></RegressionModel></Segment></Segmentation></MiningModel></PMML>`)
	return b.String()
}

// compactPMML writes a regression forest in the compact form of
// jpmml-lightgbm: each inner node keeps the score of its "else" side and a
// single child, and noTrueChildStrategy returns the last prediction.
func compactPMML(trees, depth, features int) string {
	r := lcg(11)
	var b strings.Builder
	b.WriteString(`<PMML version="4.4" xmlns="http://www.dmg.org/PMML-4_4"><DataDictionary><DataField name="y" optype="continuous" dataType="double"/>`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<DataField name="f%d" optype="continuous" dataType="float"/>`, f)
	}
	b.WriteString(`</DataDictionary><MiningModel functionName="regression"><MiningSchema><MiningField name="y" usageType="target"/>`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<MiningField name="f%d"/>`, f)
	}
	b.WriteString(`</MiningSchema><Targets><Target field="y" rescaleConstant="0.5"/></Targets><Segmentation multipleModelMethod="sum">`)
	ops := []string{"lessOrEqual", "lessThan", "greaterThan", "greaterOrEqual"}
	var node func(d int)
	node = func(d int) {
		if d == depth {
			return
		}
		fmt.Fprintf(&b, `<Node score="%.6f"><SimplePredicate field="f%d" operator="%s" value="%.6f"/>`,
			r.next()-0.5, int(r.next()*float64(features)), ops[int(r.next()*4)], r.next()*2-1)
		node(d + 1)
		b.WriteString(`</Node>`)
	}
	for i := 0; i < trees; i++ {
		fmt.Fprintf(&b, `<Segment id="%d"><True/><TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction"><MiningSchema>`, i+1)
		for f := 0; f < features; f++ {
			fmt.Fprintf(&b, `<MiningField name="f%d"/>`, f)
		}
		fmt.Fprintf(&b, `</MiningSchema><Node score="%.6f"><True/>`, r.next()-0.5)
		node(0)
		b.WriteString(`</Node></TreeModel></Segment>`)
	}
	b.WriteString(`</Segmentation></MiningModel></PMML>`)
	return b.String()
}

func logisticPMML(features int) string {
	r := lcg(7)
	var b strings.Builder
	b.WriteString(`<PMML version="4.4" xmlns="http://www.dmg.org/PMML-4_4"><DataDictionary>`)
	b.WriteString(`<DataField name="fraud" optype="categorical" dataType="string"><Value value="no"/><Value value="yes"/></DataField>`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<DataField name="f%d" optype="continuous" dataType="double"/>`, f)
	}
	b.WriteString(`</DataDictionary><RegressionModel functionName="classification" normalizationMethod="logit"><MiningSchema><MiningField name="fraud" usageType="target"/>`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<MiningField name="f%d"/>`, f)
	}
	b.WriteString(`</MiningSchema><RegressionTable intercept="-1.5" targetCategory="yes">`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<NumericPredictor name="f%d" coefficient="%.6f"/>`, f, r.next()*2-1)
	}
	b.WriteString(`</RegressionTable><RegressionTable intercept="0" targetCategory="no"/></RegressionModel></PMML>`)
	return b.String()
}

func mustParse(tb testing.TB, doc, name string) *Model {
	tb.Helper()
	m, err := Parse(strings.NewReader(doc), name)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func benchScore(b *testing.B, m *Model) {
	s := m.NewScorer()
	r := lcg(1)
	const rows = 64
	inputs := make([][]float64, rows)
	for i := range inputs {
		inputs[i] = make([]float64, len(m.Inputs()))
		for j := range inputs[i] {
			inputs[i][j] = r.next()*2 - 1
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		row := inputs[i%rows]
		for j, x := range row {
			s.SetNum(j, x)
		}
		res, err := s.Score()
		if err != nil {
			b.Fatal(err)
		}
		if res.Score() < 0 {
			b.Fatal("negative probability")
		}
	}
}

// BenchmarkGBM100x6 scores a 100-tree gradient-boosting model of depth 6
// over 20 features.
func BenchmarkGBM100x6(b *testing.B) {
	benchScore(b, mustParse(b, gbmPMML(100, 6, 20), "gbm.pmml"))
}

// BenchmarkLogistic scores a logistic regression over 20 features.
func BenchmarkLogistic(b *testing.B) {
	benchScore(b, mustParse(b, logisticPMML(20), "logistic.pmml"))
}

func TestGeneratedModelsAllocateNothing(t *testing.T) {
	for _, m := range []*Model{mustParse(t, gbmPMML(100, 6, 20), "gbm.pmml"), mustParse(t, logisticPMML(20), "logistic.pmml")} {
		s := m.NewScorer()
		for j := range m.Inputs() {
			s.SetNum(j, 0.25)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := s.Score(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per score, want 0", m.Name, allocs)
		}
	}
}
