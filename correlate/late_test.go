package correlate

import (
	"testing"
	"time"
)

// Lateness for windows and joins is judged per window and per buffer, as
// in Flink: u1@20s arrives 10 s behind the stream's newest event, beyond
// the 5 s allowed lateness, yet its window [0s, 60s) is still open, so it
// counts (issue 14 item 1). Sequences keep their reorder semantics.
func TestLateEventsCountWhileTheirWindowIsOpen(t *testing.T) {
	rs := compileRules(t, `id: count
title: Count per user
by: [event.user]
aggregate:
  window: {type: tumbling, size: 1m}
  measures: {n: count()}
`, `id: pair
title: Login and payment
join:
  within: 1m
  sides:
    - {name: a, where: event.kind == "login", by: [event.user]}
    - {name: b, where: event.kind == "pay", by: [event.user]}
`)
	col := &collector{}
	e, err := New(rs, Config{AllowedLateness: 5 * time.Second}, col.add)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		id   string
		sec  int
		rest string
	}{
		{"e1", 0, `"user":"u1","kind":"x"`},
		{"e2", 10, `"user":"u1","kind":"pay"`},
		{"e3", 30, `"user":"u2","kind":"x"`},
		{"e4", 20, `"user":"u1","kind":"login"`},
	} {
		e.Push(ev(t, "s", x.id, x.sec, x.rest), time.Time{})
	}
	e.Close()
	var n float64
	var joined bool
	for _, a := range col.alerts {
		switch a.Rule {
		case "count":
			if a.Key[0].Value == "u1" {
				n, _ = a.Fields["n"].(float64)
				if i, ok := a.Fields["n"].(int64); ok {
					n = float64(i)
				}
			}
		case "pair":
			joined = true
		}
	}
	if n != 3 {
		t.Errorf("u1's window counted %v events, want 3 (the late one included)", n)
	}
	if !joined {
		t.Error("the late login did not meet the payment 10 s before it")
	}
	if s := e.Stats(); s.Late != 1 || s.LateDropped != 0 {
		t.Errorf("late %d, dropped %d; want 1 late and none dropped", s.Late, s.LateDropped)
	}
}
