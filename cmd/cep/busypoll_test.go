package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// engine.busy_poll changes when the service loop takes batches, never
// the alerts: a run of cep run --config gives the same file either way.
func TestBusyPollRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("rules/seq.yaml", `id: bp.brute-force
title: Failures then a success
streams: [auth]
by: [event.user]
sequence:
  within: 10m
  steps:
    - {name: fail, where: event.outcome == "failure", times: "3+"}
    - {name: ok, where: event.outcome == "success"}
`)
	var events strings.Builder
	for i := range 3000 {
		outcome := "failure"
		if i%7 == 3 || i%11 == 0 {
			outcome = "success"
		}
		fmt.Fprintf(&events, `{"id":"a%d","ts":%d,"user":"u%d","outcome":%q}`+"\n", i, 1_767_225_600+7*i, i*i%23, outcome)
	}
	write("auth.jsonl", events.String())
	run := func(engine string) []byte {
		t.Helper()
		out := "out-" + strings.NewReplacer(" ", "", ":", "", "{", "", "}", "").Replace(engine) + ".jsonl"
		write("cep.yaml", fmt.Sprintf("rules: [rules]\nsources: [{type: file, path: auth.jsonl, stream: auth}]\nengine: %s\nsinks:\n  - {name: f, type: file, file: {path: %s}}\n", engine, out))
		if code, _, errs := runApp(t, "run", "--config", filepath.Join(dir, "cep.yaml")); code != exitOK {
			t.Fatalf("engine %s: exit %d: %s", engine, code, errs)
		}
		b, err := os.ReadFile(filepath.Join(dir, out))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := run("{}")
	if n := bytes.Count(want, []byte("\n")); n < 50 {
		t.Fatalf("%d alerts: the test needs more", n)
	}
	if got := run("{busy_poll: 2ms}"); !bytes.Equal(got, want) {
		t.Fatalf("polling: %d bytes of alerts, sleeping: %d", len(got), len(want))
	}
}

func TestBusyPollBounds(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"100us", ""},
		{"-1ms", "engine.busy_poll must be between 0s and 10ms"},
		{"11ms", "engine.busy_poll must be between 0s and 10ms"},
		{"soon", "busy_poll"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "cep.yaml")
		cfg := "rules: [rules]\nsources: [{type: file, path: x.jsonl, stream: s}]\nengine: {busy_poll: " + tc.value + "}\n"
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.value, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.value, err, tc.want)
		}
	}
}
