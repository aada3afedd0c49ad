package spec

import (
	"os"
	"path/filepath"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// Silent misconfiguration must not pass quietly (issue 14 item 15).
var _ = Describe("misconfiguration is said out loud", func() {
	var dir, rules string
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		rules = filepath.Join(repoRoot(), "spec/testdata/rules")
		writeFile(dir, "auth.jsonl", `{"id":"a1","ts":"2026-01-01T00:00:00Z","user":"u1","outcome":"failure"}`+"\n")
	})

	It("warns about an input stream no rule reads", func() {
		r := cep(dir, nil, "run", "--rules", rules, "--input", "autth=auth.jsonl")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stderr).To(ContainSubstring("no rule reads this stream"))
		Expect(r.stderr).To(ContainSubstring("stream=autth"))
	})

	It("refuses to explain a rule that is not loaded", func() {
		r := cep(dir, nil, "run", "--rules", rules, "--input", "auth=auth.jsonl", "--explain", "fraud.nope")
		Expect(r.code).To(Equal(2))
		Expect(r.stderr).To(ContainSubstring(`no rule "fraud.nope"`))
	})

	It("fails a test run whose --run selects nothing", func() {
		r := cep(dir, nil, "test", "--run", "nomatch", rules)
		Expect(r.code).To(Equal(2))
		Expect(r.stderr).To(ContainSubstring(`--run "nomatch" matches no test`))
	})

	It("fails a replay where every line is malformed", func() {
		writeFile(dir, "bad.jsonl", "not json\n{\"no\": \"time\"}\n")
		r := cep(dir, nil, "run", "--rules", rules, "--input", "auth=bad.jsonl")
		Expect(r.code).To(Equal(3))
		Expect(r.stderr).To(ContainSubstring("every input line (2) was malformed"))
	})

	It("gives a path that is not there the same exit status in lint, test and run", func() {
		for _, args := range [][]string{
			{"lint", "/nonexistent"},
			{"test", "/nonexistent"},
			{"run", "--rules", "/nonexistent", "--input", "auth.jsonl"},
		} {
			r := cep(dir, nil, args...)
			Expect(r.code).To(Equal(2), "cep %v: %s", args, r.stderr)
			Expect(r.stderr).To(ContainSubstring("/nonexistent"))
		}
	})

	It("explains an evaluation error as an error, not as a false condition", func() {
		writeFile(dir, "rules/amount.yaml", "id: t.amount\ntitle: Big\nstreams: [auth]\nmatch: event.amount > 10.0\n")
		r := cep(dir, nil, "run", "--rules", "rules", "--input", "auth=auth.jsonl", "--explain", "t.amount")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stderr).To(ContainSubstring("match could not be evaluated"))
		Expect(r.stderr).NotTo(ContainSubstring("match is false"))
	})

	It("says which build it is", func() {
		r := cep(dir, nil, "version")
		Expect(r.code).To(Equal(0))
		Expect(r.stdout).To(MatchRegexp(`^cep \S+ \(module github.com/cep-project/cep .*go1\.\d+`))
	})

	It("warns when metrics listen beyond loopback", func() {
		cfg := writeFile(dir, "cep.yaml", `
rules: [`+rules+`]
sources: [{type: file, path: auth.jsonl, stream: auth, follow: true}]
metrics: {listen: ":0"}
`)
		s := startCep(dir, "run", "--config", cfg)
		Eventually(s.Err).Should(gbytes.Say("not a loopback address"))
		s.Signal(syscall.SIGTERM)
		Eventually(s).Should(gexec.Exit(0))
	})
})

