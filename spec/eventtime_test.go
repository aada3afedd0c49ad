package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("event time", func() {
	It("quarantines one far-future event instead of dropping the events after it", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/all.yaml", "id: every\ntitle: Every event\nmatch: \"true\"\n")
		var b strings.Builder
		for i := range 1000 {
			ts := fmt.Sprintf("%d", 1_767_225_600+i)
			if i == 10 {
				ts = `"2200-01-01T00:00:00Z"`
			}
			fmt.Fprintf(&b, `{"id":"e%d","ts":%s}`+"\n", i, ts)
		}
		writeFile(dir, "auth.jsonl", b.String())
		r := cep(dir, nil, "run", "--rules", "rules", "--input", "auth.jsonl", "--quarantine", "quarantined.jsonl", "--sort=false")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(alertsOf(r.stdout)).To(HaveLen(999))
		Expect(r.stderr).To(ContainSubstring("quarantined=1"))
		Expect(r.stderr).To(ContainSubstring("late_dropped=0"))
		q, err := os.ReadFile(filepath.Join(dir, "quarantined.jsonl"))
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(q), "\n")).To(Equal(1))
		Expect(string(q)).To(ContainSubstring(`"id":"e10"`))
		Expect(string(q)).To(ContainSubstring(`2200-01-01`))
	})
})
