package correlate

import (
	"strings"
	"testing"
	"time"
)

func TestTraceKey(t *testing.T) {
	var c collector
	e, err := New(compileRules(t, reloadSeq, reloadWin), Config{}, c.add)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseKey("u")
	if err != nil || key != `["u"]` {
		t.Fatalf("ParseKey: %q %v", key, err)
	}
	e.Push(ev(t, "auth", "f1", 1, `"user":"u","outcome":"failure"`), time.Time{})
	e.Push(ev(t, "auth", "z", 5, `"user":"z","outcome":"none"`), time.Time{})
	kt, err := e.TraceKey("seq", key)
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Partials) != 1 || len(kt.Partials[0].Taken) != 1 || kt.Partials[0].Taken[0].Event != "f1" || kt.Partials[0].Taken[0].Step != "fail" {
		t.Fatalf("partials %+v; want one that took f1 at step fail", kt.Partials)
	}
	if kt.Partials[0].Deadline == nil || !kt.Partials[0].Deadline.Equal(time.Unix(1_700_000_001+600, 0)) {
		t.Errorf("deadline %v", kt.Partials[0].Deadline)
	}
	e.Push(ev(t, "auth", "f2", 6, `"user":"u","outcome":"failure"`), time.Time{})
	e.Push(ev(t, "auth", "z2", 9, `"user":"z","outcome":"none"`), time.Time{})
	kt, err = e.TraceKey("seq", key)
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Trace) == 0 || !strings.Contains(strings.Join(kt.Trace, "\n"), "with event f2") {
		t.Errorf("trace %q; want the matcher's notes about f2", kt.Trace)
	}
	if strings.Contains(strings.Join(kt.Trace, "\n"), "z2") {
		t.Errorf("trace of u names another key's event: %q", kt.Trace)
	}
	if _, err := e.TraceKey("win", key); err == nil || !strings.Contains(err.Error(), "aggregate rule") {
		t.Errorf("tracing an aggregate rule: %v", err)
	}
	if _, err := e.TraceKey("nope", key); err == nil {
		t.Error("tracing an unknown rule did not fail")
	}
	for i := range MaxTracedKeys + 2 {
		k, _ := ParseKey(string(rune('a' + i)))
		if _, err := e.TraceKey("seq", k); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.dets[0].(*sequence).traces.keys); n != MaxTracedKeys {
		t.Errorf("%d keys traced, want at most %d", n, MaxTracedKeys)
	}
	st := e.RuleStates()
	if st["seq"].Partials == 0 || st["seq"].Bytes <= 0 || st["win"].Bytes != -1 {
		t.Errorf("rule states %+v", st)
	}
	if cl := e.StreamClocks()["auth"]; !cl.Newest.Equal(time.Unix(1_700_000_009, 0)) {
		t.Errorf("auth clock %+v", cl)
	}
}
