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

// approx compares relatively, so that a probability of 1e-18 is told from
// 0 or from 1e-17; an expected 0 allows 1e-12.
func approx(a, b float64) bool {
	if b == 0 {
		return math.Abs(a) <= 1e-12
	}
	return math.Abs(a-b) <= 1e-12*math.Abs(b)
}

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
		// y = 40: P(no) = 1/(1+exp(40)) = 4.248354255291589e-18 (Python), which 1 - P(yes) would flush to 0.
		{name: "logit tiny complement", file: "binary-logit.pmml", in: map[string]any{"x": 39.5}, predicted: "yes", score: 1, probs: map[string]float64{"no": 4.248354255291589e-18}},
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

		// GeneralRegressionModel, binomial: eta = -1 + 0.5*x + 0.8*[kind=b]. Expected
		// values from Python's math: Phi(z) = 0.5*erfc(-z/sqrt(2)),
		// cloglog 1-exp(-exp(z)), loglog exp(-exp(-z)), cauchit 0.5+atan(z)/pi.
		{
			name: "glm probit", file: "glm-binary.pmml", in: map[string]any{"x": 2, "kind": "b"}, // eta 0.8
			predicted: "yes", score: 0.7881446014166034,
			outputs: map[string]any{"pYes": 0.7881446014166034, "pNo": 0.2118553985833967},
		},
		{
			// eta -11: P(yes) = Phi(-11) = 1.9e-28 keeps its digits.
			name: "glm probit tiny probability", file: "glm-binary.pmml", in: map[string]any{"x": -20, "kind": "a"},
			predicted: "no", score: 1.910659574498683e-28,
			outputs: map[string]any{"pYes": 1.910659574498683e-28, "pNo": 1.0},
		},
		{
			name: "glm cloglog", file: "glm-binary.pmml", replace: []string{`linkFunction="probit"`, `linkFunction="cloglog"`},
			in: map[string]any{"x": 2, "kind": "b"}, predicted: "yes", score: 0.8919910223034084,
			outputs: map[string]any{"pNo": 0.10800897769659155},
		},
		{
			// eta 3: P(no) = exp(-exp(3)) = 1.89e-9, computed directly rather than as 1 - 0.99999999811.
			name: "glm cloglog small complement", file: "glm-binary.pmml", replace: []string{`linkFunction="probit"`, `linkFunction="cloglog"`},
			in: map[string]any{"x": 8, "kind": "a"}, predicted: "yes", score: 0.9999999981078213,
			outputs: map[string]any{"pNo": 1.8921786948382924e-09},
		},
		{name: "glm logit", file: "glm-binary.pmml", replace: []string{`linkFunction="probit"`, `linkFunction="logit"`}, in: map[string]any{"x": 2, "kind": "b"}, predicted: "yes", score: 0.6899744811276125},
		{name: "glm loglog", file: "glm-binary.pmml", replace: []string{`linkFunction="probit"`, `linkFunction="loglog"`}, in: map[string]any{"x": 2, "kind": "b"}, predicted: "yes", score: 0.6380561665820187},
		{name: "glm cauchit", file: "glm-binary.pmml", replace: []string{`linkFunction="probit"`, `linkFunction="cauchit"`}, in: map[string]any{"x": 2, "kind": "b"}, predicted: "yes", score: 0.7147767125227228},
		{name: "glm missing covariate", file: "glm-binary.pmml", in: map[string]any{"kind": "b"}, predicted: nil, score: nan},
		{
			// eta_a = 1 + 0.5 - 0.25 = 1.25, eta_b = 0.5, eta_c = 0; softmax.
			name: "glm multinomial", file: "glm-multinomial.pmml", in: map[string]any{"x": 1, "kind": "a"},
			predicted: "a", score: 0.5685464148510541,
			outputs: map[string]any{"pa": 0.5685464148510541, "pb": 0.26856231005645526, "pc": 0.16289127509249063},
		},
		{
			// The interaction kind=b times x adds 2*2: eta_a = 1 + 1 - 1 + 4 = 5, eta_b = 1.5.
			name: "glm multinomial interaction", file: "glm-multinomial.pmml", in: map[string]any{"x": 2, "kind": "b"},
			predicted: "a", score: 0.9643802951468596,
			outputs: map[string]any{"pb": 0.0291217615374784, "pc": 0.00649794331566194},
		},
		{
			// F = logistic; P(low) = F(-1), P(mid) = F(1) - F(-1), P(high) = 1 - F(1).
			name: "glm ordinal", file: "glm-ordinal.pmml", in: map[string]any{"x": 0},
			predicted: "mid", score: 0.4621171572600098,
			probs: map[string]float64{"low": 0.2689414213699951, "high": 0.2689414213699951},
		},
		{name: "glm ordinal high", file: "glm-ordinal.pmml", in: map[string]any{"x": 4}, predicted: "low", score: 0.7310585786300049, probs: map[string]float64{"mid": 0.22151554819242847, "high": 0.047425873177566635}},
		// Regression with offset 0.5 and 2 trials: eta = 0.2 + 0.3*1 + 0.5 = 1.
		{name: "glm log link with offset and trials", file: "glm-regression.pmml", in: map[string]any{"x": 1, "exposure": 0.5}, predicted: 2 * math.E, score: 2 * math.E},
		{name: "glm identity link", file: "glm-regression.pmml", replace: []string{`linkFunction="log"`, `linkFunction="identity"`}, in: map[string]any{"x": 1, "exposure": 0.5}, predicted: 2.0, score: 2},
		{name: "glm power link", file: "glm-regression.pmml", replace: []string{`linkFunction="log"`, `linkFunction="power" linkParameter="0.5"`}, in: map[string]any{"x": 2, "exposure": 0.5}, predicted: 2 * 1.3 * 1.3, score: 2 * 1.3 * 1.3},
		// negbin: 1/(c*(exp(-eta)-1)) with c = 2.
		{name: "glm negbin link", file: "glm-regression.pmml", replace: []string{`linkFunction="log"`, `linkFunction="negbin" linkParameter="2"`}, in: map[string]any{"x": 1, "exposure": 0.5}, predicted: -1.5819767068693265, score: -1.5819767068693265},
		// oddspower d = 0.5: 1/(1 + (1 + d*eta)^(-1/d)).
		{name: "glm oddspower link", file: "glm-regression.pmml", replace: []string{`linkFunction="log"`, `linkFunction="oddspower" linkParameter="0.5"`}, in: map[string]any{"x": 1, "exposure": 0.5}, predicted: 1.3846153846153846, score: 1.3846153846153846},
		{name: "glm missing offset", file: "glm-regression.pmml", in: map[string]any{"x": 1}, predicted: nil, score: nan},
		// Cox: exp(-H0(t) * exp(0.7*(x - 2))); cells sorted by time 1, 3, 5.
		{name: "cox survival", file: "glm-cox.pmml", in: map[string]any{"x": 3, "t": 4}, predicted: 0.6044488808416223, score: 0.6044488808416223},
		{name: "cox at a cell's time", file: "glm-cox.pmml", in: map[string]any{"x": 1, "t": 5}, predicted: 0.8198498038670586, score: 0.8198498038670586},
		{name: "cox before the first time", file: "glm-cox.pmml", in: map[string]any{"x": 3, "t": 0.5}, predicted: 1.0, score: 1},
		{name: "cox after maxTime", file: "glm-cox.pmml", in: map[string]any{"x": 2, "t": 12}, predicted: nil, score: nan},
		// SupportVectorMachineModel one-against-one: f_ab = x1-x2+0.5, f_ac = 2x1-1, f_bc = 1-x2;
		// a value below 0 votes for the target category. Probabilities are vote shares.
		{name: "svm ovo votes", file: "svm-ovo.pmml", in: map[string]any{"x1": 0, "x2": 1}, predicted: "a", score: 2.0 / 3, outputs: map[string]any{"pa": 2.0 / 3, "pb": 0.0, "pc": 1.0 / 3}},
		{name: "svm ovo other side", file: "svm-ovo.pmml", in: map[string]any{"x1": 1, "x2": 0}, predicted: "c", score: 2.0 / 3, outputs: map[string]any{"pb": 1.0 / 3}},
		// f_ab = 0.5 (b), f_ac = -1 (a), f_bc = 1 (c): one vote each, the tie goes to the first class.
		{name: "svm ovo three-way tie", file: "svm-ovo.pmml", in: map[string]any{"x1": 0, "x2": 0}, predicted: "a", score: 1.0 / 3},
		// With maxWins the target category needs a value above 0: f_ab = -0.5 (b), f_ac = -1 (c), f_bc = 0 (c).
		{name: "svm ovo maxWins flips the votes", file: "svm-ovo.pmml", replace: []string{`classificationMethod="OneAgainstOne"`, `classificationMethod="OneAgainstOne" maxWins="true"`}, in: map[string]any{"x1": 0, "x2": 1}, predicted: "c", score: 2.0 / 3},
		{name: "svm missing input", file: "svm-ovo.pmml", in: map[string]any{"x1": 0}, predicted: nil, score: nan},
		// f_a = x, f_b = 1 - x, f_c = 0.5: the smallest wins, or the largest with maxWins.
		{name: "svm one-against-all", file: "svm-ova.pmml", in: map[string]any{"x": 0.2}, predicted: "a", score: 1},
		{name: "svm one-against-all high", file: "svm-ova.pmml", in: map[string]any{"x": 0.8}, predicted: "b", score: 1},
		{name: "svm one-against-all maxWins", file: "svm-ova.pmml", replace: []string{`maxWins="false"`, `maxWins="true"`}, in: map[string]any{"x": 0.2}, predicted: "b", score: 1},
		// Regression at x = (0.5, 1): 0.5*K(x,(1,0)) - 0.25*K(x,(0,2)) + 1.
		{name: "svm rbf regression", file: "svm-regression.pmml", in: map[string]any{"x1": 0.5, "x2": 1}, predicted: 1.1338153571297476, score: 1.1338153571297476},
		{name: "svm polynomial", file: "svm-regression.pmml", replace: []string{`<RadialBasisKernelType gamma="0.5"/>`, `<PolynomialKernelType gamma="0.5" coef0="1" degree="2"/>`}, in: map[string]any{"x1": 0.5, "x2": 1}, predicted: 0.78125, score: 0.78125},
		{name: "svm sigmoid", file: "svm-regression.pmml", replace: []string{`<RadialBasisKernelType gamma="0.5"/>`, `<SigmoidKernelType gamma="0.5" coef0="1"/>`}, in: map[string]any{"x1": 0.5, "x2": 1}, predicted: 1.1831349249598022, score: 1.1831349249598022},
		{name: "svm linear", file: "svm-regression.pmml", replace: []string{`<RadialBasisKernelType gamma="0.5"/>`, `<LinearKernelType/>`}, in: map[string]any{"x1": 0.5, "x2": 1}, predicted: 0.75, score: 0.75},
		// NearestNeighborModel: distances sqrt((amount-a)^2 + 2*[country differs]).
		// At (2.5, FR): c2 0.5, c1 1.5, c5 sqrt(0.25+2) = 1.5 (ties keep table order).
		{
			name: "knn majority vote", file: "knn.pmml", in: map[string]any{"amount": 2.5, "country": "FR"},
			predicted: "legit", score: 1.0 / 3,
			outputs: map[string]any{"pFraud": 1.0 / 3, "nearest": "c2", "second": "c1", "d1": 0.5, "d3": 1.5},
		},
		{
			// Weights 1/(d + 0.001): fraud 1/1.501 over 1/0.501 + 2/1.501.
			name: "knn weighted vote", file: "knn.pmml", replace: []string{`categoricalScoringMethod="majorityVote"`, `categoricalScoringMethod="weightedMajorityVote"`},
			in: map[string]any{"amount": 2.5, "country": "FR"}, predicted: "legit", score: 0.2001598082301239,
		},
		{name: "knn fraud neighbourhood", file: "knn.pmml", in: map[string]any{"amount": 9.5, "country": "NG"}, predicted: "fraud", score: 1, outputs: map[string]any{"nearest": "c3", "d3": 6.5}},
		// x = 2.2: neighbours x=3 (0.8, y 40) and x=1 (1.2, y 20).
		{name: "knn regression average", file: "knn-regression.pmml", in: map[string]any{"x": 2.2}, predicted: 30.0, score: 30},
		{name: "knn regression weighted", file: "knn-regression.pmml", replace: []string{`continuousScoringMethod="average"`, `continuousScoringMethod="weightedAverage"`}, in: map[string]any{"x": 2.2}, predicted: 31.998001998001993, score: 31.998001998001993},
		{name: "knn regression median", file: "knn-regression.pmml", replace: []string{`continuousScoringMethod="average"`, `continuousScoringMethod="median"`}, in: map[string]any{"x": 5.5}, predicted: 60.0, score: 60},
		// RuleSetModel at amount 1500, NG, velocity 6: r1 review, r2 block, r3 review, r4 block fire.
		{
			name: "ruleset firstHit", file: "ruleset.pmml", in: map[string]any{"amount": 1500, "country": "NG", "velocity": 6},
			predicted: "review", score: 0.6, reasons: []string{"amount > 1000"},
			outputs: map[string]any{"conf": 0.6, "rule": "r1"},
		},
		{
			// review (0.5+0.3)/4 = 0.2, block (0.9+0.7)/4 = 0.4.
			name: "ruleset weightedSum", file: "ruleset.pmml", replace: []string{`<RuleSelectionMethod criterion="firstHit"/>`, ``},
			in: map[string]any{"amount": 1500, "country": "NG", "velocity": 6}, predicted: "block", score: 0.4,
			probs: map[string]float64{"review": 0.2}, outputs: map[string]any{"conf": 0.4},
		},
		{
			name: "ruleset weightedMax", file: "ruleset.pmml", replace: []string{`criterion="firstHit"`, `criterion="weightedMax"`},
			in: map[string]any{"amount": 1500, "country": "NG", "velocity": 6}, predicted: "block", score: 0.8,
			outputs: map[string]any{"conf": 0.8, "rule": "r2"},
		},
		{name: "ruleset default", file: "ruleset.pmml", in: map[string]any{"amount": 100, "country": "FR", "velocity": 2}, predicted: "allow", score: 0.2, outputs: map[string]any{"conf": 0.2, "rule": nil}},
		// velocity is an integer field; r4 compares it with 4.5.
		{name: "ruleset integer field against a fraction", file: "ruleset.pmml", in: map[string]any{"amount": 100, "country": "US", "velocity": 5}, predicted: "block", score: 0.75, outputs: map[string]any{"rule": "r4"}},
		{name: "ruleset missing value does not fire", file: "ruleset.pmml", in: map[string]any{"country": "US", "velocity": 5}, predicted: "block", score: 0.75},
		// NaiveBayesModel: P(class) ∝ count * P(channel|class) * Poisson(attempts) * Gauss(amount);
		// P(pos|fraud) has count 0 and takes the threshold 0.001. Expected values from
		// Python: L = 30*(10/30)*pois(3,1)*gau(120,50,400), F = 10*0.001*pois(3,4)*gau(120,300,1e4).
		{name: "naive bayes threshold for a zero count", file: "bayes.pmml", in: map[string]any{"channel": "pos", "attempts": 3, "amount": 120}, predicted: "legit", score: 0.054510465524572956, probs: map[string]float64{"legit": 0.945489534475427}},
		// 4.3e-23 for legit keeps its digits (log space).
		{name: "naive bayes tiny probability", file: "bayes.pmml", in: map[string]any{"channel": "web", "attempts": 5, "amount": 250}, predicted: "fraud", score: 1, probs: map[string]float64{"legit": 4.28692814465961e-23}},
		{name: "naive bayes priors alone", file: "bayes.pmml", in: map[string]any{}, predicted: "legit", score: 0.25},
		// A channel the training never saw is skipped: 30*pois(2,1) against 10*pois(2,4).
		{name: "naive bayes unseen value", file: "bayes.pmml", in: map[string]any{"channel": "atm", "attempts": 2}, predicted: "legit", score: 0.20981787465416998, probs: map[string]float64{"legit": 0.79018212534583}},
		// One machine with alternateBinaryTargetCategory: f_a = x; below 0 votes a, else b.
		{
			name: "svm alternateBinaryTargetCategory", file: "svm-ova.pmml",
			replace: []string{
				`maxWins="false"`, `alternateBinaryTargetCategory="b"`,
				`<SupportVectorMachine targetCategory="b"><Coefficients absoluteValue="1"><Coefficient value="-1"/></Coefficients></SupportVectorMachine>`, ``,
				`<SupportVectorMachine targetCategory="c"><Coefficients absoluteValue="0.5"><Coefficient value="0"/></Coefficients></SupportVectorMachine>`, ``,
			},
			in: map[string]any{"x": 0.2}, predicted: "b", score: 1,
		},
		// ClusteringModel, cityBlock over 0.5*|amount-a| + gaussSim(hour) + delta(channel),
		// scaled by 4 / (missing-value weights of the present fields).
		{
			name: "clusters", file: "cluster-mixed.pmml", in: map[string]any{"amount": 50, "hour": 13, "channel": "pos"},
			predicted: "day", score: 15.957603280698574,
			outputs: map[string]any{"cluster": "day", "name": "daytime shoppers", "index": 1.0, "dDay": 15.957603280698574, "dNight": 76.00529006073022, "best": 15.957603280698574},
		},
		{name: "clusters night", file: "cluster-mixed.pmml", in: map[string]any{"amount": 150, "hour": 1, "channel": "web"}, predicted: "night", score: 25.957603280698574, outputs: map[string]any{"index": 2.0, "dDay": 66.00066125759128}},
		{name: "clusters with a missing field", file: "cluster-mixed.pmml", in: map[string]any{"hour": 3, "channel": "web"}, predicted: "night", score: 1.9152065613971474, outputs: map[string]any{"dDay": 2.0105801214604444}},
		{name: "clusters all missing", file: "cluster-mixed.pmml", in: map[string]any{}, predicted: nil, score: nan},
		// Integer fields split at fractional thresholds compare as numbers.
		{name: "integer field at 70.5", file: "tree-integer.pmml", in: map[string]any{"horsepower": 70, "cylinders": 8}, predicted: 1.0, score: 1},
		{name: "integer field above 70.5", file: "tree-integer.pmml", in: map[string]any{"horsepower": 71, "cylinders": 8}, predicted: 3.0, score: 3},
		{name: "integer field in a real set", file: "tree-integer.pmml", in: map[string]any{"horsepower": 90, "cylinders": 6}, predicted: 2.0, score: 2},
		// 1/(1+exp(15.8)) = 1.3745e-7 is kept, not saturated to 0 (KNIME, exact logistic).
		{name: "neural tiny probability", file: "neural-tiny.pmml", in: map[string]any{"x": 0}, predicted: "legit", score: 1.3745075389942726e-07, probs: map[string]float64{"legit": 0.9999998625492461}},
		// The same network from R's nnet saturates beyond ±15 as nnet does.
		{name: "neural nnet saturation", file: "neural-tiny.pmml", replace: []string{`name="KNIME"`, `name="Rattle/PMML"`}, in: map[string]any{"x": 0}, predicted: "legit", score: 0, probs: map[string]float64{"legit": 1}},
		{
			// The spec's examples: 2003-04-01 is day 15796 since 1960, 1960-01-03T03:30:03 is
			// second 185403, 19:30:00 is second 70200; 2024-02-29 is day 19782 since 1970
			// (Python: (date(2024,2,29) - date(1970,1,1)).days).
			name: "date functions", file: "dates.pmml",
			in:        map[string]any{"opened": "2003-04-01", "seen": "1960-01-03T03:30:03", "at": "19:30:00", "day": "2024-02-29"},
			predicted: 0.0, score: 0,
			outputs: map[string]any{"days": 15796.0, "secs": 185403.0, "midnight": 70200.0, "dayNumber": 19782.0, "recent": true},
		},
		{name: "date before the epoch year", file: "dates.pmml", in: map[string]any{"opened": "1959-12-31", "day": 3}, predicted: 0.0, score: 0, outputs: map[string]any{"days": -1.0, "dayNumber": 3.0, "recent": false}},
		{
			// XQuery substring: positions round(start) <= p < round(start)+round(length), clamped.
			name: "string functions at their edges", file: "string-functions.pmml", in: map[string]any{"code": "ABCDE", "amount": 1234.5678},
			predicted: 0.0, score: 0,
			outputs: map[string]any{
				"mid": "BCD", "past": "DE", "beyond": "", "zero": "AB", "negative": "",
				"money": "1234.57 EUR", "padded": "001234", "general": "1234.57", "hex": "0x4d2",
			},
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
		{"date that is not a date", "dates.pmml", nil, map[string]any{"opened": "2024-02-30"}, &InvalidValueError{}},
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
		"datatype-bad.pmml":           `dataType "dateDaysSince[2000]" is not supported`,
		"feature-bad.pmml":            `feature "residual" is not supported`,
		"multinomial-probit-bad.pmml": "needs an ordinal target",
		"malformed-bad.pmml":          "malformed XML",
		"segment-bad.pmml":            "segment-bad.pmml:8: unsupported element <AssociationModel>",
		"cluster-bad.pmml":            `cluster-bad.pmml:4: <ClusteringModel modelClass="distributionBased"> is not supported`,
		"cluster-class-bad.pmml":      `cluster-class-bad.pmml:5: <ClusteringModel> modelClass "" is not supported (supported: centerBased)`,
		"glm-bad.pmml":                "glm-bad.pmml:11: <Predictor> with a contrast matrix (<Categories>, <Matrix>) is not supported; export the factor with indicator coding",
		"knn-bad.pmml":                `knn-bad.pmml:9: <KNNInput field="z"> is a derived field but the training instances are not transformed`,
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
