package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
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

// TestBenchPacedLatencyFromDue: a paced run measures each alert's latency
// from its event's due time as well as from its hand-over, which comes
// at or after the due time: the first can be no shorter.
func TestBenchPacedLatencyFromDue(t *testing.T) {
	code, out, errs := runApp(t, "bench", "--scenario", "sequence", "--events", "40000", "--rate", "200000", "--stall-probe", "0s", "--json")
	if code != 0 {
		t.Fatalf("cep bench exited %d: %s", code, errs)
	}
	var r benchResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Alerts == 0 || r.LatencyP50Us <= 0 || r.LatencyDueP50Us <= 0 {
		t.Fatalf("%d alerts, latency p50 %.1f µs, from the due time %.1f µs: want both measured", r.Alerts, r.LatencyP50Us, r.LatencyDueP50Us)
	}
	if r.LatencyDueP50Us < r.LatencyP50Us || r.LatencyDueP99Us < r.LatencyP99Us {
		t.Errorf("from the due time p50 %.1f, p99 %.1f µs; from the hand-over %.1f, %.1f: want no less", r.LatencyDueP50Us, r.LatencyDueP99Us, r.LatencyP50Us, r.LatencyP99Us)
	}
}

// An event's hand-over is its batch's: the batch whose first number is
// the greatest at or below the event's.
func TestHandoverOf(t *testing.T) {
	var l handoverLog
	if _, ok := l.of(1); ok {
		t.Fatal("an empty log found a hand-over")
	}
	l.add(1, 100, 0)
	l.add(4, 200, 150)
	l.add(9, 300, 0)
	for _, tc := range []struct {
		seq    uint64
		want   int64
		wantOK bool
	}{
		{0, 0, false},
		{1, 100, true},
		{3, 100, true},
		{4, 200, true},
		{8, 200, true},
		{9, 300, true},
		{1000, 300, true},
	} {
		h, ok := l.of(tc.seq)
		if ok != tc.wantOK || h.at != tc.want {
			t.Errorf("of(%d) = %d, %v; want %d, %v", tc.seq, h.at, ok, tc.want, tc.wantOK)
		}
	}
	if h, _ := l.of(5); h.due != 150 {
		t.Errorf("of(5).due = %d, want its batch's 150", h.due)
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

// TestBenchWindowsSequenceRules runs the two rule sets of the Windows
// sequence docs/PERFORMANCE.md measures over Sysmon-shaped events, some
// writes without a ProcessId: both load, and find the same alerts, the
// one as written counting an evaluation error where the other, under
// false_if_missing, answers false.
func TestBenchWindowsSequenceRules(t *testing.T) {
	var b strings.Builder
	base := time.Date(2020, 9, 4, 7, 30, 0, 0, time.UTC)
	for i := range 400 {
		ts := base.Add(time.Duration(i) * 100 * time.Millisecond).Format(time.RFC3339Nano)
		image, pid := fmt.Sprintf(`C:\\Windows\\p%d.exe`, i%7), i%5
		if i%3 == 0 {
			fmt.Fprintf(&b, `{"@timestamp":%q,"host":"h","EventID":12,"Image":"%s"`, ts, image)
			if i%2 == 0 {
				fmt.Fprintf(&b, `,"ProcessId":%d`, pid)
			}
			b.WriteString("}\n")
			continue
		}
		fmt.Fprintf(&b, `{"@timestamp":%q,"host":"h","EventID":10,"SourceImage":"%s","SourceProcessId":%d}`+"\n", ts, image, pid)
	}
	input := filepath.Join(t.TempDir(), "sysmon.json")
	if err := os.WriteFile(input, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]uint64{}
	for _, dir := range []string{"windows-sequence", "windows-sequence-fim"} {
		code, out, errs := runApp(t, "bench", "--scenario", "windows", "--json", "--input", input,
			"--rules-from", filepath.Join("testdata", "bench", dir))
		if code != 0 {
			t.Fatalf("cep bench --rules-from %s exited %d: %s", dir, code, errs)
		}
		var r benchResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %v\n%s", dir, err, out)
		}
		alerts[dir] = r.Alerts
	}
	t.Logf("alerts %v", alerts)
	if alerts["windows-sequence"] == 0 || alerts["windows-sequence"] != alerts["windows-sequence-fim"] {
		t.Errorf("alerts %v: want some, the same for both", alerts)
	}
}

// matchOf renders an alert as the scanners render their matches, whatever
// its key's values are.
func TestMatchOf(t *testing.T) {
	ev := func(id string) *event.Event { return &event.Event{ID: id} }
	for _, tc := range []struct {
		a    alert.Alert
		want string
	}{
		{alert.Alert{Rule: "bench.seq-0", Key: alert.Key{{Expr: "event.k", Value: "k-7"}},
			Events: []alert.Evidence{{Event: ev("e1")}, {Event: ev("e2")}, {Event: ev("e3")}}}, "bench.seq-0|k-7|e1,e2,e3"},
		{alert.Alert{Rule: "r", Key: alert.Key{{Expr: "a", Value: 12.5}, {Expr: "b", Value: "x"}},
			Events: []alert.Evidence{{Event: ev("e1")}, {}}}, "r|12.5,x|e1,"},
		{alert.Alert{Rule: "r"}, "r||"},
	} {
		if got := matchOf(&tc.a); got != tc.want {
			t.Errorf("matchOf = %q, want %q", got, tc.want)
		}
	}
}
