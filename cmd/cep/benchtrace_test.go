package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchTrace runs a paced sequence with --trace through the CLI: the
// trace is written, and read back into a summary whose shares add up.
func TestBenchTrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.trace")
	code, out, errs := runApp(t, "bench", "--scenario", "sequence", "--events", "40000", "--rate", "200000", "--stall-probe", "0s", "--cpu", "2",
		"--trace", path, "--trace-wait", "1us", "--json")
	if code != 0 {
		t.Fatalf("cep bench exited %d: %s", code, errs)
	}
	var r benchResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("no trace written: %v", err)
	}
	tr := r.Trace
	if tr == nil {
		t.Fatalf("no trace summary in %s", out)
	}
	if tr.WaitOverMs != 0.001 || tr.Waits == 0 {
		t.Errorf("%d waits of %v ms or more: want the 1 µs asked for, and some", tr.Waits, tr.WaitOverMs)
	}
	if sum := tr.MarkingShare + tr.BusyShare + tr.IdleShare; sum < 99.9 || sum > 100.1 {
		t.Errorf("the shares of the waited time add up to %.2f%%", sum)
	}
	// The waits by goroutine add up to them all, and the engine's loop,
	// which the batches wake, is among the goroutines named.
	var waits int
	var waited float64
	engine := false
	for _, g := range tr.ByGoroutine {
		waits += g.Waits
		waited += g.WaitedMs
		engine = engine || strings.Contains(g.Name, "Runtime")
	}
	if waits != tr.Waits || waited < tr.WaitedMs-0.001 || waited > tr.WaitedMs+0.001 {
		t.Errorf("by goroutine %d waits, %.3f ms; in all %d, %.3f ms", waits, waited, tr.Waits, tr.WaitedMs)
	}
	if !engine {
		t.Errorf("no waits of the runtime's goroutines among %+v", tr.ByGoroutine)
	}

	code, out, errs = runApp(t, "bench", "--scenario", "sequence", "--events", "20000", "--trace", filepath.Join(t.TempDir(), "t"))
	if code != 0 {
		t.Fatalf("cep bench exited %d: %s", code, errs)
	}
	if !strings.Contains(out, "  trace: ") || !strings.Contains(out, "mark workers ran") {
		t.Errorf("the summary is not printed:\n%s", out)
	}
}

func TestBenchTraceFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--trace-wait", "2ms"},
		{"--trace", "x.trace", "--trace-wait", "0s"},
	} {
		code, _, errs := runApp(t, append([]string{"bench", "--scenario", "sequence", "--events", "100"}, args...)...)
		if code == 0 || !strings.Contains(errs, "--trace-wait is the least wait") {
			t.Errorf("cep bench %s: exit %d, %q; want an error about --trace-wait", strings.Join(args, " "), code, errs)
		}
	}
}
