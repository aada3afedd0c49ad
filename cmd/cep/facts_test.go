package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFactsExample runs the facts example's rule tests through `cep test`
// and lints it.
func TestFactsExample(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "facts", "rules")
	code, out, errs := runApp(t, "test", dir)
	if code != 0 || !strings.Contains(out, "3 passed, 0 failed") {
		t.Fatalf("cep test: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runApp(t, "lint", dir)
	if code != 0 || !strings.Contains(out, "0 error(s), 0 warning(s)") {
		t.Fatalf("cep lint: exit %d\n%s%s", code, out, errs)
	}
}

// TestLintFactNames: lint names unknown facts and contexts at their
// position; a config declares shared facts and contexts.
func TestLintFactNames(t *testing.T) {
	dir := t.TempDir()
	rule := `id: t.ctx
title: context and facts
match: context("customer_risk", event.user).hasValue() && seen("known_devices", event.user, event.device)
tests: [{name: none, events: [{ts: "2026-03-02T08:00:00Z", user: u}], expect: {alerts: 0}}]
`
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runApp(t, "lint", filepath.Join(dir, "r.yaml"))
	if code != 1 || !strings.Contains(out, `r.yaml:3:64: seen("known_devices"): no rule remembers a set named "known_devices"`) || strings.Contains(out, `context("customer_risk"):`) {
		t.Fatalf("lint without config: exit %d\n%s", code, out)
	}
	cfg := `rules: [r.yaml]
sources: [{type: stdin, stream: auth}]
state: {redis: {addr: 127.0.0.1:1}}
facts:
  shared: {known_devices: set}
  contexts: {customer_risk_v2: {key: "risk:{id}"}}
`
	if err := os.WriteFile(filepath.Join(dir, "cep.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runApp(t, "lint", "--config", filepath.Join(dir, "cep.yml"), filepath.Join(dir, "r.yaml"))
	if code != 1 || !strings.Contains(out, `r.yaml:3:16: context("customer_risk"): the config names no such context (contexts: customer_risk_v2)`) || strings.Contains(out, `seen("known_devices"):`) {
		t.Fatalf("lint with config: exit %d\n%s", code, out)
	}
	for name, c := range map[string]struct{ cfg, want string }{
		"on_error": {"facts: {on_error: sometimes}", `bad.yml:3:19: facts.on_error must be one of wait, unknown, got "sometimes"`},
		"key":      {`facts: {contexts: {risk: {key: "risk"}}}`, `facts.contexts.risk.key "risk" must contain {id}`},
		"redis":    {`facts: {contexts: {risk: {key: "risk:{id}"}}}`, "facts.contexts: context lives in Redis: configure state.redis"},
	} {
		bad := "rules: [r.yaml]\nsources: [{type: stdin, stream: auth}]\n" + c.cfg + "\n"
		if err := os.WriteFile(filepath.Join(dir, "bad.yml"), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errs := runApp(t, "lint", "--config", filepath.Join(dir, "bad.yml"), filepath.Join(dir, "r.yaml"))
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, want %q in\n%s", name, code, c.want, errs)
		}
	}
}
