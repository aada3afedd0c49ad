package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestStallQuantile(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		gaps []time.Duration
		took time.Duration
		q    float64
		want time.Duration
	}{
		{"no gaps", nil, time.Second, 0.99, 0},
		{"gaps too short to reach the quantile", []time.Duration{2 * ms, 3 * ms}, time.Second, 0.99, 0},
		// Events arriving in the last 10 ms of a 20 ms gap wait more than
		// 10 ms: 1% of a second's.
		{"one gap", []time.Duration{20 * ms}, time.Second, 0.99, 10 * ms},
		// Beyond 2 ms: 8 ms of the first gap and 2 of the second.
		{"two gaps", []time.Duration{4 * ms, 10 * ms}, time.Second, 0.99, 2 * ms},
		// Beyond 4 ms only the longest counts: 14 - 4 = 10 ms.
		{"the quantile in the longest gap alone", []time.Duration{14 * ms, 4 * ms, 1 * ms}, time.Second, 0.99, 4 * ms},
		{"p90", []time.Duration{50 * ms, 50 * ms, 50 * ms}, time.Second, 0.9, 50*ms - 100*ms/3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stallQuantile(tt.gaps, tt.took, tt.q)
			if d := got - tt.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("stallQuantile(%v, %v, %v) = %v, want %v", tt.gaps, tt.took, tt.q, got, tt.want)
			}
		})
	}
}

func TestSummariseStalls(t *testing.T) {
	gaps := []time.Duration{2 * time.Microsecond, 150 * time.Microsecond, 3 * time.Millisecond, 20 * time.Millisecond}
	r := summariseStalls(gaps, time.Second)
	want := stallResult{
		Seconds: 1, Share: 0.023152, Over100us: 3, Over1ms: 2, LongestUs: 20000,
		// Beyond 10 ms only the 20 ms gap: 10 ms, 1% of the second.
		FloorP99Us: 10000,
	}
	if r.Seconds != want.Seconds || r.Over100us != want.Over100us || r.Over1ms != want.Over1ms || r.LongestUs != want.LongestUs ||
		r.Share < want.Share-1e-9 || r.Share > want.Share+1e-9 || r.FloorP99Us < want.FloorP99Us-1 || r.FloorP99Us > want.FloorP99Us+1 {
		t.Errorf("summariseStalls = %+v, want %+v", r, want)
	}
}

// TestProbeStalls: the probe spins for as long as it is asked, and what it
// lost is part of that time.
func TestProbeStalls(t *testing.T) {
	gaps, took := probeStalls(20 * time.Millisecond)
	if took < 20*time.Millisecond {
		t.Fatalf("probed %v, want at least 20ms", took)
	}
	var lost time.Duration
	for _, g := range gaps {
		if g < stallGap {
			t.Errorf("gap %v counted, want none under %v", g, stallGap)
		}
		lost += g
	}
	if lost > took {
		t.Errorf("lost %v of %v", lost, took)
	}
}

// TestBenchStallProbe: a paced run reports the machine's stalls and
// wake-ups when it probes them, and nothing when it does not.
func TestBenchStallProbe(t *testing.T) {
	args := []string{"bench", "--scenario", "sequence", "--events", "20000", "--rate", "200000", "--cpu", "2", "--json"}
	code, out, errs := runApp(t, append(args, "--stall-probe", "100ms")...)
	if code != 0 {
		t.Fatalf("cep bench exited %d: %s", code, errs)
	}
	var r benchResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := r.Stalls
	switch {
	case s == nil:
		t.Fatalf("no machine_stalls in %s", out)
	case s.Seconds < 0.1 || s.Share < 0 || s.Share >= 1:
		t.Errorf("probed %.3f s, lost %.3f of it: want 0.1 s or more, and a share under 1", s.Seconds, s.Share)
	case s.FloorP99Us > s.LongestUs:
		t.Errorf("p99 floor %.1f µs beyond the longest stall, %.1f µs", s.FloorP99Us, s.LongestUs)
	case s.Wakes != 50 || s.WakeP50Us <= 0 || s.WakeP99Us < s.WakeP50Us:
		t.Errorf("%d wake-ups, p50 %.1f µs, p99 %.1f µs: want 50, measured", s.Wakes, s.WakeP50Us, s.WakeP99Us)
	}

	// Too short a probe for one wake-up: the stalls alone.
	code, out, errs = runApp(t, append(args, "--stall-probe", "1ms")...)
	if code != 0 {
		t.Fatalf("cep bench --stall-probe 1ms exited %d: %s", code, errs)
	}
	r = benchResult{}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Stalls == nil || r.Stalls.Seconds < 0.001 || r.Stalls.Wakes != 0 {
		t.Errorf("--stall-probe 1ms: machine_stalls %+v, want 1 ms of stalls and no wake-ups", r.Stalls)
	}

	code, out, errs = runApp(t, append(args, "--stall-probe", "0s")...)
	if code != 0 {
		t.Fatalf("cep bench --stall-probe 0s exited %d: %s", code, errs)
	}
	if strings.Contains(out, "machine_stalls") {
		t.Errorf("--stall-probe 0s still probed:\n%s", out)
	}
}

func TestBenchStallProbeNeedsRate(t *testing.T) {
	for _, args := range [][]string{
		{"--stall-probe", "1s"},
		{"--rate", "1000", "--stall-probe", "-1s"},
	} {
		code, _, errs := runApp(t, append([]string{"bench", "--scenario", "sequence", "--events", "1000"}, args...)...)
		if code == 0 || !strings.Contains(errs, "--stall-probe is how long a paced run") {
			t.Errorf("cep bench %s: exit %d, %q; want an error about --stall-probe", strings.Join(args, " "), code, errs)
		}
	}
}
