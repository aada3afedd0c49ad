package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("cep run", func() {
	var dir string
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		writeFile(dir, "auth.jsonl", strings.Join([]string{
			`{"id":"a1","ts":"2026-01-01T00:00:01Z","user":"u1","outcome":"failure"}`,
			`{"id":"a2","ts":"2026-01-01T00:00:03Z","user":"u2","outcome":"success"}`,
			`{"id":"a3","ts":"2026-01-01T00:00:05Z","user":"u3","outcome":"failure"}`,
		}, "\n")+"\n")
		writeFile(dir, "payments.jsonl", strings.Join([]string{
			`{"id":"p1","ts":"2026-01-01T00:00:02Z","card":"c1","amount":1200}`,
			`{"id":"p2","ts":"2026-01-01T00:00:04Z","card":"c2","amount":12}`,
		}, "\n")+"\n")
	})

	It("replays several inputs in event-time order and writes alerts as JSON lines", func() {
		rules := filepath.Join(repoRoot(), "spec/testdata/rules")
		r := cep(dir, nil, "run", "--rules", rules, "--input", "auth.jsonl", "--input", "payments=payments.jsonl", "--output", "alerts.jsonl")
		Expect(r.code).To(Equal(0), r.stderr)
		data, err := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
		Expect(err).NotTo(HaveOccurred())
		as := alertsOf(string(data))
		Expect(as).To(HaveLen(3))
		Expect([]string{evidenceIDs(as[0])[0], evidenceIDs(as[1])[0], evidenceIDs(as[2])[0]}).To(Equal([]string{"a1", "p1", "a3"}))
		Expect(as[1]).To(HaveKeyWithValue("rule", "spec.big-payment"))
		Expect(as[1]).To(HaveKeyWithValue("severity", "high"))
		Expect(as[1]).To(HaveKeyWithValue("key", map[string]any{"event.card": "c1"}))
		Expect(as[1]["fields"]).To(HaveKeyWithValue("amount", 1200.0))
		Expect(as[1]).To(HaveKeyWithValue("time", "2026-01-01T00:00:02Z"))
		for _, a := range as {
			Expect(a).To(HaveKey("id"))
			Expect(a).To(HaveKey("rule_version"))
			Expect(a).To(HaveKey("priority"))
		}
		By("giving the same ids on a second run")
		again := cep(dir, nil, "run", "--rules", rules, "--input", "auth.jsonl", "--input", "payments=payments.jsonl")
		Expect(again.code).To(Equal(0))
		as2 := alertsOf(again.stdout)
		for i := range as {
			Expect(as2[i]["id"]).To(Equal(as[i]["id"]))
		}
	})

	It("reads standard input and writes standard output", func() {
		rules := filepath.Join(repoRoot(), "spec/testdata/rules")
		in, err := os.ReadFile(filepath.Join(dir, "auth.jsonl"))
		Expect(err).NotTo(HaveOccurred())
		r := cep(dir, in, "run", "--rules", rules, "--input", "auth=-", "--output", "-")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(rulesOf(alertsOf(r.stdout))).To(Equal(map[string]int{"spec.failed-login": 2}))
	})

	It("counts, logs and skips malformed lines and keeps everything else", func() {
		writeFile(dir, "auth.jsonl", strings.Join([]string{
			`{"id":"a1","ts":"2026-01-01T00:00:01Z","user":"u1","outcome":"failure"}`,
			`{"id":"a2","ts":"2026-01-01T00:00:02Z","user":"u2","outcome":"fail`,
			`this is not json`,
			`{"id":"a4","user":"u4","outcome":"failure"}`,
			`{"id":"a5","ts":"2026-01-01T00:00:05Z","user":"u5","outcome":"failure"}`,
		}, "\n")+"\n")
		rules := filepath.Join(repoRoot(), "spec/testdata/rules")
		r := cep(dir, nil, "run", "--rules", rules, "--input", "auth.jsonl")
		Expect(r.code).To(Equal(0), r.stderr)
		as := alertsOf(r.stdout)
		Expect(as).To(HaveLen(2))
		Expect(evidenceIDs(as[1])).To(Equal([]string{"a5"}))
		Expect(r.stderr).To(ContainSubstring("line=2"))
		Expect(r.stderr).To(ContainSubstring("line=3"))
		Expect(r.stderr).To(ContainSubstring("line=4"))
		Expect(r.stderr).To(ContainSubstring("no event time"))
		Expect(r.stderr).To(ContainSubstring("malformed_lines=3"))
	})

	It("reports a broken rule with its position and still runs the others", func() {
		rules := filepath.Join(repoRoot(), "spec/testdata/badrules")
		r := cep(dir, nil, "run", "--rules", rules, "--input", "auth.jsonl", "--input", "payments.jsonl")
		Expect(r.code).To(Equal(2))
		Expect(r.stderr).To(ContainSubstring("broken.yaml:3:31: undeclared reference to 'evnt'"))
		Expect(r.stderr).To(ContainSubstring("^"))
		Expect(rulesOf(alertsOf(r.stdout))).To(Equal(map[string]int{"spec.failed-login": 2, "spec.big-payment": 1}))
	})

	It("drops events later than the allowed lateness, counting them, or processes them when asked", func() {
		writeFile(dir, "auth.jsonl", strings.Join([]string{
			`{"id":"a1","ts":"2026-01-01T00:00:10Z","user":"u1","outcome":"failure"}`,
			`{"id":"a2","ts":"2026-01-01T00:00:08Z","user":"u2","outcome":"failure"}`,
			`{"id":"a3","ts":"2026-01-01T00:00:30Z","user":"u3","outcome":"failure"}`,
			`{"id":"a4","ts":"2026-01-01T00:00:01Z","user":"u4","outcome":"failure"}`,
		}, "\n")+"\n")
		rules := filepath.Join(repoRoot(), "spec/testdata/rules")
		By("with --sort=false, the file's own order: a late event fails the run loudly")
		r := cep(dir, nil, "run", "--rules", rules, "--input", "auth.jsonl", "--allowed-lateness", "5s", "--sort=false")
		Expect(r.code).To(Equal(3), r.stderr)
		Expect(r.stderr).To(ContainSubstring("not in event-time order"))
		var ids []string
		for _, a := range alertsOf(r.stdout) {
			ids = append(ids, evidenceIDs(a)...)
		}
		By("putting the slightly late a2 in order and dropping the very late a4")
		Expect(ids).To(Equal([]string{"a2", "a1", "a3"}))
		Expect(r.stderr).To(ContainSubstring("late event dropped"))
		Expect(r.stderr).To(ContainSubstring("late_dropped=1"))

		r = cep(dir, nil, "run", "--rules", rules, "--input", "auth.jsonl", "--allowed-lateness", "5s", "--late", "process", "--sort=false")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(alertsOf(r.stdout)).To(HaveLen(4))

		By("sorted, as a replay is by default, nothing is late")
		r = cep(dir, nil, "run", "--rules", rules, "--input", "auth.jsonl", "--allowed-lateness", "5s")
		Expect(r.code).To(Equal(0), r.stderr)
		ids = nil
		for _, a := range alertsOf(r.stdout) {
			ids = append(ids, evidenceIDs(a)...)
		}
		Expect(ids).To(Equal([]string{"a4", "a2", "a1", "a3"}))
		Expect(r.stderr).To(ContainSubstring("late=0 late_dropped=0"))
	})

	It("replays a file written newest first in event-time order", func() {
		var lines []string
		for i := 200; i > 0; i-- {
			lines = append(lines, fmt.Sprintf(`{"id":"a%d","ts":%d,"user":"u%d","outcome":"failure"}`, i, 1_767_225_600+i, i))
		}
		writeFile(dir, "auth.jsonl", strings.Join(lines, "\n")+"\n")
		rules := filepath.Join(repoRoot(), "spec/testdata/rules")
		r := cep(dir, nil, "run", "--rules", rules, "--input", "auth.jsonl", "--sort-buffer", "16KiB")
		Expect(r.code).To(Equal(0), r.stderr)
		as := alertsOf(r.stdout)
		Expect(as).To(HaveLen(200))
		Expect(evidenceIDs(as[0])).To(Equal([]string{"a1"}))
		Expect(r.stderr).To(ContainSubstring("replay sorted on disk"))
		Expect(r.stderr).To(ContainSubstring("late_dropped=0"))
	})

	It("merges files already in event-time order as they are, with the alerts sorting them gives", func() {
		writeFile(dir, "rules/fail-then-success.yaml", `id: spec.fail-then-success
title: A failed login, then a successful one
severity: medium
streams: [auth]
by: [event.user]
sequence:
  within: 1m
  steps:
    - name: failed
      where: event.outcome == "failure"
    - name: succeeded
      where: event.outcome == "success"
`)
		writeFile(dir, "rules/many-payments.yaml", `id: spec.many-payments
title: Three payments of a card in a minute
severity: low
streams: [payments]
by: [event.card]
aggregate:
  window: {type: tumbling, size: 1m}
  measures:
    n: count()
  having: n >= 3
`)
		writeFile(dir, "rules/big-payment.yaml", `id: spec.big
title: A big payment
severity: high
streams: [payments]
match: event.amount > 900.0
`)
		// Two streams of 3,000 events each, a second apart, each up to
		// three seconds out of place: within the allowed lateness of five.
		const base = 1_767_225_600_000
		lines := map[string][]string{}
		for _, stream := range []string{"auth", "payments"} {
			seen := map[int]bool{}
			for i := range 3000 {
				t := i*1000 + (i*7919)%3000
				for seen[t] {
					t++
				}
				seen[t] = true
				var l string
				if stream == "auth" {
					outcome := "success"
					if (i*31)%7 < 3 {
						outcome = "failure"
					}
					l = fmt.Sprintf(`{"id":"a%d","ts":%d,"user":"u%d","outcome":%q}`, i, base+t, (i*13)%20, outcome)
				} else {
					l = fmt.Sprintf(`{"id":"p%d","ts":%d,"card":"c%d","amount":%d}`, i, base+t, (i*17)%30, (i*7127)%1000)
				}
				lines[stream] = append(lines[stream], l)
			}
			writeFile(dir, stream+".jsonl", strings.Join(lines[stream], "\n")+"\n")
			reversed := append([]string(nil), lines[stream]...)
			for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
				reversed[i], reversed[j] = reversed[j], reversed[i]
			}
			writeFile(dir, stream+"-reversed.jsonl", strings.Join(reversed, "\n")+"\n")
			half := len(lines[stream]) / 2
			writeFile(dir, stream+"-1.jsonl", strings.Join(lines[stream][:half], "\n")+"\n")
			writeFile(dir, stream+"-2.jsonl", strings.Join(lines[stream][half:], "\n")+"\n")
		}
		matches := func(out string) []string {
			var ms []string
			for _, a := range alertsOf(out) {
				ms = append(ms, fmt.Sprint(a["rule"], a["key"], evidenceIDs(a)))
			}
			return ms
		}
		merged := cep(dir, nil, "run", "--rules", "rules", "--input", "auth.jsonl", "--input", "payments.jsonl")
		Expect(merged.code).To(Equal(0), merged.stderr)
		Expect(merged.stderr).NotTo(ContainSubstring("replay sorts its inputs"))
		Expect(merged.stderr).To(ContainSubstring("late=0 late_dropped=0"))
		By("a file written newest first is sorted")
		sorted := cep(dir, nil, "run", "--rules", "rules", "--input", "auth=auth-reversed.jsonl", "--input", "payments=payments-reversed.jsonl")
		Expect(sorted.code).To(Equal(0), sorted.stderr)
		Expect(sorted.stderr).To(ContainSubstring("replay sorts its inputs: one is not in event-time order"))
		Expect(sorted.stderr).To(ContainSubstring("late=0 late_dropped=0"))
		got, want := matches(merged.stdout), matches(sorted.stdout)
		Expect(rulesOf(alertsOf(merged.stdout))).To(HaveLen(3), "every rule fires, or the comparison proves less")
		Expect(got).To(Equal(want))
		By("a stream in two files, one after the other, is merged too")
		split := cep(dir, nil, "run", "--rules", "rules", "--input", "auth=auth-1.jsonl", "--input", "auth=auth-2.jsonl", "--input", "payments=payments-1.jsonl", "--input", "payments=payments-2.jsonl")
		Expect(split.code).To(Equal(0), split.stderr)
		Expect(split.stderr).NotTo(ContainSubstring("replay sorts its inputs"))
		Expect(split.stderr).To(ContainSubstring("late=0 late_dropped=0"))
		Expect(matches(split.stdout)).To(Equal(want))
	})

	It("explains what a rule did, event by event", func() {
		rules := filepath.Join(repoRoot(), "spec/testdata/rules")
		r := cep(dir, nil, "run", "--rules", rules, "--input", "auth.jsonl", "--explain", "spec.failed-login")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stderr).To(ContainSubstring("event a2 stream=auth"))
		Expect(r.stderr).To(ContainSubstring("spec.failed-login: match is false"))
		Expect(r.stderr).To(ContainSubstring("spec.failed-login: ALERT"))
	})

	It("rejects bad usage with exit status 2", func() {
		Expect(cep(dir, nil, "run").code).To(Equal(2))
		Expect(cep(dir, nil, "run", "--rules", "nowhere", "--input", "auth.jsonl").code).To(Equal(2))
		Expect(cep(dir, nil, "run", "--bogus").code).To(Equal(2))
	})
})

