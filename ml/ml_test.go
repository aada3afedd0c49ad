package ml

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// loadFixture parses a file under testdata, after text substitutions that
// let one fixture cover several attribute values.
func loadFixture(tb testing.TB, file string, replace ...string) *Model {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		tb.Fatal(err)
	}
	doc := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(doc, replace[i]) {
			tb.Fatalf("%s: no %q to replace", file, replace[i])
		}
		doc = strings.ReplaceAll(doc, replace[i], replace[i+1])
	}
	m, err := Parse(strings.NewReader(doc), file)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

// checkValue compares a result value with a number, a string, a bool or nil
// (missing).
func checkValue(t *testing.T, what string, got Value, want any) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if !got.IsMissing() {
			t.Errorf("%s = %v, want missing", what, got)
		}
	case float64:
		f, ok := got.Float()
		if !ok || got.Kind() == KindString || !approx(f, w) {
			t.Errorf("%s = %v, want %v", what, got, w)
		}
	case string:
		if got.Kind() != KindString || got.String() != w {
			t.Errorf("%s = %v (%s), want %q", what, got, got.Kind(), w)
		}
	case bool:
		if got.Kind() != KindBool || got.truth() != w {
			t.Errorf("%s = %v, want %v", what, got, w)
		}
	default:
		t.Fatalf("bad want type %T", want)
	}
}

