package spec

import (
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// holdRun is a config in dir replaying the fraud example's data with the
// state budget given, its alerts to out.
func holdRun(dir, budget, out string) string {
	return fraudReplay(dir, "cep-"+budget+".yaml", "max_state_bytes: "+budget, out)
}

// fraudReplay is a config named name in dir replaying the fraud example's
// data with the engine settings given beside allowed_lateness and late,
// its alerts to out.
func fraudReplay(dir, name, engine, out string) string {
	GinkgoHelper()
	root := repoRoot()
	sources := ""
	for _, st := range []string{"payments", "auth", "account", "orders"} {
		sources += fmt.Sprintf("  - {type: file, path: %q, stream: %s}\n", filepath.Join(fraudData, st+".jsonl"), st)
	}
	return writeFile(dir, name, fmt.Sprintf(`
rules: [%[1]s/examples/fraud/rules]
lists: %[1]s/examples/fraud/lists
models: %[1]s/examples/fraud/models
engine: {allowed_lateness: 5s, late: drop, %[2]s}
sources:
%[3]s
sinks:
  - {name: out, type: file, file: {path: %[4]q}}
`, root, engine, sources, out))
}

var _ = Describe("held events", func() {
	It("gives the same alerts when the state nears its budget and held lines are packed", func() {
		dir := GinkgoT().TempDir()
		run := func(budget string) (string, string) {
			out := filepath.Join(dir, "alerts-"+budget+".jsonl")
			r := cep(dir, nil, "run", "--config", holdRun(dir, budget, out))
			Expect(r.code).To(Equal(0), r.stderr)
			b, err := os.ReadFile(out)
			Expect(err).NotTo(HaveOccurred())
			return string(b), r.stderr
		}
		free, freeLog := run("1GiB")
		Expect(summaryInt(freeLog, "lines_packed")).To(BeZero(), "far from its budget, the state packs nothing")
		Expect(summaryInt(freeLog, `\balerts`)).To(BeNumerically(">", 100))
		// The example's 20,000 events hold about 4 MB of state at most:
		// past a quarter of 8 MiB, held lines are packed, and nothing is
		// shed.
		tight, tightLog := run("8MiB")
		Expect(summaryInt(tightLog, "lines_packed")).To(BeNumerically(">", 1000))
		Expect(summaryInt(tightLog, "state_shed")).To(BeZero())
		Expect(tight).To(Equal(free), "the alerts of a run whose held lines were packed")
	})
})
