package ruletest

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/rulefmt"
)

func alerts(tb testing.TB, js string) []map[string]any {
	tb.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(js), &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestCompareAlerts(t *testing.T) {
	got := `[{"key":{"event.user":"u1"},"time":"2026-03-02T08:00:00Z","fields":{"n":3,"user":"u1"},"events":[{"id":"a1"},{"id":"a2"}]},
	         {"key":{"event.user":"u2"},"time":"2026-03-02T09:00:00Z","fields":{"n":1}}]`
	tests := []struct {
		name, expect, diff string
	}{
		{"count", `{"alerts": 2}`, ""},
		{"wrong count", `{"alerts": 1}`, "expected 1 alert(s), got 2"},
		{"partial fields and evidence ids", `{"alerts": [{"fields": {"n": 3.0}, "events": ["a1", "a2"]}, {"key": {"event.user": "u2"}}]}`, ""},
		{"time in another zone", `{"alerts": [{"time": "2026-03-02T10:00:00+02:00"}, {"fields": {"n": 1}}]}`, ""},
		{"a missing alert", `{"alerts": [{"fields": {"user": "u3"}}, {"fields": {"n": 1}}]}`, `- expected, not found: {"fields":{"user":"u3"}}`},
		{"evidence out of order", `{"alerts": [{"events": ["a2", "a1"]}, {"fields": {"n": 1}}]}`, "+ got, not expected:"},
	}
	for _, tt := range tests {
		var raw struct {
			Alerts json.RawMessage `json:"alerts"`
		}
		if err := json.Unmarshal([]byte(tt.expect), &raw); err != nil {
			t.Fatal(err)
		}
		var exp = expectFrom(t, raw.Alerts)
		diff := compareAlerts(exp, alerts(t, got))
		if (tt.diff == "") != (diff == "") || !strings.Contains(diff, tt.diff) {
			t.Errorf("%s: diff %q, want %q", tt.name, diff, tt.diff)
		}
	}
}

func TestRunReadsFilesAndSelects(t *testing.T) {
	dir := t.TempDir()
	rule := `id: t.r
title: r
streams: [auth]
match: event.x == 1
tests:
  - name: from a file
    file: events.jsonl
    expect: {alerts: 1}
  - name: a missing file
    file: nowhere.jsonl
    expect: {alerts: 0}
`
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "events.jsonl"), []byte("{\"x\":1}\n\n{\"x\":2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set := c.Load(dir)
	if len(set.Errors) > 0 {
		t.Fatal(set.Errors)
	}
	var seen []Input
	engine := func(rs []*rules.Rule, inputs []Input, explain io.Writer) ([]map[string]any, error) {
		seen = inputs
		return []map[string]any{{"rule": rs[0].ID}}, nil
	}
	res := Run(set, engine, Options{})
	if len(res) != 2 || !res[0].Passed() || res[1].Err == nil || !errors.Is(res[1].Err, os.ErrNotExist) {
		t.Fatalf("results %+v", res)
	}
	if len(seen) != 1 || seen[0].Stream != "auth" || len(seen[0].Lines) != 2 || seen[0].Lines[1].Pos.Line != 3 {
		t.Errorf("inputs %+v", seen)
	}
	res = Run(set, engine, Options{Run: regexp.MustCompile("from")})
	if len(res) != 1 || res[0].FullName() != "t.r/from a file" {
		t.Errorf("--run selected %+v", res)
	}
}

// expectFrom builds an Expect as the format package would: a count or a
// list of partial alerts.
func expectFrom(tb testing.TB, raw json.RawMessage) rulefmt.Expect {
	tb.Helper()
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return rulefmt.Expect{Count: n}
	}
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err != nil {
		tb.Fatal(err)
	}
	return rulefmt.Expect{Alerts: list, Listed: true, Count: len(list)}
}

// A test file is code from a repository: its data paths may not reach
// outside the rules directories (issue 13 item 9).
func TestTestDataConfinedToRoots(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "creds.jsonl")
	if err := os.WriteFile(secret, []byte(`{"ts":1,"password":"hunter2"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(root, "testdata", "ok.jsonl")
	if err := os.MkdirAll(filepath.Dir(inside), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inside, []byte(`{"ts":1}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "testdata", "link.jsonl")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		ok         bool
	}{
		{"relative inside", "testdata/ok.jsonl", true},
		{"absolute inside", inside, true},
		{"relative escaping", rel, false},
		{"absolute outside", secret, false},
		{"symbolic link out", "testdata/link.jsonl", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveData(root, tt.path, []string{root})
			if (err == nil) != tt.ok {
				t.Errorf("resolveData(%q) error %v, want ok=%v", tt.path, err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "--test-data") {
				t.Errorf("the error does not say how to allow it: %v", err)
			}
		})
	}
	if _, err := resolveData(root, secret, []string{root, outside}); err != nil {
		t.Errorf("a directory added with --test-data is refused: %v", err)
	}
}
