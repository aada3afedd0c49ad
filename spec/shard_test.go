package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("sequence rules split by key", func() {
	It("give the alerts of one matcher, in the same order, from a config and from flags", func() {
		dir := GinkgoT().TempDir()
		root := repoRoot()
		sources := ""
		var inputs []string
		for _, st := range []string{"payments", "auth", "account", "orders"} {
			path := filepath.Join(fraudData, st+".jsonl")
			sources += fmt.Sprintf("  - {type: file, path: %q, stream: %s}\n", path, st)
			inputs = append(inputs, "--input", st+"="+path)
		}
		viaConfig := func(shards int) (string, string) {
			out := filepath.Join(dir, fmt.Sprintf("alerts-%d.jsonl", shards))
			cfg := writeFile(dir, fmt.Sprintf("cep-%d.yaml", shards), fmt.Sprintf(`
rules: [%[1]s/examples/fraud/rules]
lists: %[1]s/examples/fraud/lists
models: %[1]s/examples/fraud/models
engine: {allowed_lateness: 5s, late: drop, shards: %[2]d}
sources:
%[3]s
sinks:
  - {name: out, type: file, file: {path: %[4]q}}
`, root, shards, sources, out))
			r := cep(dir, nil, "run", "--config", cfg)
			Expect(r.code).To(Equal(0), r.stderr)
			b, err := os.ReadFile(out)
			Expect(err).NotTo(HaveOccurred())
			return string(b), r.stderr
		}
		one, _ := viaConfig(1)
		Expect(strings.Count(one, "\n")).To(BeNumerically(">", 100))
		three, log := viaConfig(3)
		Expect(log).To(ContainSubstring("sequence rules split by key"))
		Expect(log).To(ContainSubstring("fraud.impossible-travel"))
		Expect(three).To(Equal(one), "the alerts of three shards")

		flags := func(shards string) string {
			args := append([]string{"run", "--rules", filepath.Join(root, "examples/fraud/rules"),
				"--lists", filepath.Join(root, "examples/fraud/lists"), "--models", filepath.Join(root, "examples/fraud/models"),
				"--shards", shards}, inputs...)
			r := cep(dir, nil, args...)
			Expect(r.code).To(Equal(0), r.stderr)
			return r.stdout
		}
		plain := flags("1")
		Expect(strings.Count(plain, "\n")).To(BeNumerically(">", 100))
		Expect(flags("4")).To(Equal(plain), "the alerts of four shards")
	})

	It("pass the example's rule tests", func() {
		r := cep(repoRoot(), nil, "test", "examples/fraud", "--shards", "3")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
	})

	It("refuses a negative number of shards", func() {
		r := cep(GinkgoT().TempDir(), nil, "run", "--rules", filepath.Join(repoRoot(), "examples/fraud/rules"),
			"--input", "auth="+filepath.Join(fraudData, "auth.jsonl"), "--shards", "-1")
		Expect(r.code).NotTo(Equal(0))
		Expect(r.stderr).To(ContainSubstring("shards must not be negative"))
	})
})
