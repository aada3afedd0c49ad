package correlate

import (
	"fmt"
	"testing"
	"time"
)

// Detector state stays within its byte budget whatever the rule kind:
// keys that never complete are shed, oldest first, and counted per rule.
func TestStateBudget(t *testing.T) {
	for _, tt := range []struct {
		name, rule string
		event      func(i int) string
	}{
		{"sequence", `id: r
title: a then b
by: [event.k]
sequence:
  within: 1h
  steps:
    - {name: a, where: event.t == "a"}
    - {name: b, where: event.t == "b"}
`, func(i int) string { return fmt.Sprintf(`"k":"k%d","t":"a"`, i) }},
		{"window", `id: r
title: sum per key
by: [event.k]
aggregate:
  window: {type: sliding, size: 1h}
  measures: {s: sum(event.x)}
  having: s > 1000000.0
`, func(i int) string { return fmt.Sprintf(`"k":"k%d","x":1`, i) }},
		{"join", `id: r
title: a and b
join:
  within: 1h
  sides:
    - {name: a, where: event.t == "a", by: [event.k]}
    - {name: b, where: event.t == "b", by: [event.k]}
`, func(i int) string { return fmt.Sprintf(`"k":"k%d","t":"a"`, i) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const budget = 2 << 20
			col := &collector{}
			e, err := New(compileRules(t, tt.rule), Config{Limits: Limits{MaxStateBytes: budget}}, col.add)
			if err != nil {
				t.Fatal(err)
			}
			peak := int64(0)
			for i := range 60000 {
				e.Push(ev(t, "s", fmt.Sprintf("e%d", i), i/100, tt.event(i)), time.Time{})
				if b := e.RuleStats()["r"].Bytes; i%4096 == 0 && b > peak {
					peak = b
				}
			}
			rs := e.RuleStats()["r"]
			if rs.ShedItems == 0 || rs.ShedBytes == 0 || e.Stats().StateShed == 0 {
				t.Fatalf("nothing shed: %+v", rs)
			}
			// Between two checks state grows by at most checkBudgetEvery
			// events' worth.
			if peak > budget+budget/2 {
				t.Errorf("state reached %d bytes under a %d-byte budget", peak, budget)
			}
			e.Close()
		})
	}
}
