package spec

import (
	"encoding/json"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("cep score", func() {
	score := func(model, rows string) []map[string]any {
		GinkgoHelper()
		r := cep(GinkgoT().TempDir(), []byte(rows), "score", "--model", filepath.Join(repoRoot(), "ml", "testdata", model), "--input", "-", "--format", "csv", "--output", "-")
		Expect(r.code).To(Equal(0), r.stderr)
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var m map[string]any
			Expect(json.Unmarshal([]byte(line), &m)).To(Succeed(), line)
			out = append(out, m)
		}
		return out
	}

	It("scores a one-against-one support vector machine by its votes", func() {
		out := score("svm-ovo.pmml", "x1,x2\n0,1\n1,0\n0,0\n")
		Expect(out).To(HaveLen(3))
		Expect(out[0]).To(HaveKeyWithValue("pa", BeNumerically("~", 2.0/3, 1e-12)))
		Expect(out[1]).To(HaveKeyWithValue("pc", BeNumerically("~", 2.0/3, 1e-12)))
		Expect(out[2]).To(HaveKeyWithValue("pb", BeNumerically("~", 1.0/3, 1e-12)))
	})

	It("assigns clusters with their names and affinities, a missing cell included", func() {
		out := score("cluster-mixed.pmml", "amount,hour,channel\n50,13,pos\n,3,web\n")
		Expect(out).To(HaveLen(2))
		Expect(out[0]).To(HaveKeyWithValue("cluster", "day"))
		Expect(out[0]).To(HaveKeyWithValue("name", "daytime shoppers"))
		Expect(out[1]).To(HaveKeyWithValue("cluster", "night"))
		Expect(out[1]).To(HaveKeyWithValue("best", BeNumerically("~", 1.9152065613971474, 1e-12)))
	})

	It("refuses a model it cannot score with the element and line", func() {
		r := cep(GinkgoT().TempDir(), []byte("x\n1\n"), "score", "--model", filepath.Join(repoRoot(), "ml", "testdata", "cluster-bad.pmml"), "--input", "-", "--format", "csv")
		Expect(r.code).NotTo(Equal(0))
		Expect(r.stderr).To(ContainSubstring(`cluster-bad.pmml:4: <ClusteringModel modelClass="distributionBased"> is not supported`))
	})
})
