package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cep-project/cep/examples/fraud/fraudgen"
)

// fenced returns the fenced blocks of md in the given language whose
// first line is the given comment (or all of them, for "").
func fenced(md, lang, first string) []string {
	var out []string
	for _, part := range strings.Split(md, "```"+lang+"\n")[1:] {
		i := strings.Index(part, "```")
		if i < 0 {
			continue
		}
		b := part[:i]
		if first == "" || strings.HasPrefix(b, first+"\n") {
			out = append(out, b)
		}
	}
	return out
}

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The README's first rule, with its list, passes its own test and fires
// on its event in a replay, exactly as the README says.
func TestReadmeFirstRule(t *testing.T) {
	md := readme(t)
	rule := fenced(md, "yaml", "# rules/tor-login.yaml")
	list := fenced(md, "text", "# lists/tor_exit_nodes.txt")
	if len(rule) != 1 || len(list) != 1 {
		t.Fatalf("found %d first rules and %d lists in README.md", len(rule), len(list))
	}
	dir := t.TempDir()
	for name, content := range map[string]string{"rules/tor-login.yaml": rule[0], "lists/tor_exit_nodes.txt": list[0],
		"auth.jsonl": `{"id":"a1","ts":"2026-03-02T08:00:00Z","user":"u-1","ip":"198.51.100.7","outcome":"success","geo":{"country":"NG"}}` + "\n"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := runApp(t, "test", filepath.Join(dir, "rules"))
	if code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("cep test on the README's first rule: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runApp(t, "run", "--rules", filepath.Join(dir, "rules"), "--input", "auth="+filepath.Join(dir, "auth.jsonl"))
	if code != 0 || !strings.Contains(out, `"rule":"fraud.tor-login"`) {
		t.Fatalf("cep run on the README's first rule: exit %d\n%s%s", code, out, errs)
	}
}

// The sample alert in the README's Alerts section is one the fraud
// example really produces, to the millisecond.
func TestReadmeSampleAlert(t *testing.T) {
	md := readme(t)
	i := strings.Index(md, "\n## Alerts\n")
	if i < 0 {
		t.Fatal("no Alerts section in README.md")
	}
	samples := fenced(md[i:], "json", "")
	if len(samples) == 0 {
		t.Fatal("no JSON sample in the Alerts section")
	}
	var want map[string]any
	sample := strings.Replace(samples[0], `{"...": "the original event"}`, `null`, 1)
	if err := json.Unmarshal([]byte(sample), &want); err != nil {
		t.Fatalf("the sample alert is not JSON: %v\n%s", err, sample)
	}
	dir := t.TempDir()
	// As examples/fraud/cep.yaml's prepare command writes it.
	if err := fraudgen.Generate(filepath.Join(dir, "data"), fraudgen.Config{Seed: 7, Events: 20000, Rate: 4}.Defaults()); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--rules", "../../examples/fraud/rules", "--output", filepath.Join(dir, "alerts.jsonl")}
	for _, s := range fraudgen.Streams {
		args = append(args, "--input", s+"="+filepath.Join(dir, "data", s+".jsonl"))
	}
	if code, out, errs := runApp(t, args...); code != 0 {
		t.Fatalf("replaying the fraud example: exit %d\n%s%s", code, out, errs)
	}
	got, err := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		var a map[string]any
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		if a["id"] != want["id"] {
			continue
		}
		for _, k := range []string{"rule", "rule_version", "title", "severity", "tags", "time", "key", "fields", "priority"} {
			gb, _ := json.Marshal(a[k])
			wb, _ := json.Marshal(want[k])
			if string(gb) != string(wb) {
				t.Errorf("README sample alert: %s is %s, a real run gives %s", k, wb, gb)
			}
		}
		return
	}
	t.Errorf("no alert of the fraud example has the README sample's id %v", want["id"])
}
