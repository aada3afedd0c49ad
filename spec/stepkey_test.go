package spec

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// A rule whose second step compares the write with the access before it
// (event.Image == access.SourceImage), by host. no_skip keeps every
// access waiting after a match, so that a host has many.
func accessThenWrite(id, where string) string {
	return fmt.Sprintf(`id: %s
title: A process that opened another then wrote the registry
by: [event.host]
sequence:
  within: 2m
  after_match: no_skip
  steps:
    - {name: access, where: event.EventID == 10}
    - {name: write, where: '%s'}
`, id, where)
}

var _ = Describe("a sequence step that compares the event with an earlier step", func() {
	It("finds what the rule finds written without an equality, with late events, missing fields and a cap", func() {
		dir := GinkgoT().TempDir()
		// The same condition twice: with ==, which indexes the waiting
		// accesses by image and process, and as !(!=), which does not.
		writeFile(dir, "rules/keyed.yaml", accessThenWrite("spec.keyed",
			`event.EventID == 12 && event.Image == access.SourceImage && event.ProcessId == access.SourceProcessId`))
		writeFile(dir, "rules/plain.yaml", accessThenWrite("spec.plain",
			`event.EventID == 12 && !(event.Image != access.SourceImage) && !(event.ProcessId != access.SourceProcessId)`))

		rnd := rand.New(rand.NewPCG(1, 2))
		base := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
		var b strings.Builder
		for i := range 4000 {
			t := base.Add(time.Duration(i) * 40 * time.Millisecond)
			if rnd.IntN(50) == 0 {
				t = t.Add(-90 * time.Second) // late, and processed
			}
			image, pid := fmt.Sprintf(`C:\\Windows\\p%d.exe`, rnd.IntN(12)), rnd.IntN(20)
			line := fmt.Sprintf(`{"id":"e%d","ts":%q,"host":"h%d"`, i, t.Format(time.RFC3339Nano), rnd.IntN(2))
			if rnd.IntN(5) < 3 {
				line += fmt.Sprintf(`,"EventID":10,"SourceImage":"%s","SourceProcessId":%d`, image, pid)
			} else {
				line += fmt.Sprintf(`,"EventID":12,"Image":"%s"`, image)
				if rnd.IntN(4) > 0 {
					line += fmt.Sprintf(`,"ProcessId":%d`, pid)
				}
			}
			b.WriteString(line + "}\n")
		}
		writeFile(dir, "sysmon.jsonl", b.String())

		// A cap on a host's waiting accesses that the input reaches, so
		// which ones are dropped, oldest first, counts too.
		writeFile(dir, "cep.yaml", `rules: [rules]
engine:
  allowed_lateness: 1s
  late: process
  max_partials_per_key: 300
sources:
  - {type: file, path: sysmon.jsonl, stream: sysmon}
sinks:
  - {name: out, type: stdout, format: json}
`)
		r := cep(dir, nil, "run", "--config", "cep.yaml")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stderr).To(MatchRegexp(`partials_dropped=[1-9]`))
		Expect(r.stderr).To(MatchRegexp(` late=[1-9]`))
		Expect(r.stderr).To(ContainSubstring("no such key: ProcessId"))
		byRule := map[string][]string{}
		for _, a := range alertsOf(r.stdout) {
			id := a["rule"].(string)
			byRule[id] = append(byRule[id], strings.Join(evidenceIDs(a), " "))
		}
		Expect(len(byRule["spec.keyed"])).To(BeNumerically(">", 100))
		Expect(byRule["spec.keyed"]).To(Equal(byRule["spec.plain"]))
	})
})
