package main

import (
	"encoding/json"
	"testing"
	"time"
)

// paceUntil never lets a paced batch go before its time, for waits
// shorter and longer than the stretch it spends yielding.
func TestPaceUntilNeverEarly(t *testing.T) {
	for _, d := range []time.Duration{0, 50 * time.Microsecond, time.Millisecond, 3 * time.Millisecond} {
		due := time.Now().Add(d)
		paceUntil(due)
		if now := time.Now(); now.Before(due) {
			t.Errorf("waiting %v returned %v early", d, due.Sub(now))
		}
	}
}

func TestShiftYears(t *testing.T) {
	for _, tc := range []struct {
		line string
		k    int
		want string
	}{
		{`{"@timestamp":"2020-09-20T16:16:09.362Z","EventID":1}`, 0, `{"@timestamp":"2020-09-20T16:16:09.362Z","EventID":1}`},
		{`{"@timestamp":"2020-09-20T16:16:09.362Z","EventID":1}`, 3, `{"@timestamp":"2023-09-20T16:16:09.362Z","EventID":1}`},
		{`{"EventID":1,"@timestamp":"1999-12-31T23:59:59Z"}`, 1, `{"EventID":1,"@timestamp":"2000-12-31T23:59:59Z"}`},
		{`{"EventID":1}`, 2, `{"EventID":1}`},
		{`{"@timestamp":"20"}`, 2, `{"@timestamp":"20"}`},
		{`{"@timestamp":"soon-09-20"}`, 2, `{"@timestamp":"soon-09-20"}`},
	} {
		if got := shiftYears(tc.line, tc.k); got != tc.want {
			t.Errorf("shiftYears(%s, %d) = %s, want %s", tc.line, tc.k, got, tc.want)
		}
	}
}

// TestBenchIdleRules: rules on a stream no event comes from change
// neither the alerts nor the counts of rules the filter scenario reports.
func TestBenchIdleRules(t *testing.T) {
	res := func(args ...string) benchResult {
		t.Helper()
		code, out, errs := runApp(t, append([]string{"bench", "--scenario", "filter", "--rules", "20", "--events", "20000", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("cep bench %v exited %d: %s", args, code, errs)
		}
		var r benchResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("cep bench %v: %v\n%s", args, err, out)
		}
		return r
	}
	plain, idle := res(), res("--idle-rules", "50")
	if plain.Alerts == 0 || idle.Alerts != plain.Alerts {
		t.Errorf("alerts: %d with idle rules, %d without", idle.Alerts, plain.Alerts)
	}
	if idle.Rules != 20 || idle.IdleRules != 50 || plain.IdleRules != 0 {
		t.Errorf("rules reported: %d and %d idle, want 20 and 50", idle.Rules, idle.IdleRules)
	}
	for _, args := range [][]string{{"--idle-rules", "-1"}, {"--scenario", "sequence", "--idle-rules", "5"}} {
		if code, _, _ := runApp(t, append([]string{"bench", "--events", "100"}, args...)...); code != exitUsage {
			t.Errorf("cep bench %v exited %d, want %d", args, code, exitUsage)
		}
	}
}
