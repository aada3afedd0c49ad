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

var _ = Describe("time of real logs", func() {
	It("reads zone-less times from a list of fields with a format and a zone, in a replay and in a config", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/all.yaml", "id: every\ntitle: Every event\nmatch: \"true\"\n")
		writeFile(dir, "sysmon.jsonl", `{"id":"s1","UtcTime":"2020-10-18 07:50:06.220"}
{"id":"s2","@timestamp":"2020-10-18T07:50:07Z"}
{"id":"s3","UtcTime":"2020-10-18 07:50:08.000"}
`)
		r := cep(dir, nil, "run", "--rules", "rules", "--input", "sysmon=sysmon.jsonl",
			"--time-field", "UtcTime,@timestamp", "--time-format", "2006-01-02 15:04:05.000", "--time-format", "rfc3339", "--time-zone", "Europe/Berlin")
		Expect(r.code).To(Equal(0), r.stderr)
		as := alertsOf(r.stdout)
		Expect(as).To(HaveLen(3))
		Expect(as[0]["time"]).To(Equal("2020-10-18T05:50:06.22Z"), "Berlin is two hours ahead in October")
		Expect(as[1]["time"]).To(Equal("2020-10-18T05:50:08Z"))
		Expect(as[2]["time"]).To(Equal("2020-10-18T07:50:07Z"), "the fallback field, with its zone")

		By("the same from a config, with a bad zone reported at its position")
		cfg := writeFile(dir, "cep.yaml", `rules: [rules]
sources:
  - type: file
    path: sysmon.jsonl
    stream: sysmon
    time_fields: [UtcTime, "@timestamp"]
    time_formats: ["2006-01-02 15:04:05.000", rfc3339]
    time_zone: Mars/Olympus
`)
		r = cep(dir, nil, "run", "--config", cfg)
		Expect(r.code).To(Equal(2))
		Expect(r.stderr).To(ContainSubstring("cep.yaml:8:16"))
		Expect(r.stderr).To(ContainSubstring(`unknown time zone "Mars/Olympus"`))
	})
})

var _ = Describe("the same input", func() {
	It("gives the same alerts, in the same order, on one decoder or several, run after run", func() {
		// Many events share a second: among events of one time, what a
		// window keeps as evidence and the order of a sequence's partial
		// matches follow the order the events came in, whichever decoder
		// decoded them.
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/busy.yaml", `id: spec.busy
title: A busy user
by: [event.user]
aggregate:
  window: {type: tumbling, size: 1h}
  measures: {n: count()}
  having: n >= 4
`)
		writeFile(dir, "rules/pair.yaml", `id: spec.pair
title: An a then a b of one user
by: [event.user]
sequence:
  within: 1h
  steps:
    - {name: first, where: event.kind == "a"}
    - {name: then, where: event.kind == "b"}
`)
		var b strings.Builder
		for i := range 20000 {
			kind := "a"
			if i%3 == 0 {
				kind = "b"
			}
			fmt.Fprintf(&b, `{"id":"p%d","ts":%d,"user":"u%d","kind":"%s"}`+"\n", i, 1_767_225_600_000+int64(i/500)*1000, i%7, kind)
		}
		writeFile(dir, "events.jsonl", b.String())
		run := func(decoders string) string {
			r := cep(dir, nil, "run", "--rules", "rules", "--input", "events.jsonl", "--decoders", decoders)
			Expect(r.code).To(Equal(0), r.stderr)
			return r.stdout
		}
		want := run("1")
		Expect(strings.Count(want, `"rule":"spec.busy"`)).To(BeNumerically(">=", 7))
		Expect(strings.Count(want, `"rule":"spec.pair"`)).To(BeNumerically(">=", 100))
		for range 3 {
			Expect(run("3")).To(Equal(want))
		}
	})
})
