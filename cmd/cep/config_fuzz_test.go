package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig: whatever a config file holds, loading it gives a config
// or errors, never a panic or an unbounded allocation (alias bombs
// included).
func FuzzLoadConfig(f *testing.F) {
	for _, seed := range []string{
		"rules: [rules]\nsources: [{type: stdin, stream: s}]\n",
		"rules: [r]\nengine: {allowed_lateness: 5s, memory_limit: 1GiB}\nsources: [{type: file, path: x.jsonl, time_formats: [rfc3339]}]\n",
		"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n",
		"rules: [r]\nsinks:\n  - {name: s, type: webhook, webhook: {url: \"http://x\"}}\n",
		"prepare: {creates: d, command: [true]}\n",
		"rules: [r]\nsources:\n  - {type: kafka, brokers: [a:1], topics: [t, u], stream: s, group: g, start: 2026-11-01T00:00:00Z, idle_timeout: 2s, tls: {}, sasl: {mechanism: plain, username: u, password: \"${env:P}\"}}\n",
	} {
		f.Add(seed)
	}
	if b, err := os.ReadFile("../../examples/fraud/cep.yaml"); err == nil {
		f.Add(string(b))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 1<<16 || strings.ContainsRune(src, 0) {
			return
		}
		p := filepath.Join(dir, "cep.yaml")
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(p)
		if err == nil && cfg == nil {
			t.Fatal("no config and no error")
		}
	})
}