var _ = Describe("the fraud example", func() {
	It("runs from its config on the embedded default and prints alerts", func() {
		dir := GinkgoT().TempDir()
		root := repoRoot()
		cfg := writeFile(dir, "cep.yaml", `
rules: [`+filepath.Join(root, "examples/fraud/rules")+`]
lists: `+filepath.Join(root, "examples/fraud/lists")+`
prepare: {creates: data, command: [go, -C, `+root+`, run, ./examples/fraud/gen, -out, `+filepath.Join(dir, "data")+`, -seed, "7", -events, "20000"]}
sources:
  - {type: file, path: data/payments.jsonl, stream: payments}
  - {type: file, path: data/auth.jsonl, stream: auth}
  - {type: file, path: data/account.jsonl, stream: account}
sinks:
  - {name: console, type: stdout, format: json}
`)
		r := cep(dir, nil, "run", "--config", cfg)
		Expect(r.code).To(Equal(0), r.stderr)
		as := alertsOf(r.stdout)
		Expect(as).NotTo(BeEmpty())
		Expect(rulesOf(as)).To(HaveKey("fraud.tor-login"))
		Expect(filepath.Join(dir, "data", "payments.jsonl")).To(BeAnExistingFile())
	})

	It("passes its own rule tests", func() {
		r := cep(repoRoot(), nil, "test", "examples/fraud/rules")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(r.stdout).To(MatchRegexp(`(?m)^\d+ passed, 0 failed$`))
	})
})
