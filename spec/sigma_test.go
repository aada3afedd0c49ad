package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// alertsByTitle runs rules over a Windows event file and returns, for
// each alert title, the evidence event ids of each alert.
func alertsByTitle(dir, rulesDir, events string) map[string][]string {
	GinkgoHelper()
	r := cep(dir, nil, "run", "--rules", rulesDir, "--input", "windows="+events, "--progress", "never")
	Expect(r.code).To(Equal(0), r.stderr)
	out := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var a struct {
			Title  string `json:"title"`
			Events []struct {
				Event struct {
					ID string `json:"id"`
				} `json:"event"`
			} `json:"events"`
		}
		Expect(json.Unmarshal([]byte(line), &a)).To(Succeed())
		var ids []string
		for _, e := range a.Events {
			ids = append(ids, e.Event.ID)
		}
		out[a.Title] = append(out[a.Title], strings.Join(ids, "+"))
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

var _ = Describe("cep import sigma", func() {
	var dir, out string
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		out = filepath.Join(dir, "rules")
	})

	It("imports rules, refuses what it cannot translate with the reason, and lints the result", func() {
		r := cep(repoRoot(), nil, "import", "sigma", "spec/testdata/sigma", "--mapping", "windows-raw", "--output", out)
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(r.stdout).To(ContainSubstring("8 file(s), 11 rule(s): 8 imported (72.7%)"))
		Expect(r.stdout).To(ContainSubstring("refused spec/testdata/sigma/refused_aggregation.yml: aggregation in condition (Sigma 1.0)"))
		Expect(r.stdout).To(ContainSubstring("refused spec/testdata/sigma/refused_expand.yml: placeholder (expand)"))
		Expect(r.stdout).To(ContainSubstring("refused spec/testdata/sigma/refused_regex.yml: regex RE2 cannot run"))
		Expect(r.stdout).To(ContainSubstring("  refused: 1: placeholder (expand)"))
		Expect(r.stdout).To(ContainSubstring("loaded 8 rule(s): 0 error(s)"))

		By("writing one reviewable file per rule, with the Sigma header")
		b, err := os.ReadFile(filepath.Join(out, "proc_modifiers.yaml"))
		Expect(err).NotTo(HaveOccurred())
		text := string(b)
		Expect(text).To(ContainSubstring("# Sigma id: 5a1e0000-0000-4000-8000-000000000001"))
		Expect(text).To(ContainSubstring("# Sigma title: Suspicious encoded PowerShell from Office"))
		Expect(text).To(ContainSubstring("# Source: proc_modifiers.yml"))
		Expect(text).To(ContainSubstring("# Licence: Detection Rule License (DRL) 1.1"))
		Expect(text).To(ContainSubstring("id: sigma.5a1e0000-0000-4000-8000-000000000001"))
		Expect(text).To(ContainSubstring("severity: high"))
		Expect(text).To(ContainSubstring("False positives: Macros that admins wrote"))
		Expect(text).To(ContainSubstring("tags: [attack.execution, attack.t1059.001]"))
		Expect(text).To(ContainSubstring("missing_fields: false_if_missing"))

		By("correlations becoming aggregate, sequence and join rules")
		files, err := filepath.Glob(filepath.Join(out, "correlations.*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var kinds []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			for _, k := range []string{"aggregate:", "sequence:", "join:"} {
				if strings.Contains(string(b), "\n"+k) {
					kinds = append(kinds, k)
				}
			}
		}
		sort.Strings(kinds)
		Expect(kinds).To(Equal([]string{"aggregate:", "aggregate:", "join:", "sequence:"}))

		By("printing a JSON summary for tools")
		r = cep(repoRoot(), nil, "import", "sigma", "spec/testdata/sigma", "--mapping", "windows-raw", "--output", out, "--format", "json", "--no-lint")
		Expect(r.code).To(Equal(0))
		var sum struct {
			Imported int            `json:"imported"`
			ByReason map[string]int `json:"refused_by_reason"`
		}
		Expect(json.Unmarshal([]byte(r.stdout), &sum)).To(Succeed())
		Expect(sum.Imported).To(Equal(8))
		Expect(sum.ByReason).To(HaveKeyWithValue("regex RE2 cannot run", 1))
	})

	It("fires with Sigma's semantics: modifiers, wildcards, case, missing fields, numbers in strings, correlations", func() {
		r := cep(repoRoot(), nil, "import", "sigma", "spec/testdata/sigma", "--mapping", "windows-raw", "--output", out, "--no-lint")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		got := alertsByTitle(repoRoot(), out, "spec/testdata/sigma/events.jsonl")
		Expect(got).To(Equal(map[string][]string{
			// e1: endswith on WINWORD.EXE and POWERSHELL.EXE ignores case,
			// windash matches /enc, and the filter's fields are missing,
			// so "not filter" holds. e2 is Security 4688 (channel
			// "security"), read through NewProcessName and
			// ParentProcessName; it has no OriginalFileName or Hashes, so
			// the filter cannot hold there. e3 is filtered.
			"Suspicious encoded PowerShell from Office": {"e1", "e2"},
			// e4: ?:\Windows\System32\rundll32.exe against
			// D:\WINDOWS\system32\RUNDLL32.EXE, EventID "1"; e5: base64
			// of http:// at an offset.
			"Rundll32 from a user folder": {"e4", "e5"},
			// Channel SECURITY and EventID "4625" match too.
			"Failed logon": {"f1", "f2", "f3"},
			// l1: LogonType "3"; l3: no IpAddress, so neither filter
			// holds; l2 is in 10.0.0.0/8.
			"Network logon with a short key":         {"l1", "l3"},
			"Brute force on one account":             {"f1+f2+f3"},
			"One account from many addresses":        {"f1+f2+f3"},
			"Failures then a network logon":          {"f1+l1"},
			"Failure and network logon in any order": {"l1+f1", "l1+f2", "l1+f3"},
		}))
	})

	It("maps fields and log sources for the evtx_dump layout", func() {
		writeFile(dir, "sigma/r.yml", `title: Whoami from 4688
id: 5a1e0000-0000-4000-8000-000000000030
status: test
level: low
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection
`)
		writeFile(dir, "events.jsonl", `{"ts":"2026-03-02T08:00:00Z","id":"x1","Event":{"System":{"Channel":"Security","EventID":4688},"EventData":{"NewProcessName":"C:\\Windows\\System32\\WHOAMI.EXE"}}}
{"ts":"2026-03-02T08:00:01Z","id":"x2","Event":{"System":{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":{"#attributes":{"Qualifiers":0},"#text":1}},"EventData":{"Image":"C:\\Windows\\System32\\whoami.exe"}}}
{"ts":"2026-03-02T08:00:02Z","id":"x3","Event":{"System":{"Channel":"Security","EventID":4689},"EventData":{"NewProcessName":"C:\\Windows\\System32\\whoami.exe"}}}
`)
		r := cep(dir, nil, "import", "sigma", "sigma", "--mapping", "windows-evtx", "--output", "out")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(alertsByTitle(dir, "out", "events.jsonl")).To(Equal(map[string][]string{"Whoami from 4688": {"x1", "x2"}}))
	})

	It("writes a test from example events beside the rule, which cep test runs", func() {
		src, err := os.ReadFile(filepath.Join(repoRoot(), "spec/testdata/sigma/failed_logon.yml"))
		Expect(err).NotTo(HaveOccurred())
		writeFile(dir, "sigma/failed_logon.yml", string(src))
		writeFile(dir, "sigma/failed_logon.events.jsonl", `{"ts":"2026-03-02T08:01:00Z","Channel":"Security","EventID":4625,"TargetUserName":"alice"}
{"ts":"2026-03-02T08:01:01Z","Channel":"security","EventID":"4625","TargetUserName":"bob"}
`)
		r := cep(dir, nil, "import", "sigma", "sigma", "--output", "out")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(r.stdout).To(ContainSubstring("loaded 1 rule(s): 0 error(s), 0 warning(s)"))
		r = cep(dir, nil, "test", "out")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(r.stdout).To(ContainSubstring("1 passed, 0 failed"))
	})

	It("refuses bad usage with exit status 2", func() {
		r := cep(repoRoot(), nil, "import", "sigma", "spec/testdata/sigma")
		Expect(r.code).To(Equal(2))
		Expect(r.stderr).To(ContainSubstring("needs --output"))
		r = cep(repoRoot(), nil, "import", "sigma", "spec/testdata/sigma", "--mapping", "nosuch", "--output", out)
		Expect(r.code).To(Equal(2))
		Expect(r.stderr).To(ContainSubstring(`no mapping named "nosuch"`))
	})
})

var _ = Describe("cep lint --mapping", func() {
	It("warns about case-sensitive comparisons of case-insensitive fields", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rule.yaml", `id: t.case
title: Hand-written Windows rule
streams: [windows]
match: event.Channel == "Security" && event.NewProcessName.endsWith("\\cmd.exe") && event.CommandLine.icontains("/c")
tests:
  - events: [{ts: 1, Channel: Security, NewProcessName: 'C:\Windows\cmd.exe', CommandLine: '/c x'}]
    expect: {alerts: 1}
`)
		r := cep(dir, nil, "lint", "--mapping", "windows-raw", ".")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(r.stdout).To(ContainSubstring("rule.yaml:4:22: warning: == compares event.Channel with case, but mapping windows-raw marks it case-insensitive: use iequals"))
		Expect(r.stdout).To(ContainSubstring("warning: endsWith compares event.NewProcessName with case"))
		Expect(r.stdout).NotTo(ContainSubstring("event.CommandLine with case"))
		Expect(r.stdout).To(ContainSubstring("0 error(s), 2 warning(s)"))
	})
})
