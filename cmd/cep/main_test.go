package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runApp(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	code := a.main(args)
	return code, out.String(), errb.String()
}

// TestScenarios runs the detector scenarios of testdata/scenarios — every
// window type, measure, join type, corrections, grouping and throttling,
// with exact emission times and values — through `cep test`, the
// production path.
func TestScenarios(t *testing.T) {
	code, out, errs := runApp(t, "test", "-v", "testdata/scenarios")
	if code != 0 {
		t.Fatalf("cep test exited %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, " passed, 0 failed") {
		t.Errorf("no summary line:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		t.Log(line)
	}
}

func TestParseInput(t *testing.T) {
	for in, want := range map[string][2]string{
		"payments=data/p.jsonl":   {"payments", "data/p.jsonl"},
		"data/auth.jsonl":         {"auth", "data/auth.jsonl"},
		"-":                       {"events", "-"},
		"/x/y/login.events.jsonl": {"login", "/x/y/login.events.jsonl"},
	} {
		s, p := parseInput(in)
		if s != want[0] || p != want[1] {
			t.Errorf("parseInput(%q) = %q, %q", in, s, p)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"bogus"}, {"test", "--run", "("}, {"lint", "--format", "xml"}, {"bench", "--scenario", "nope"}} {
		if code, _, _ := runApp(t, args...); code != exitUsage {
			t.Errorf("cep %v exited %d, want %d", args, code, exitUsage)
		}
	}
}

// TestReadmeConfig checks that the configuration shown in README.md
// loads: every YAML block that starts a config, and every sink example.
func TestReadmeConfig(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlocks(string(readme))
	checked := 0
	for _, b := range blocks {
		var cfgText string
		switch {
		case strings.HasPrefix(b, "rules:"):
			cfgText = b
		case strings.HasPrefix(b, "sinks:"):
			cfgText = "rules: [rules]\nsources: [{type: stdin, stream: s}]\n" + b
		default:
			continue
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "cep.yaml")
		if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(path); err != nil {
			t.Errorf("README config does not load: %v\n%s", err, b)
		}
		checked++
	}
	if checked < 2 {
		t.Errorf("found %d config blocks in README.md", checked)
	}
}

func yamlBlocks(md string) []string {
	var out []string
	for _, part := range strings.Split(md, "```yaml\n")[1:] {
		if i := strings.Index(part, "```"); i >= 0 {
			out = append(out, part[:i])
		}
	}
	return out
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9464": true, "localhost:9464": true, "[::1]:9464": true, "127.1.2.3:1": true,
		":19465": false, "0.0.0.0:9464": false, "[::]:9464": false, "10.0.0.5:9464": false, "bogus": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
