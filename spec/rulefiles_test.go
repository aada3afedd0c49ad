package spec

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Hostile and broken rule files: every command that loads rules reports
// them with their true positions and keeps its memory.
var _ = Describe("rule files that are broken or hostile", func() {
	It("stops an alias bomb in tests: instead of running out of memory", func() {
		dir := GinkgoT().TempDir()
		var b strings.Builder
		b.WriteString("id: t.bomb\ntitle: bomb\nmatch: event.x == 1\ntests:\n  - expect: {alerts: 0}\n    events:\n      - &a0 {x: lol}\n")
		for i := 1; i <= 9; i++ {
			fmt.Fprintf(&b, "      - &a%d {y: [%s*a%d]}\n", i, strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9), i-1)
		}
		writeFile(dir, "bomb.yaml", b.String())
		for _, cmd := range []string{"lint", "test"} {
			r := cep(dir, nil, cmd, ".")
			Expect(r.code).NotTo(Equal(0), cmd)
			Expect(r.stdout+r.stderr).To(ContainSubstring("bomb.yaml:8:33: alias expansion stopped"), cmd)
		}
		r := cep(dir, nil, "run", "--rules", ".", "--input", "-", "--output", "-")
		Expect(r.stderr).To(ContainSubstring("alias expansion stopped"))
	})

	It("reports YAML syntax errors at their line and column, and every error of a file", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "bracket.yaml", "id: t.b\ntitle: b\ntags: [a, b\nmatch: event.x == 1\n")
		writeFile(dir, "indent.yaml", "id: t.i\ntitle: i\nsequence:\n  within: 1m\n  steps:\n    - name: a\n      where: event.x == 1\n     times: 3\n")
		writeFile(dir, "both.yaml", "id: t.both\nmatch: event.amount + 1.0\n")
		r := cep(dir, nil, "lint", ".")
		Expect(r.code).To(Equal(1))
		Expect(r.stdout).To(ContainSubstring("bracket.yaml:3:7: invalid YAML: this [ is never closed"))
		Expect(r.stdout).To(ContainSubstring("indent.yaml:8:6: invalid YAML"))
		Expect(r.stdout).To(ContainSubstring(`both.yaml:1:1: missing required key "title"`))
		Expect(r.stdout).To(ContainSubstring("both.yaml:2:8: match must be a bool"))
	})
})
