package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sinkRun writes three failed logins and a config that sends their alerts
// to the given sinks, runs it, and returns the exit code and stderr.
func sinkRun(t *testing.T, sinks string) (int, string) {
	t.Helper()
	dir := t.TempDir()
	var events strings.Builder
	for i := range 3 {
		fmt.Fprintf(&events, `{"id":"a%d","ts":%d,"user":"u%d","outcome":"failure"}`+"\n", i, 1_767_225_600+i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.jsonl"), []byte(events.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, _ := filepath.Abs("../../spec/testdata/rules")
	cfg := fmt.Sprintf("rules: [%s]\nsources: [{type: file, path: auth.jsonl, stream: auth}]\nsinks:\n%s", rules, sinks)
	path := filepath.Join(dir, "cep.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runApp(t, "run", "--config", path)
	return code, errs
}

// Alerts a sink could neither deliver nor spool make cep exit 3, with the
// count; a sink whose destination cannot be created fails at start.
func TestRunExitCodesForUndeliveredAlerts(t *testing.T) {
	tests := []struct {
		name  string
		sinks string
		code  int
		want  string
	}{
		{"destination down, no spool dir", `
  - name: soar
    type: webhook
    retry: {max_attempts: 2, initial_interval: 1ms, max_interval: 2ms}
    webhook: {url: "http://127.0.0.1:1/hook"}
`, exitRuntime, "sink soar: 3 alert(s) lost"},
		{"destination down, spool dir", `
  - name: soar
    type: webhook
    retry: {max_attempts: 2, initial_interval: 1ms, max_interval: 2ms}
    spool: {dir: spool}
    webhook: {url: "http://127.0.0.1:1/hook"}
`, exitOK, ""},
		{"file sink that cannot be created", `
  - name: archive
    type: file
    file: {path: /dev/null/alerts.jsonl}
`, exitRuntime, "starting sinks: sink \"archive\": file: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, errs := sinkRun(t, tc.sinks)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, errs)
			}
		})
	}
}
