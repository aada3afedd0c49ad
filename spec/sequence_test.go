package spec

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const seqRule = `id: spec.seq
title: Three declines then an approval within 10 minutes
streams: [payments]
by: [event.card]
sequence:
  within: 10m
  steps:
    - {name: probe, where: event.result == "declined", times: "3+"}
    - {name: cashout, where: event.result == "approved"}
alert:
  fields: {declines: size(probe)}
`

const absenceRule = `id: spec.absence
title: Checkout without payment in 30 minutes
streams: [orders]
by: [event.order]
sequence:
  within: 30m
  steps:
    - {name: checkout, where: event.type == "checkout"}
    - {name: payment, where: event.type == "payment", not: true}
`

var _ = Describe("sequence rules in event time", func() {
	var dir string
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		writeFile(dir, "rules/seq.yaml", seqRule)
		writeFile(dir, "rules/absence.yaml", absenceRule)
	})

	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

	It("matches out-of-order input within the allowed lateness as if it were in order", func() {
		writeFile(dir, "payments.jsonl", lines(
			`{"id":"d1","ts":"2026-03-02T08:00:00Z","card":"c1","result":"declined"}`,
			`{"id":"d3","ts":"2026-03-02T08:00:20Z","card":"c1","result":"declined"}`,
			`{"id":"d2","ts":"2026-03-02T08:00:10Z","card":"c1","result":"declined"}`,
			`{"id":"ok","ts":"2026-03-02T08:00:30Z","card":"c1","result":"approved"}`,
		))
		r := cep(dir, nil, "run", "--rules", "rules", "--input", "payments.jsonl", "--allowed-lateness", "15s")
		Expect(r.code).To(Equal(0), r.stderr)
		as := alertsOf(r.stdout)
		Expect(as).To(HaveLen(1))
		Expect(evidenceIDs(as[0])).To(Equal([]string{"d1", "d2", "d3", "ok"}))
	})

	It("counts and drops events beyond the allowed lateness, and processes them when asked", func() {
		writeFile(dir, "payments.jsonl", lines(
			`{"id":"d1","ts":"2026-03-02T08:00:00Z","card":"c1","result":"declined"}`,
			`{"id":"d2","ts":"2026-03-02T08:00:10Z","card":"c1","result":"declined"}`,
			`{"id":"ok","ts":"2026-03-02T08:01:00Z","card":"c1","result":"approved"}`,
			`{"id":"d3","ts":"2026-03-02T08:00:20Z","card":"c1","result":"declined"}`,
		))
		r := cep(dir, nil, "run", "--rules", "rules", "--input", "payments.jsonl", "--allowed-lateness", "5s", "--sort=false")
		Expect(r.code).To(Equal(3), r.stderr)
		By("dropping d3, which came 40s late: only two declines preceded the approval")
		Expect(alertsOf(r.stdout)).To(BeEmpty())
		Expect(r.stderr).To(ContainSubstring("late event dropped"))
		Expect(r.stderr).To(ContainSubstring("late_dropped=1"))

		By("with late: process, d3 goes to the detectors at once, ahead of the approval still in the reorder buffer")
		r = cep(dir, nil, "run", "--rules", "rules", "--input", "payments.jsonl", "--allowed-lateness", "5s", "--late", "process", "--sort=false")
		Expect(r.code).To(Equal(0), r.stderr)
		as := alertsOf(r.stdout)
		Expect(as).To(HaveLen(1))
		Expect(evidenceIDs(as[0])).To(Equal([]string{"d1", "d2", "d3", "ok"}))
		Expect(r.stderr).To(ContainSubstring("late=1 late_dropped=0"))
	})

	It("fires absence at its deadline at the end of a bounded replay", func() {
		writeFile(dir, "orders.jsonl", lines(
			`{"id":"o1","ts":"2026-03-02T08:00:00Z","order":"A","type":"checkout"}`,
			`{"id":"o2","ts":"2026-03-02T08:10:00Z","order":"B","type":"checkout"}`,
			`{"id":"p2","ts":"2026-03-02T08:12:00Z","order":"B","type":"payment"}`,
		))
		r := cep(dir, nil, "run", "--rules", "rules", "--input", "orders.jsonl")
		Expect(r.code).To(Equal(0), r.stderr)
		as := alertsOf(r.stdout)
		Expect(as).To(HaveLen(1))
		Expect(as[0]).To(HaveKeyWithValue("time", "2026-03-02T08:30:00Z"))
		Expect(evidenceIDs(as[0])).To(Equal([]string{"o1"}))
	})

	It("explains why a sequence did not fire", func() {
		writeFile(dir, "payments.jsonl", lines(
			`{"id":"d1","ts":"2026-03-02T08:00:00Z","card":"c1","result":"declined"}`,
			`{"id":"d2","ts":"2026-03-02T08:00:10Z","card":"c1","result":"declined"}`,
			`{"id":"d3","ts":"2026-03-02T08:00:20Z","card":"c1","result":"declined"}`,
			`{"id":"ok","ts":"2026-03-02T08:20:00Z","card":"c1","result":"approved"}`,
		))
		r := cep(dir, nil, "run", "--rules", "rules", "--input", "payments.jsonl", "--explain", "spec.seq")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(alertsOf(r.stdout)).To(BeEmpty())
		Expect(r.stderr).To(ContainSubstring("created at step probe with event d1"))
		Expect(r.stderr).To(MatchRegexp(`expired.*within 10m0s`))
	})
})
