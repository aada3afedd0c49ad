package ml

import (
	"fmt"
	"path/filepath"
	"strconv"
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

// knnPMML writes a nearest-neighbour classifier over n training instances
// with the given number of numeric features.
func knnPMML(n, features, k int) string {
	r := lcg(5)
	var b strings.Builder
	b.WriteString(`<PMML version="4.4" xmlns="http://www.dmg.org/PMML-4_4"><DataDictionary>`)
	b.WriteString(`<DataField name="label" optype="categorical" dataType="string"><Value value="legit"/><Value value="fraud"/></DataField>`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<DataField name="f%d" optype="continuous" dataType="double"/>`, f)
	}
	fmt.Fprintf(&b, `</DataDictionary><NearestNeighborModel functionName="classification" numberOfNeighbors="%d"><MiningSchema><MiningField name="label" usageType="target"/>`, k)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<MiningField name="f%d"/>`, f)
	}
	b.WriteString(`</MiningSchema><TrainingInstances isTransformed="true"><InstanceFields><InstanceField field="label"/>`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<InstanceField field="f%d"/>`, f)
	}
	b.WriteString(`</InstanceFields><InlineTable>`)
	for i := 0; i < n; i++ {
		label := "legit"
		if r.next() < 0.2 {
			label = "fraud"
		}
		fmt.Fprintf(&b, `<row><label>%s</label>`, label)
		for f := 0; f < features; f++ {
			fmt.Fprintf(&b, `<f%d>%.4f</f%d>`, f, r.next()*2-1, f)
		}
		b.WriteString(`</row>`)
	}
	b.WriteString(`</InlineTable></TrainingInstances><ComparisonMeasure kind="distance"><euclidean/></ComparisonMeasure><KNNInputs>`)
	for f := 0; f < features; f++ {
		fmt.Fprintf(&b, `<KNNInput field="f%d"/>`, f)
	}
	b.WriteString(`</KNNInputs></NearestNeighborModel></PMML>`)
	return b.String()
}

// modelCase is a model of one type with rows to score.
type modelCase struct {
	name string
	load func(tb testing.TB) *Model
	rows func(tb testing.TB, m *Model) [][]Value
}

// sharedCase loads a reference model and the first rows of its input,
// numbers parsed once so that the loop measures scoring alone.
func sharedCase(name string) modelCase {
	return modelCase{
		name: name,
		load: func(tb testing.TB) *Model {
			dir := requireShared(tb)
			m, err := Load(filepath.Join(dir, name+".pmml"))
			if err != nil {
				tb.Fatal(err)
			}
			return m
		},
		rows: func(tb testing.TB, m *Model) [][]Value {
			in := readCSV(tb, filepath.Join(sharedPMML, inputFileFor(name)))
			var rows [][]Value
			for _, rec := range in[1:min(len(in), 65)] {
				row := make([]Value, len(m.Inputs()))
				for i, h := range in[0] {
					if j, ok := m.InputIndex(h); ok {
						if f, err := strconv.ParseFloat(rec[i], 64); err == nil && m.Inputs()[j].DataType != TypeString {
							row[j] = Num(f)
						} else {
							row[j] = Str(rec[i])
						}
					}
				}
				rows = append(rows, row)
			}
			return rows
		},
	}
}

func fixtureCase(name, file string, in ...map[string]any) modelCase {
	return modelCase{
		name: name,
		load: func(tb testing.TB) *Model { return loadFixture(tb, file) },
		rows: func(tb testing.TB, m *Model) [][]Value {
			var rows [][]Value
			for _, r := range in {
				row := make([]Value, len(m.Inputs()))
				for k, v := range r {
					j, ok := m.InputIndex(k)
					if !ok {
						tb.Fatalf("%s: no input %q", file, k)
					}
					row[j] = ValueOf(v)
				}
				rows = append(rows, row)
			}
			return rows
		},
	}
}

func generatedCase(name, doc string) modelCase {
	return modelCase{
		name: name,
		load: func(tb testing.TB) *Model { return mustParse(tb, doc, name+".pmml") },
		rows: func(tb testing.TB, m *Model) [][]Value {
			r := lcg(3)
			rows := make([][]Value, 64)
			for i := range rows {
				rows[i] = make([]Value, len(m.Inputs()))
				for j := range rows[i] {
					rows[i][j] = Num(r.next()*2 - 1)
				}
			}
			return rows
		},
	}
}

// modelCases has one model of every supported type (two for ensembles and
// SVMs), as README's benchmark table lists them.
func modelCases() []modelCase {
	return []modelCase{
		sharedCase("LogisticRegressionAudit"),
		sharedCase("GeneralRegressionAudit"),
		sharedCase("DecisionTreeAudit"),
		sharedCase("RandomForestAudit"),
		generatedCase("GBM100x6", gbmPMML(100, 6, 20)),
		sharedCase("NeuralNetworkAudit"),
		sharedCase("KernlabSVMAudit"),
		sharedCase("LibSVMIris"),
		sharedCase("NaiveBayesAudit"),
		sharedCase("KMeansIris"),
		generatedCase("NearestNeighbor1000x8", knnPMML(1000, 8, 5)),
		fixtureCase("RuleSet", "ruleset.pmml",
			map[string]any{"amount": 1500.0, "country": "NG", "velocity": 6.0},
			map[string]any{"amount": 100.0, "country": "FR", "velocity": 2.0}),
		fixtureCase("Scorecard", "scorecard.pmml",
			map[string]any{"age": 22.0, "amount": 500.0, "country": "US"},
			map[string]any{"age": 30.0, "amount": 50.0, "country": "FR"}),
	}
}

// BenchmarkModelTypes scores one model of each type:
// go test ./ml -bench ModelTypes -benchmem -cpu 1
func BenchmarkModelTypes(b *testing.B) {
	for _, mc := range modelCases() {
		b.Run(mc.name, func(b *testing.B) {
			m := mc.load(b)
			rows := mc.rows(b, m)
			s := m.NewScorer()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j, v := range rows[i%len(rows)] {
					s.Set(j, v)
				}
				if _, err := s.Score(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestModelTypesAllocateNothing(t *testing.T) {
	for _, mc := range modelCases() {
		t.Run(mc.name, func(t *testing.T) {
			m := mc.load(t)
			rows := mc.rows(t, m)
			s := m.NewScorer()
			i := 0
			allocs := testing.AllocsPerRun(50, func() {
				for j, v := range rows[i%len(rows)] {
					s.Set(j, v)
				}
				i++
				r, err := s.Score()
				if err != nil {
					t.Fatal(err)
				}
				_ = r.Score()
				_ = r.Outputs()
			})
			if allocs != 0 {
				t.Errorf("%v allocations per score, want 0", allocs)
			}
		})
	}
}