func TestScoreFixtures(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name      string
		file      string
		replace   []string
		in        map[string]any
		predicted any
		score     float64 // NaN: no prediction
		probs     map[string]float64
		reasons   []string
		outputs   map[string]any
	}{
		{
			name: "scorecard points below ranks the largest shortfall first",
			file: "scorecard.pmml",
			in:   map[string]any{"age": 22, "amount": 500, "country": "US"},
			// 10 + 5 + 0; shortfalls amount 13, age 10, country 8.
			predicted: 15.0, score: 15,
			reasons: []string{"RC_amount", "RC_age", "RC_country"},
			outputs: map[string]any{"Final": 15.0, "Reason1": "RC_amount", "Reason2": "RC_age", "Reason3": "RC_country"},
		},
		{
			name:      "scorecard points above ranks the largest excess first",
			file:      "scorecard-above.pmml",
			in:        map[string]any{"age": 22, "amount": 500, "country": "US"},
			predicted: 15.0, score: 15,
			// Excesses: country -8, age -10, amount -13.
			reasons: []string{"RC_country", "RC_age", "RC_amount"},
		},
		{
			name:      "scorecard all attributes favourable",
			file:      "scorecard.pmml",
			in:        map[string]any{"age": 30, "amount": 50, "country": "FR"},
			predicted: 57.0, score: 57,
			// Shortfalls: age -5, amount -2, country -4.
			reasons: []string{"RC_amount", "RC_country", "RC_age"},
		},
		// y = 0.5 + x = 1 at x = 0.5 for every link.
		{name: "probit", file: "binary-probit.pmml", in: map[string]any{"x": 0.5}, predicted: "yes", score: 0.8413447460685429, probs: map[string]float64{"yes": 0.8413447460685429, "no": 1 - 0.8413447460685429}},
		{name: "cloglog", file: "binary-cloglog.pmml", in: map[string]any{"x": 0.5}, predicted: "yes", score: 1 - math.Exp(-math.E)},
		{name: "loglog", file: "binary-loglog.pmml", in: map[string]any{"x": 0.5}, predicted: "yes", score: math.Exp(-math.Exp(-1))},
		{name: "cauchit", file: "binary-cauchit.pmml", in: map[string]any{"x": 0.5}, predicted: "yes", score: 0.75},
		{name: "logit", file: "binary-logit.pmml", in: map[string]any{"x": -1.5}, predicted: "no", score: 1 / (1 + math.E), probs: map[string]float64{"no": 1 - 1/(1+math.E)}},
		{name: "logit missing numeric input gives no prediction", file: "binary-logit.pmml", in: map[string]any{}, predicted: nil, score: nan},
		{
			name: "model chain feeds the first segment's output to the second",
			file: "chain.pmml",
			// risk = 2*2 + 1 = 5; logit(5 - 3).
			in: map[string]any{"x": 2}, predicted: 1.0, score: 1 / (1 + math.Exp(-2)),
			outputs: map[string]any{"p1": 1 / (1 + math.Exp(-2)), "risk": 5.0},
		},
		{name: "model chain at the boundary", file: "chain.pmml", in: map[string]any{"x": 1}, predicted: 0.0, score: 0.5},
		{
			name: "weighted majority vote",
			file: "weighted-vote.pmml",
			// Votes: b 0.5 (x >= 0), a 0.3, b 0.4 (x < 5).
			in: map[string]any{"x": 1}, predicted: "b", score: 0.9 / 1.2,
			probs: map[string]float64{"a": 0.3 / 1.2, "b": 0.9 / 1.2},
		},
		{name: "weighted majority vote other side", file: "weighted-vote.pmml", in: map[string]any{"x": -1}, predicted: "a", probs: map[string]float64{"a": 0.8 / 1.2}, score: 0.4 / 1.2},
		{
			name: "tree path reasons", file: "tree-missing.pmml",
			in: map[string]any{"x": 3, "y": 3}, predicted: "b", score: 0.5,
			reasons: []string{"x < 5", "y >= 2"},
			outputs: map[string]any{"pa": 0.5, "node": "n12"},
		},
		{name: "missing none with null prediction", file: "tree-missing.pmml", in: map[string]any{"y": 1}, predicted: nil, score: nan, outputs: map[string]any{"pa": nil, "node": nil}},
		{
			name: "missing none with last prediction", file: "tree-missing.pmml",
			replace: []string{`noTrueChildStrategy="returnNullPrediction"`, `noTrueChildStrategy="returnLastPrediction"`},
			in:      map[string]any{"y": 1}, predicted: "a", score: 0.4, outputs: map[string]any{"pa": 0.6, "node": "root"},
		},
		{
			name: "lastPrediction", file: "tree-missing.pmml",
			replace: []string{`missingValueStrategy="none"`, `missingValueStrategy="lastPrediction"`},
			in:      map[string]any{"y": 1}, predicted: "a", score: 0.4, reasons: []string{},
		},
		{
			name: "lastPrediction deeper", file: "tree-missing.pmml",
			replace: []string{`missingValueStrategy="none"`, `missingValueStrategy="lastPrediction"`},
			in:      map[string]any{"x": 1}, predicted: "a", outputs: map[string]any{"pa": 5.0 / 6, "node": "n1"}, score: 1.0 / 6, reasons: []string{"x < 5"},
		},
		{
			name: "nullPrediction", file: "tree-missing.pmml",
			replace: []string{`missingValueStrategy="none"`, `missingValueStrategy="nullPrediction"`, `noTrueChildStrategy="returnNullPrediction"`, `noTrueChildStrategy="returnLastPrediction"`},
			in:      map[string]any{"y": 1}, predicted: nil, score: nan,
		},
		{
			name: "defaultChild applies the penalty to confidence", file: "tree-missing.pmml",
			replace: []string{`missingValueStrategy="none"`, `missingValueStrategy="defaultChild"`},
			in:      map[string]any{"y": 1}, predicted: "b", score: 0.75,
			outputs: map[string]any{"conf": 0.75 * 0.8, "node": "n2"},
		},
		{
			name: "defaultChild twice", file: "tree-missing.pmml",
			replace: []string{`missingValueStrategy="none"`, `missingValueStrategy="defaultChild"`, `defaultChild="n2"`, `defaultChild="n1"`},
			in:      map[string]any{}, predicted: "a", score: 0,
			outputs: map[string]any{"conf": 1 * 0.8 * 0.8, "node": "n11"},
		},
		{
			name: "weightedConfidence", file: "tree-missing.pmml",
			replace: []string{`missingValueStrategy="none"`, `missingValueStrategy="weightedConfidence"`},
			// 0.6 * n11 (a 1) + 0.4 * n2 (a 0.25, b 0.75).
			in: map[string]any{"y": 1}, predicted: "a", score: 0.3, probs: map[string]float64{"a": 0.7},
		},
		{
			name: "aggregateNodes", file: "tree-missing.pmml",
			replace: []string{`missingValueStrategy="none"`, `missingValueStrategy="aggregateNodes"`},
			// n11 (a 4, b 0) + n2 (a 1, b 3).
			in: map[string]any{"y": 1}, predicted: "a", score: 3.0 / 8, probs: map[string]float64{"a": 5.0 / 8},
		},
		// Votes at x = 1: b (weight 0.5), a (0.3), b (0.4); stumps give
		// their class probability 1.
		{name: "average of probabilities", file: "weighted-vote.pmml", replace: []string{"weightedMajorityVote", "average"}, in: map[string]any{"x": 1}, predicted: "b", score: 2.0 / 3},
		{name: "weighted average of probabilities", file: "weighted-vote.pmml", replace: []string{"weightedMajorityVote", "weightedAverage"}, in: map[string]any{"x": 1}, predicted: "b", score: 0.9 / 1.2},
		{name: "majority vote", file: "weighted-vote.pmml", replace: []string{"weightedMajorityVote", "majorityVote"}, in: map[string]any{"x": 1}, predicted: "b", score: 2.0 / 3},
		{name: "select first", file: "weighted-vote.pmml", replace: []string{"weightedMajorityVote", "selectFirst"}, in: map[string]any{"x": -1}, predicted: "a", score: 0, reasons: []string{"x < 0"}},
		{name: "max", file: "weighted-vote.pmml", replace: []string{"weightedMajorityVote", "max"}, in: map[string]any{"x": 1}, predicted: "b", score: 1},
		// Segment values at x = 1: 2 (weight 1), 10 (weight 2), 3 (weight 3).
		{name: "sum", file: "regression-ensemble.pmml", in: map[string]any{"x": 1}, predicted: 15.0, score: 15},
		{name: "weightedSum", file: "regression-ensemble.pmml", replace: []string{`"sum"`, `"weightedSum"`}, in: map[string]any{"x": 1}, predicted: 31.0, score: 31},
		{name: "average", file: "regression-ensemble.pmml", replace: []string{`"sum"`, `"average"`}, in: map[string]any{"x": 1}, predicted: 5.0, score: 5},
		{name: "weightedAverage", file: "regression-ensemble.pmml", replace: []string{`"sum"`, `"weightedAverage"`}, in: map[string]any{"x": 1}, predicted: 31.0 / 6, score: 31.0 / 6},
		{name: "median", file: "regression-ensemble.pmml", replace: []string{`"sum"`, `"median"`}, in: map[string]any{"x": 1}, predicted: 3.0, score: 3},
		{name: "weightedMedian", file: "regression-ensemble.pmml", replace: []string{`"sum"`, `"weightedMedian"`}, in: map[string]any{"x": 7}, predicted: 4.0, score: 4},
		{name: "max of values", file: "regression-ensemble.pmml", replace: []string{`"sum"`, `"max"`}, in: map[string]any{"x": -1}, predicted: 10.0, score: 10},
		{name: "missing input with returnMissing", file: "regression-ensemble.pmml", in: map[string]any{}, predicted: nil, score: nan},
		{
			name: "skipSegment ignores segments without prediction", file: "regression-ensemble.pmml",
			replace: []string{
				`multipleModelMethod="sum"`, `multipleModelMethod="sum" missingPredictionTreatment="skipSegment"`,
				`<Node score="4"><SimplePredicate field="x" operator="greaterOrEqual" value="5"/></Node>`,
				`<Node score="4"><SimplePredicate field="x" operator="greaterOrEqual" value="5"/></Node><Node score="7"><SimplePredicate field="x" operator="isMissing"/></Node>`,
			},
			in: map[string]any{}, predicted: 7.0, score: 7,
		},
		// y = 2*clamp(x, 0, 10) + 1, clamped to [0, 100], *0.5 + 1, rounded.
		{name: "outlier clamped and target rescaled", file: "targets.pmml", in: map[string]any{"x": 20}, predicted: 12.0, score: 12},
		{name: "low outlier", file: "targets.pmml", in: map[string]any{"x": -4}, predicted: 2.0, score: 2},
		{name: "missing value replaced", file: "targets.pmml", in: map[string]any{}, predicted: 5.0, score: 5},
		{name: "castInteger floor", file: "targets.pmml", replace: []string{`castInteger="round"`, `castInteger="floor"`}, in: map[string]any{"x": 1}, predicted: 2.0, score: 2},
		{
			name: "outlier as missing takes the replacement", file: "targets.pmml",
			replace: []string{`outliers="asExtremeValues"`, `outliers="asMissingValues"`},
			in:      map[string]any{"x": 20}, predicted: 5.0, score: 5,
		},
		{
			name: "transformations", file: "transforms.pmml",
			in:        map[string]any{"amount": 250, "merchant": "gambling", "hour": 23},
			predicted: 106.73333333333333, score: 106.73333333333333,
			outputs: map[string]any{
				"logAmount": math.Log(250), "normAmount": 0.5 + 150.0/900*0.5, "isGambling": 1.0, "risk": 0.9,
				"night": "night", "big": "small", "custom": 530.0, "missingMerchant": false,
			},
		},
		{
			name: "transformations of missing values", file: "transforms.pmml",
			in:        map[string]any{"amount": 5000, "merchant": "?"},
			predicted: 10.5, score: 10.5,
			outputs: map[string]any{
				"logAmount": math.Log(5000), "normAmount": 1.0, "isGambling": 0.0, "risk": 0.5,
				"night": "unknown", "big": nil, "custom": nil, "missingMerchant": true,
			},
		},
		{
			name: "transformations of invalid values", file: "transforms.pmml",
			in:        map[string]any{"amount": "abc", "merchant": "shoes", "hour": 3},
			predicted: 0.1, score: 0.1,
			outputs: map[string]any{
				"logAmount": -1.0, "normAmount": 0.0, "isGambling": 0.0, "risk": 0.1,
				"night": "night", "big": "small", "custom": 10.0, "missingMerchant": false,
			},
		},
		{
			name: "transformations big", file: "transforms.pmml",
			in:        map[string]any{"amount": 700, "merchant": "travel", "hour": 12},
			predicted: 10*(0.5+600.0/900*0.5) + 0.3, score: 10*(0.5+600.0/900*0.5) + 0.3,
			outputs: map[string]any{"big": "BIG-TRAVEL", "night": "day"},
		},
		{
			name: "neural network regression", file: "neural.pmml",
			in:        map[string]any{"a": 1, "b": 2},
			predicted: 100 * (1 + 2*math.Tanh(0.9) - math.Tanh(-0.5)), score: 100 * (1 + 2*math.Tanh(0.9) - math.Tanh(-0.5)),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := loadFixture(t, tc.file, tc.replace...)
			s := m.NewScorer()
			for k, v := range tc.in {
				if !s.SetByName(k, ValueOf(v)) {
					t.Fatalf("no input %q", k)
				}
			}
			r, err := s.Score()
			if err != nil {
				t.Fatal(err)
			}
			checkValue(t, "predicted", r.Predicted(), tc.predicted)
			if got := r.Score(); math.IsNaN(tc.score) != math.IsNaN(got) || !math.IsNaN(got) && !approx(got, tc.score) {
				t.Errorf("score = %v, want %v", got, tc.score)
			}
			for class, want := range tc.probs {
				if got, ok := r.Probability(class); !ok || !approx(got, want) {
					t.Errorf("P(%s) = %v, want %v", class, got, want)
				}
			}
			if tc.reasons != nil && !slices.Equal(r.Reasons(), tc.reasons) {
				t.Errorf("reasons = %q, want %q", r.Reasons(), tc.reasons)
			}
			for name, want := range tc.outputs {
				got, ok := r.Output(name)
				if !ok {
					t.Fatalf("no output %q", name)
				}
				checkValue(t, name, got, want)
			}
		})
	}
}

func TestScoreErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		replace []string
		in      map[string]any
		want    any
	}{
		{"interval violated", "transforms.pmml", nil, map[string]any{"hour": 30}, &InvalidValueError{}},
		{"integer field given a fraction", "transforms.pmml", nil, map[string]any{"hour": 2.5}, &InvalidValueError{}},
		{"scorecard without matching attribute", "scorecard.pmml", nil, map[string]any{"amount": 5, "country": "FR"}, &NoAttributeError{}},
		{
			"nested model refuses a missing chained value", "chain.pmml",
			[]string{`<MiningField name="riskValue"/>`, `<MiningField name="riskValue" missingValueTreatment="returnInvalid"/>`},
			map[string]any{}, &MissingValueError{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := loadFixture(t, tc.file, tc.replace...)
			s := m.NewScorer()
			for k, v := range tc.in {
				s.SetByName(k, ValueOf(v))
			}
			_, err := s.Score()
			if err == nil {
				t.Fatal("no error")
			}
			switch tc.want.(type) {
			case *InvalidValueError:
				var e *InvalidValueError
				if !errors.As(err, &e) {
					t.Errorf("error %v is not an InvalidValueError", err)
				}
			case *MissingValueError:
				var e *MissingValueError
				if !errors.As(err, &e) || e.Field != "riskValue" {
					t.Errorf("error %v is not a MissingValueError for riskValue", err)
				}
			case *NoAttributeError:
				var e *NoAttributeError
				if !errors.As(err, &e) {
					t.Errorf("error %v is not a NoAttributeError", err)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := map[string]string{
		"svm-bad.pmml":                `svm-bad.pmml:7: <SupportVectorMachine targetCategory="a"> needs alternateTargetCategory`,
		"function-bad.pmml":           `function-bad.pmml:5: unsupported function "x-unknown"`,
		"cycle-bad.pmml":              "defined in terms of itself",
		"field-bad.pmml":              `field-bad.pmml:7: <SimplePredicate> refers to undefined field "nope"`,
		"datatype-bad.pmml":           `dataType "date" is not supported`,
		"feature-bad.pmml":            `feature "residual" is not supported`,
		"multinomial-probit-bad.pmml": "needs an ordinal target",
		"malformed-bad.pmml":          "malformed XML",
		"segment-bad.pmml":            "segment-bad.pmml:8: unsupported element <AssociationModel>",
	}
	bad, _ := filepath.Glob("testdata/*-bad.pmml")
	if len(bad) != len(tests) {
		t.Errorf("%d *-bad.pmml fixtures, %d expectations", len(bad), len(tests))
	}
	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", file))
			if err == nil {
				t.Fatal("loaded")
			}
			got := strings.ReplaceAll(err.Error(), "testdata/", "")
			if !strings.Contains(got, want) {
				t.Errorf("error %q does not contain %q", got, want)
			}
		})
	}
}

func TestModelMetadata(t *testing.T) {
	m := loadFixture(t, "tree-missing.pmml")
	if m.Name != "tree-missing" || len(m.Version) != 12 {
		t.Errorf("name %q version %q", m.Name, m.Version)
	}
	var names []string
	for _, f := range m.Inputs() {
		names = append(names, f.Name+":"+f.OpType.String()+":"+f.DataType.String())
	}
	if want := []string{"x:continuous:double", "y:continuous:double"}; !slices.Equal(names, want) {
		t.Errorf("inputs %q, want %q", names, want)
	}
	target, ok := m.Target()
	if !ok || target.Name != "c" || !slices.Equal(target.Values, []string{"a", "b"}) {
		t.Errorf("target %+v", target)
	}
	if m.Function() != "classification" || !slices.Equal(m.Classes(), []string{"a", "b"}) {
		t.Errorf("function %s classes %q", m.Function(), m.Classes())
	}
	if pc, _ := m.PositiveClass(); pc != "b" {
		t.Errorf("positive class %q, want b", pc)
	}
	var outs []string
	for _, o := range m.Outputs() {
		outs = append(outs, o.Name+":"+o.Feature)
	}
	if want := []string{"pa:probability", "conf:confidence", "node:entityId"}; !slices.Equal(outs, want) {
		t.Errorf("outputs %q, want %q", outs, want)
	}
}

func TestPositiveClass(t *testing.T) {
	tests := []struct {
		cats []string
		want int
	}{
		{[]string{"0", "1"}, 1},
		{[]string{"1", "0"}, 0},
		{[]string{"Yes", "No"}, 0},
		{[]string{"false", "true"}, 1},
		{[]string{"legit", "fraud"}, 1},
		{[]string{"a", "b", "c"}, -1},
	}
	for _, tc := range tests {
		if got := positiveClass(tc.cats); got != tc.want {
			t.Errorf("positiveClass(%q) = %d, want %d", tc.cats, got, tc.want)
		}
	}
}

func TestScoreRows(t *testing.T) {
	m := loadFixture(t, "scorecard.pmml")
	tests := []struct {
		format, in, want string
	}{
		{"csv", "age,amount,country\n22,500,US\n30,50,FR\n", `{"Final":15,"Reason1":"RC_amount","Reason2":"RC_age","Reason3":"RC_country"}
{"Final":57,"Reason1":"RC_amount","Reason2":"RC_country","Reason3":"RC_age"}
`},
		{"jsonl", `{"age": 22, "amount": 500, "country": "US"}` + "\n\n" + `{"age":30,"amount":50,"country":"FR","extra":true}` + "\n", `{"Final":15,"Reason1":"RC_amount","Reason2":"RC_age","Reason3":"RC_country"}
{"Final":57,"Reason1":"RC_amount","Reason2":"RC_country","Reason3":"RC_age"}
`},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		if err := ScoreRows(m, strings.NewReader(tc.in), tc.format, &out); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if out.String() != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.format, out.String(), tc.want)
		}
	}
	// Without an Output the target carries the prediction; NA is missing.
	m = loadFixture(t, "targets.pmml")
	var out bytes.Buffer
	if err := ScoreRows(m, strings.NewReader("x\n20\nNA\n\n"), "csv", &out); err != nil {
		t.Fatal(err)
	}
	if want := "{\"y\":12}\n{\"y\":5}\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	if err := ScoreRows(m, strings.NewReader("x\n1\n"), "xml", &out); err == nil {
		t.Error("unknown format accepted")
	}
	err := ScoreRows(loadFixture(t, "transforms.pmml"), strings.NewReader("hour\n3\n30\n"), "csv", &out)
	if err == nil || !strings.Contains(err.Error(), "row 2") {
		t.Errorf("error %v does not name row 2", err)
	}
}

