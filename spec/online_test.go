package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("an online model", func() {
	It("scores with its fallback, learns from a feedback stream, and keeps what it learnt across runs", func() {
		dir := GinkgoT().TempDir()
		pmml, err := os.ReadFile(filepath.Join(repoRoot(), "examples/fraud/models/card-risk.pmml"))
		Expect(err).NotTo(HaveOccurred())
		writeFile(dir, "models/card-risk.pmml", string(pmml))
		writeFile(dir, "models/learner.online.yaml", `kind: logistic
feedback: {stream: verdicts, alert_id: event.alert_id, label: event.verdict == "fraud"}
min_labels: 6
fallback: card-risk
alpha: 0.5
`)
		writeFile(dir, "rules/big.yaml", `id: spec.big
title: Big payment
streams: [payments]
by: [event.card]
match: event.amount > 100.0
score:
  model: learner
  features:
    amount: event.amount
    declines: event.declines
    minutes: 10.0
    merchant: event.merchant
`)
		payments := func(name string, from int) {
			var ls []string
			for i := 0; i < 8; i++ {
				merchant, declines := "good", 0
				if i%2 == 1 {
					merchant, declines = "bad", 5
				}
				ls = append(ls, fmt.Sprintf(`{"id":"%s%d","ts":%d,"card":"c%d","amount":%d,"declines":%d,"merchant":%q}`,
					name, i, 1_772_438_400+from+i, i, 500+i, declines, merchant))
			}
			writeFile(dir, name+".jsonl", strings.Join(ls, "\n")+"\n")
		}
		run := func(inputs ...string) []map[string]any {
			args := []string{"run", "--rules", "rules", "--models", "models", "--state", "state"}
			for _, in := range inputs {
				args = append(args, "--input", in)
			}
			r := cep(dir, nil, args...)
			Expect(r.code).To(Equal(0), r.stderr)
			return alertsOf(r.stdout)
		}

		By("scoring with the fallback PMML model while it has no labels")
		payments("first", 0)
		first := run("payments=first.jsonl")
		Expect(first).To(HaveLen(8))
		for _, a := range first {
			Expect(a["model"]).To(HaveKeyWithValue("name", "card-risk"))
		}

		By("learning from verdicts on those alerts, carried over in the state directory")
		merchant := func(a map[string]any) string {
			return a["events"].([]any)[0].(map[string]any)["event"].(map[string]any)["merchant"].(string)
		}
		var verdicts []string
		for i, a := range first {
			v := "legit"
			if merchant(a) == "bad" {
				v = "fraud"
			}
			verdicts = append(verdicts, fmt.Sprintf(`{"ts":%d,"alert_id":%q,"verdict":%q}`, 1_772_438_500+i, a["id"], v))
		}
		writeFile(dir, "verdicts.jsonl", strings.Join(verdicts, "\n")+"\n")
		payments("second", 200)
		second := run("verdicts=verdicts.jsonl", "payments=second.jsonl")
		Expect(second).To(HaveLen(8))
		scores := map[string]float64{}
		for _, a := range second {
			Expect(a["model"]).To(HaveKeyWithValue("name", "learner"))
			Expect(a["model"]).To(HaveKeyWithValue("version", "online:8-labels"))
			scores[merchant(a)] = a["score"].(float64)
		}
		Expect(scores["bad"]).To(BeNumerically(">", scores["good"]), "it learnt that the bad merchant is fraud")

		By("giving the same scores after a restart from the saved state")
		third := run("payments=second.jsonl")
		Expect(third).To(HaveLen(8))
		for i := range third {
			Expect(third[i]["score"]).To(Equal(second[i]["score"]))
		}
	})
})