var _ = Describe("rule tests", func() {
	It("cannot read files outside the rules directories", func() {
		dir := GinkgoT().TempDir()
		secret := writeFile(dir, "secret/creds.jsonl", `{"ts":"2026-01-01T00:00:00Z","password":"hunter2"}`+"\n")
		writeFile(dir, "rules/leak.yaml", `id: t.leak
title: Reads a file it should not
match: "true"
tests:
  - name: leaks
    file: ../secret/creds.jsonl
    expect: {alerts: 0}
`)
		r := cep(dir, nil, "test", "rules")
		Expect(r.code).To(Equal(1))
		Expect(r.stdout).To(ContainSubstring("is outside the rules directories"))
		Expect(r.stdout + r.stderr).NotTo(ContainSubstring("hunter2"))

		By("allowing the directory explicitly")
		r = cep(dir, nil, "test", "rules", "--test-data", filepath.Dir(secret))
		Expect(r.stdout).To(Or(ContainSubstring("1 passed, 0 failed"), ContainSubstring("0 passed, 1 failed")))
		Expect(r.stdout).NotTo(ContainSubstring("outside the rules directories"))
	})
})

var _ = Describe("a JUnit report", func() {
	It("shows files that do not load as errors, with plain paths and decimal times", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/good.yaml", `id: t.good
title: Good
match: event.x == 1.0
tests:
  - name: fires
    events: [{id: e1, ts: "2026-01-01T00:00:00Z", x: 1}]
    expect: {alerts: 1}
`)
		writeFile(dir, "rules/broken.yaml", "id: t.broken\ntitle: Broken\nmatch: event.x ==\n")
		r := cep(dir, nil, "test", "rules", "--junit", "report.xml")
		Expect(r.code).To(Equal(2), r.stdout+r.stderr)
		report, err := os.ReadFile(filepath.Join(dir, "report.xml"))
		Expect(err).NotTo(HaveOccurred())
		xml := string(report)
		Expect(xml).To(ContainSubstring(`<testsuite name="files that do not load" tests="1" failures="0" errors="1"`))
		Expect(xml).To(MatchRegexp(`file="rules/broken.yaml" line="3"`))
		Expect(xml).To(MatchRegexp(`file="rules/good.yaml" line="\d+" time="\d+\.\d{6}"`))
		Expect(xml).NotTo(MatchRegexp(`time="[^"]*e-`))
	})
})

var _ = Describe("a directory with a cep config", func() {
	It("is tested and linted by the rules its config names, and other YAML is skipped with a note", func() {
		for _, cmd := range []string{"test", "lint"} {
			r := cep(repoRoot(), nil, cmd, "examples/fraud")
			Expect(r.code).To(Equal(0), "cep %s: %s%s", cmd, r.stdout, r.stderr)
			Expect(r.stderr).To(ContainSubstring("is a cep config: using its rules"))
		}
		r := cep(repoRoot(), nil, "lint", "examples/fraud/models")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(r.stderr).To(ContainSubstring("an online model, not a rule file"))
	})
})

var _ = Describe("missing-field semantics", func() {
	It("are set for every rule by --missing-fields and cel.missing_fields", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/sel.yaml", `id: t.sel
title: selection and not filter
match: event.Image.iendsWith("\\cmd.exe") && !(event.ParentImage.iendsWith("\\explorer.exe"))
`)
		writeFile(dir, "win.jsonl", `{"id":"e1","ts":"2026-01-01T00:00:00Z","Image":"C:\\Windows\\System32\\CMD.EXE"}`+"\n")
		r := cep(dir, nil, "run", "--rules", "rules", "--input", "win=win.jsonl")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(alertsOf(r.stdout)).To(BeEmpty(), "by default a missing field fails the condition")
		r = cep(dir, nil, "run", "--rules", "rules", "--input", "win=win.jsonl", "--missing-fields", "false_if_missing")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(alertsOf(r.stdout)).To(HaveLen(1))
		cfg := writeFile(dir, "cep.yaml", "rules: [rules]\ncel: {missing_fields: false_if_missing}\nsources: [{type: file, path: win.jsonl, stream: win}]\n")
		r = cep(dir, nil, "run", "--config", cfg)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(alertsOf(r.stdout)).To(HaveLen(1))
	})
})
