package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSameAlertsOnAnyDecoders: cep run gives the same alerts, byte for
// byte, on one decoder and on several, run after run. Here a window
// keeps evidence of a user's events, many of one second: among events of
// one time, evidence is kept and ordered by their arrival, which the
// copies the decoders hold ahead once took from whichever decoder made
// them.
func TestSameAlertsOnAnyDecoders(t *testing.T) {
	dir := t.TempDir()
	rule := filepath.Join(dir, "busy.yaml")
	if err := os.WriteFile(rule, []byte(`id: busy
title: Busy user
by: [event.user]
aggregate:
  window: {type: tumbling, size: 1h}
  measures: {n: count()}
  having: n >= 4
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&b, `{"id":"p%d","ts":%d,"user":"u%d","amount":%d}`+"\n", i, 1_700_000_000_000+int64(i/500)*1000, i%7, i)
	}
	input := filepath.Join(dir, "payments.jsonl")
	if err := os.WriteFile(input, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(decoders int) string {
		t.Helper()
		code, out, errs := runApp(t, "run", "--rules", rule, "--input", "payments="+input, "--decoders", fmt.Sprint(decoders))
		if code != 0 {
			t.Fatalf("cep run exited %d: %s", code, errs)
		}
		return out
	}
	want := run(1)
	if n := strings.Count(want, `"rule":"busy"`); n < 7 {
		t.Fatalf("%d alerts: the test would prove little", n)
	}
	for round := range 4 {
		for _, n := range []int{2, 3} {
			if got := run(n); got != want {
				t.Fatalf("round %d, %d decoders: the alerts differ from one decoder's", round, n)
			}
		}
	}
}