func TestFormatOf(t *testing.T) {
	for path, want := range map[string]string{"rows.csv": "csv", "a/B.JSONL": "jsonl", "x.ndjson": "jsonl", "x.txt": "", "-": ""} {
		if got := FormatOf(path); got != want {
			t.Errorf("FormatOf(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestModelScoreConvenience(t *testing.T) {
	m := loadFixture(t, "scorecard.pmml")
	d, err := m.Score(map[string]any{"age": 22, "amount": 500.0, "country": "US"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Score != 15 || len(d.Reasons) != 3 || d.Outputs["Reason1"].String() != "RC_amount" {
		t.Errorf("%+v", d)
	}
	if _, err := m.Score(map[string]any{"agee": 1}); err == nil {
		t.Error("unknown field accepted")
	}
}

// TestForestMatchesGeneralPath checks the fast ensemble walk against the
// general tree evaluation on the same inputs, missing values included.
func TestForestMatchesGeneralPath(t *testing.T) {
	for name, doc := range map[string]string{"gbm": gbmPMML(20, 5, 6), "compact": compactPMML(20, 5, 6)} {
		t.Run(name, func(t *testing.T) {
			fast := mustParse(t, doc, "fast.pmml")
			slow := mustParse(t, doc, "slow.pmml")
			n := 0
			for _, node := range slow.nodes {
				if mm, ok := node.eval.(*miningModel); ok && mm.forest != nil {
					mm.forest = nil
					for i := range mm.segs {
						mm.segs[i].quick = nil
					}
					n++
				}
			}
			if n == 0 {
				t.Fatal("generated model has no forest")
			}
			sf, ss := fast.NewScorer(), slow.NewScorer()
			r := lcg(9)
			scored := 0
			for i := 0; i < 500; i++ {
				for j := range fast.Inputs() {
					v := Num(r.next()*2 - 1)
					if r.next() < 0.1 {
						v = Missing()
					}
					sf.Set(j, v)
					ss.Set(j, v)
				}
				a, err := sf.Score()
				if err != nil {
					t.Fatal(err)
				}
				b, err := ss.Score()
				if err != nil {
					t.Fatal(err)
				}
				if x, y := a.Score(), b.Score(); x != y && !(math.IsNaN(x) && math.IsNaN(y)) {
					t.Fatalf("row %d: forest %v, general %v", i, a.Score(), b.Score())
				}
				if a.OK() {
					scored++
				}
			}
			if scored < 100 {
				t.Errorf("only %d of 500 rows scored", scored)
			}
		})
	}
}

func TestScorerReuse(t *testing.T) {
	m := loadFixture(t, "tree-missing.pmml")
	s := m.NewScorer()
	s.SetByName("x", Num(3))
	s.SetByName("y", Num(3))
	if r, _ := s.Score(); r.Predicted().String() != "b" {
		t.Fatalf("first score %v", r.Predicted())
	}
	s.Reset()
	s.SetByName("x", Num(7))
	r, _ := s.Score()
	if r.Predicted().String() != "b" || !slices.Equal(r.Reasons(), []string{"x >= 5"}) {
		t.Errorf("after reuse: %v %q", r.Predicted(), r.Reasons())
	}
	allocs := testing.AllocsPerRun(100, func() {
		s.SetNum(0, 3)
		s.SetNum(1, 1)
		r, _ := s.Score()
		_ = r.Reasons()
		_, _ = r.Output("pa")
	})
	if allocs != 0 {
		t.Errorf("%v allocations per score", allocs)
	}
}

// TestConcurrentScorers shares one Model between goroutines, each with its
// own Scorer, as the engine does; run with -race.
func TestConcurrentScorers(t *testing.T) {
	m := mustParse(t, gbmPMML(10, 4, 5), "gbm.pmml")
	want := make([]float64, 50)
	s := m.NewScorer()
	for i := range want {
		for j := range m.Inputs() {
			s.SetNum(j, float64(i*j%7)/7-0.5)
		}
		r, err := s.Score()
		if err != nil {
			t.Fatal(err)
		}
		want[i] = r.Score()
	}
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			s := m.NewScorer()
			for i := range want {
				for j := range m.Inputs() {
					s.SetNum(j, float64(i*j%7)/7-0.5)
				}
				r, err := s.Score()
				if err == nil && r.Score() != want[i] {
					err = errors.New("different score from another goroutine")
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
