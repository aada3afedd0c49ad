package spec

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("cep test", func() {
	It("passes, with a summary line and exit status 0", func() {
		r := cep(repoRoot(), nil, "test", "spec/testdata/rules")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(r.stdout).To(ContainSubstring("2 passed, 0 failed"))
	})

	It("fails with a readable diff and exit status 1", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rule.yaml", `id: t.fail
title: Wrong expectation
by: [event.user]
match: event.outcome == "failure"
alert:
  fields: {user: event.user}
tests:
  - name: expects the wrong user
    events:
      - {id: a1, ts: "2026-01-01T00:00:00Z", user: u1, outcome: failure}
    expect:
      alerts:
        - {fields: {user: u2}}
  - name: expects no alert
    events:
      - {id: a1, ts: "2026-01-01T00:00:00Z", user: u1, outcome: failure}
    expect:
      alerts: 0
  - name: passes
    events:
      - {id: a1, ts: "2026-01-01T00:00:00Z", user: u1, outcome: success}
    expect:
      alerts: 0
`)
		r := cep(dir, nil, "test", ".", "--junit", "report.xml")
		Expect(r.code).To(Equal(1))
		Expect(r.stdout).To(ContainSubstring("FAIL  t.fail/expects the wrong user"))
		Expect(r.stdout).To(ContainSubstring(`- expected, not found: {"fields":{"user":"u2"}}`))
		Expect(r.stdout).To(ContainSubstring(`+ got, not expected:`))
		Expect(r.stdout).To(ContainSubstring(`"user":"u1"`))
		Expect(r.stdout).To(ContainSubstring("expected 0 alert(s), got 1"))
		Expect(r.stdout).To(ContainSubstring("1 passed, 2 failed"))
		report, err := os.ReadFile(filepath.Join(dir, "report.xml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(report)).To(ContainSubstring(`<testsuite name="t.fail" tests="3" failures="2"`))

		By("selecting tests with --run")
		r = cep(dir, nil, "test", ".", "--run", "passes$")
		Expect(r.code).To(Equal(0))
		Expect(r.stdout).To(ContainSubstring("1 passed, 0 failed"))
	})

	It("runs *.test.yaml files against the rules they name", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/r.yaml", "id: t.r\ntitle: r\nstreams: [auth]\nmatch: event.outcome == \"failure\"\n")
		writeFile(dir, "rules/r.test.yaml", `rules: [t.r]
tests:
  - name: from a file
    file: events.jsonl
    expect:
      alerts: [{events: [x2]}]
`)
		writeFile(dir, "rules/events.jsonl", `{"id":"x1","ts":1,"outcome":"success"}`+"\n"+`{"id":"x2","ts":2,"outcome":"failure"}`+"\n")
		r := cep(dir, nil, "test", "rules", "-v")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(r.stdout).To(ContainSubstring("PASS  t.r/from a file"))
	})

	It("exits 2 when a rule does not load, naming where", func() {
		r := cep(repoRoot(), nil, "test", "spec/testdata/badrules")
		Expect(r.code).To(Equal(2))
		Expect(r.stderr).To(ContainSubstring("broken.yaml:3:31"))
		Expect(r.stdout).To(ContainSubstring("2 passed, 0 failed"))
	})

	It("explains a test event by event", func() {
		r := cep(repoRoot(), nil, "test", "spec/testdata/rules", "--explain", "--run", "failed-login")
		Expect(r.code).To(Equal(0))
		Expect(r.stdout).To(ContainSubstring("=== spec.failed-login/a failure fires"))
		Expect(r.stdout).To(ContainSubstring("spec.failed-login: ALERT"))
	})
})

var _ = Describe("cep lint", func() {
	It("reports errors with positions and exit status 1", func() {
		r := cep(repoRoot(), nil, "lint", "spec/testdata/badrules")
		Expect(r.code).To(Equal(1))
		Expect(r.stdout).To(ContainSubstring("broken.yaml:3:31: undeclared reference to 'evnt'"))
		Expect(r.stdout).To(ContainSubstring("1 error(s)"))
	})

	It("warns about rules without tests and constant conditions, as JSON when asked", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "r.yaml", "id: t.w\ntitle: w\ntags: [attack.bogus, high]\nmatch: 1 == 1\n")
		r := cep(dir, nil, "lint", ".", "--format", "json")
		Expect(r.code).To(Equal(0))
		Expect(r.stdout).To(ContainSubstring(`"severity": "warning"`))
		Expect(r.stdout).To(ContainSubstring("has no tests"))
		Expect(r.stdout).To(ContainSubstring("always true"))
		Expect(r.stdout).To(ContainSubstring(`attack.bogus`))
		Expect(cep(dir, nil, "lint", ".", "--fail-on-warnings").code).To(Equal(1))
	})
})
