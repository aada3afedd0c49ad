package window

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestWindows(t *testing.T) {
	sumMeasures := []Measure{{Name: "n", Func: Count}, {Name: "total", Func: Sum}}
	x := N
	tests := []struct {
		name   string
		cfg    Config
		having func([]float64) bool
		steps  []step
		want   []string
	}{
		{
			name:  "tumbling emits at the end of each window",
			cfg:   Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: sumMeasures},
			steps: []step{ev("a", 10, x(1)), ev("b", 20, x(5)), ev("a", 59, x(2)), wm(59), ev("a", 60, x(4)), wm(60), wm(200)},
			want: []string{
				"emit a [0,60) n=2 [2 3] ev=e0,e2",
				"emit b [0,60) n=1 [1 5] ev=e1",
				"emit a [60,120) n=1 [1 4] ev=e4",
			},
		},
		{
			name:  "tumbling windows are aligned to the epoch, before it too",
			cfg:   Config{Window: Spec{Kind: Tumbling, Size: 10 * time.Second}, Measures: countOnly()},
			steps: []step{ev("a", -15), ev("a", -1), ev("a", 0), wm(100)},
			want:  []string{"emit a [-20,-10) n=1 [1] ev=e0", "emit a [-10,0) n=1 [1] ev=e1", "emit a [0,10) n=1 [1] ev=e2"},
		},
		{
			name:  "hopping windows hold each event size/slide times",
			cfg:   Config{Window: Spec{Kind: Hopping, Size: 10 * time.Second, Slide: 5 * time.Second}, Measures: sumMeasures},
			steps: []step{ev("a", 1, x(1)), ev("a", 6, x(2)), ev("a", 12, x(4)), wm(10), wm(15), wm(100)},
			want: []string{
				"emit a [-5,5) n=1 [1 1] ev=e0",
				"emit a [0,10) n=2 [2 3] ev=e0,e1",
				"emit a [5,15) n=2 [2 6] ev=e1,e2",
				"emit a [10,20) n=1 [1 4] ev=e2",
			},
		},
		{
			name:  "hopping windows with a slide that does not divide the size",
			cfg:   Config{Window: Spec{Kind: Hopping, Size: 10 * time.Second, Slide: 4 * time.Second}, Measures: countOnly()},
			steps: []step{ev("a", 9), wm(100)},
			want:  []string{"emit a [0,10) n=1 [1] ev=e0", "emit a [4,14) n=1 [1] ev=e0", "emit a [8,18) n=1 [1] ev=e0"},
		},
		{
			name:  "hopping windows skip the gaps between a key's events",
			cfg:   Config{Window: Spec{Kind: Hopping, Size: 2 * time.Second, Slide: time.Second}, Measures: countOnly()},
			steps: []step{ev("a", 0), ev("a", 10), wm(100)},
			want:  []string{"emit a [-1,1) n=1 [1] ev=e0", "emit a [0,2) n=1 [1] ev=e0", "emit a [9,11) n=1 [1] ev=e1", "emit a [10,12) n=1 [1] ev=e1"},
		},
		{
			name:  "sessions close once the watermark passes a gap after their last event",
			cfg:   Config{Window: Spec{Kind: Session, Gap: 5 * time.Second}, Measures: sumMeasures},
			steps: []step{ev("a", 0, x(1)), ev("a", 4, x(2)), ev("b", 5, x(7)), ev("a", 8, x(3)), wm(11), wm(13), ev("a", 14, x(5)), wm(14), wm(19), wm(20)},
			want: []string{
				"emit b [5,10) n=1 [1 7] ev=e2",
				"emit a [0,13) n=3 [3 6] ev=e0,e1,e3",
				"emit a [14,19) n=1 [1 5] ev=e6",
			},
		},
		{
			// An event at a session's end is not late at a watermark of
			// that time, and extends the session.
			name:  "a session still open at a watermark of its end",
			cfg:   Config{Window: Spec{Kind: Session, Gap: 5 * time.Second}, Measures: countOnly()},
			steps: []step{ev("a", 0), ev("a", 4), ev("a", 8), wm(13), ev("a", 13), wm(100)},
			want:  []string{"emit a [0,18) n=4 [4] ev=e0,e1,e2,e4"},
		},
		{
			name:  "sliding windows are (t-size, t] at each event",
			cfg:   Config{Window: Spec{Kind: Sliding, Size: 10 * time.Second}, Measures: sumMeasures},
			steps: []step{ev("a", 0, x(1)), ev("a", 5, x(2)), ev("a", 10, x(4)), ev("a", 15, x(8)), ev("a", 30, x(16))},
			want: []string{
				"add a (-10,0] n=1 [1 1]",
				"add a (-5,5] n=2 [2 3]",
				"add a (0,10] n=2 [2 6]",
				"add a (5,15] n=2 [2 12]",
				"add a (20,30] n=1 [1 16]",
			},
		},
		{
			// Issue 14 item 1: u1@20 is behind the watermark, but its
			// window [0,60) has not closed, so it counts, as in Flink.
			name:  "lateness is judged per window: an event behind the watermark counts while its window is open",
			cfg:   Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: countOnly()},
			steps: []step{ev("u1", 0), ev("u1", 10), ev("u2", 30), wm(25), ev("u1", 20), wm(60), ev("u1", 59), wm(120)},
			want:  []string{"emit u1 [0,60) n=3 [3] ev=e0,e1,e4", "emit u2 [0,60) n=1 [1] ev=e2", "late u1@59"},
		},
		{
			// In hopping windows, the event counts in the windows still
			// open and is reported late for the one already emitted.
			name:  "lateness is judged per window: hopping windows take a late event where they can",
			cfg:   Config{Window: Spec{Kind: Hopping, Size: 10 * time.Second, Slide: 5 * time.Second}, Measures: countOnly()},
			steps: []step{ev("a", 6), wm(10), ev("a", 7), wm(100)},
			want:  []string{"emit a [0,10) n=1 [1] ev=e0", "late a@7", "emit a [5,15) n=2 [2] ev=e0,e2"},
		},
		{
			name:  "lateness is judged per window: a late event extends a session still open",
			cfg:   Config{Window: Spec{Kind: Session, Gap: 5 * time.Second}, Measures: countOnly()},
			steps: []step{ev("a", 10), ev("a", 14), wm(18), ev("a", 12), wm(100)},
			want:  []string{"emit a [10,19) n=3 [3] ev=e0,e3,e1"},
		},
		{
			name:   "sliding windows fire when having turns true and re-arm when it turns false",
			cfg:    Config{Window: Spec{Kind: Sliding, Size: 10 * time.Second}, Measures: countOnly()},
			having: func(v []float64) bool { return v[0] >= 2 },
			steps:  []step{ev("a", 0), ev("a", 1), ev("a", 2), ev("a", 12), ev("a", 13), ev("a", 14)},
			want: []string{
				"add a (-10,0] n=1 [1]",
				"add a (-9,1] n=2 [2] FIRE ev=e0,e1",
				"add a (-8,2] n=3 [3]",
				"add a (2,12] n=1 [1]",
				"add a (3,13] n=2 [2] FIRE ev=e3,e4",
				"add a (4,14] n=3 [3]",
			},
		},
		{
			// having never turns false, but the key's window empties
			// between 5 and 20: the key starts over, armed.
			name:   "sliding windows re-arm when the key's window empties",
			cfg:    Config{Window: Spec{Kind: Sliding, Size: 10 * time.Second}, Measures: countOnly()},
			having: func(v []float64) bool { return v[0] >= 1 },
			steps:  []step{ev("a", 0), ev("a", 5), ev("a", 20), ev("a", 21)},
			want: []string{
				"add a (-10,0] n=1 [1] FIRE ev=e0",
				"add a (-5,5] n=2 [2]",
				"add a (10,20] n=1 [1] FIRE ev=e2",
				"add a (11,21] n=2 [2]",
			},
		},
		{
			name:   "length windows hold the key's last N events",
			cfg:    Config{Window: Spec{Kind: Length, Length: 3}, Measures: []Measure{{Name: "max", Func: Max}}},
			having: func(v []float64) bool { return v[0] >= 5 },
			steps:  []step{ev("a", 0, x(5)), ev("a", 1, x(1)), ev("a", 2, x(2)), ev("a", 3, x(3)), ev("a", 4, x(9))},
			want: []string{
				"add a (0,0] n=1 [5] FIRE ev=e0",
				"add a (0,1] n=2 [5]",
				"add a (0,2] n=3 [5]",
				"add a (1,3] n=3 [3]",
				"add a (2,4] n=3 [9] FIRE ev=e2,e3,e4",
			},
		},
		{
			name: "every measure, including missing arguments",
			cfg: Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: []Measure{
				{Name: "n", Func: Count}, {Name: "sum", Func: Sum}, {Name: "avg", Func: Avg}, {Name: "min", Func: Min},
				{Name: "max", Func: Max}, {Name: "sd", Func: Stddev}, {Name: "d", Func: CountDistinct},
			}},
			steps: []step{
				ev("a", 1, x(2), x(2), x(2), x(2), x(2), S("p")),
				ev("a", 2, x(4), x(4), x(4), x(4), x(4), S("q")),
				ev("a", 3, x(4), x(4), x(4), x(4), x(4), S("p")),
				ev("a", 4, Arg{Missing: true}, Arg{Missing: true}, Arg{Missing: true}, Arg{Missing: true}, Arg{Missing: true}, Arg{Missing: true}),
				ev("b", 5, x(1), Arg{Missing: true}, Arg{Missing: true}, Arg{Missing: true}, Arg{Missing: true}, Arg{Missing: true}),
				wm(60),
			},
			want: []string{
				"emit a [0,60) n=4 [4 10 3.333 2 4 0.9428 2] ev=e0,e1,e2,e3",
				"emit b [0,60) n=1 [1 1 NaN NaN NaN NaN 0] ev=e4",
			},
		},
		{
			name:  "evidence keeps the most recent events",
			cfg:   Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: countOnly(), Evidence: 2},
			steps: []step{ev("a", 1), ev("a", 2), ev("a", 3), wm(60)},
			want:  []string{"emit a [0,60) n=3 [3] ev=e1,e2"},
		},
		{
			name: "top-n ranks keys per window, ties by key",
			cfg: Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: sumMeasures, Evidence: -1,
				Top: &Top{N: 2, By: "total"}},
			steps: []step{ev("c", 1, x(5)), ev("a", 2, x(5)), ev("b", 3, x(1)), ev("d", 4, x(9)), ev("b", 61, x(3)), wm(120)},
			want: []string{
				"emit a [0,60) n=1 [1 5] ev=",
				"emit b [0,60) n=1 [1 1] ev=",
				"emit c [0,60) n=1 [1 5] ev=",
				"emit d [0,60) n=1 [1 9] ev=",
				"top [0,60) d=9 a=5",
				"emit b [60,120) n=1 [1 3] ev=",
				"top [60,120) b=3",
			},
		},
		{
			name:  "late events are counted and reported by default",
			cfg:   Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: countOnly()},
			steps: []step{ev("a", 1), wm(60), ev("a", 59), ev("a", 61), wm(120)},
			want:  []string{"emit a [0,60) n=1 [1] ev=e0", "late a@59", "emit a [60,120) n=1 [1] ev=e3"},
		},
		{
			name:  "a late event in a hopping window still counts in the open ones",
			cfg:   Config{Window: Spec{Kind: Hopping, Size: 10 * time.Second, Slide: 5 * time.Second}, Measures: countOnly()},
			steps: []step{ev("a", 6), wm(10), ev("a", 7), wm(100)},
			want:  []string{"emit a [0,10) n=1 [1] ev=e0", "late a@7", "emit a [5,15) n=2 [2] ev=e0,e2"},
		},
		{
			name: "corrections replace emitted windows within the allowed lateness",
			cfg: Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: sumMeasures,
				Late: LateCorrect, AllowedLateness: time.Minute},
			steps: []step{
				ev("a", 1, x(1)), wm(60), ev("a", 2, x(2)), ev("a", 3, x(3)), wm(61), ev("a", 4, x(4)), wm(62),
				ev("b", 5, x(5)), wm(100), wm(120), ev("a", 6, x(6)),
			},
			want: []string{
				"emit a [0,60) n=1 [1 1] ev=e0",
				"corrected a@2", "corrected a@3",
				"emit a [0,60) n=3 [3 6] ev=e0,e2,e3 rev=1 corrects=[0,60)r0",
				"corrected a@4",
				"emit a [0,60) n=4 [4 10] ev=e0,e2,e3,e5 rev=2 corrects=[0,60)r1",
				"corrected b@5",
				"emit b [0,60) n=1 [1 5] ev=e7",
				"late a@6",
			},
		},
		{
			name:  "a late event in a window that closed empty for its key is late, not a new result",
			cfg:   Config{Window: Spec{Kind: Tumbling, Size: 10 * time.Second}, Measures: countOnly()},
			steps: []step{ev("a", 1), wm(10), wm(35), ev("a", 25), ev("a", 36), wm(100)},
			want:  []string{"emit a [0,10) n=1 [1] ev=e0", "late a@25", "emit a [30,40) n=1 [1] ev=e4"},
		},
		{
			name: "hopping corrections redo the emitted windows still within the allowed lateness",
			cfg: Config{Window: Spec{Kind: Hopping, Size: 10 * time.Second, Slide: 5 * time.Second}, Measures: countOnly(),
				Late: LateCorrect, AllowedLateness: 5 * time.Second},
			steps: []step{ev("a", 6), ev("a", 12), wm(16), ev("a", 7), wm(17), wm(100)},
			want: []string{
				"emit a [0,10) n=1 [1] ev=e0",
				"emit a [5,15) n=2 [2] ev=e0,e1",
				"corrected a@7",
				"emit a [5,15) n=3 [3] ev=e0,e3,e1 rev=1 corrects=[5,15)r0",
				"emit a [10,20) n=1 [1] ev=e1",
			},
		},
		{
			name: "a late event in a window closed empty comes out as a first result in correct mode",
			cfg: Config{Window: Spec{Kind: Tumbling, Size: 10 * time.Second}, Measures: countOnly(),
				Late: LateCorrect, AllowedLateness: 20 * time.Second},
			steps: []step{ev("a", 1), wm(10), wm(35), ev("a", 25), wm(35)},
			want:  []string{"emit a [0,10) n=1 [1] ev=e0", "corrected a@25", "emit a [20,30) n=1 [1] ev=e3"},
		},
		{
			// As in Kafka Streams and Flink: issue 14 item 7a, events at 0,
			// 3 and 6 s with a gap of 3 s.
			name:  "events exactly a gap apart are one session",
			cfg:   Config{Window: Spec{Kind: Session, Gap: 3 * time.Second}, Measures: countOnly()},
			steps: []step{ev("a", 0), ev("a", 3), ev("a", 6), ev("b", 0), ev("b", 4), wm(100)},
			want:  []string{"emit b [0,3) n=1 [1] ev=e3", "emit b [4,7) n=1 [1] ev=e4", "emit a [0,9) n=3 [3] ev=e0,e1,e2"},
		},
		{
			name:  "an event exactly a gap from two sessions joins them",
			cfg:   Config{Window: Spec{Kind: Session, Gap: 3 * time.Second}, Measures: countOnly()},
			steps: []step{ev("a", 0), ev("a", 6), ev("a", 3), wm(100)},
			want:  []string{"emit a [0,9) n=3 [3] ev=e0,e2,e1"},
		},
		{
			name: "top-n over hopping windows",
			cfg: Config{Window: Spec{Kind: Hopping, Size: 10 * time.Second, Slide: 5 * time.Second}, Evidence: -1,
				Measures: countOnly(), Top: &Top{N: 1, By: "n"}},
			steps: []step{ev("a", 1), ev("b", 6), ev("b", 7), wm(15)},
			want: []string{
				"emit a [-5,5) n=1 [1] ev=", "top [-5,5) a=1",
				"emit a [0,10) n=1 [1] ev=", "emit b [0,10) n=2 [2] ev=", "top [0,10) b=2",
				"emit b [5,15) n=2 [2] ev=", "top [5,15) b=2",
			},
		},
		{
			name: "a late event joins two emitted sessions into one correction",
			cfg: Config{Window: Spec{Kind: Session, Gap: 5 * time.Second}, Measures: countOnly(),
				Late: LateCorrect, AllowedLateness: time.Minute},
			steps: []step{ev("a", 0), ev("a", 8), wm(20), ev("a", 4), wm(21), wm(100)},
			want: []string{
				"emit a [0,5) n=1 [1] ev=e0",
				"emit a [8,13) n=1 [1] ev=e1",
				"corrected a@4",
				"emit a [0,13) n=3 [3] ev=e0,e3,e1 rev=1 corrects=[0,5)r0,[8,13)r0",
			},
		},
		{
			// a@4's session [4,9) has closed: late. a@17's [17,22) is still
			// open at 20: it counts, as in Flink.
			name:  "a late session event is dropped when its session has closed",
			cfg:   Config{Window: Spec{Kind: Session, Gap: 5 * time.Second}, Measures: countOnly()},
			steps: []step{ev("a", 0), wm(20), ev("a", 4), ev("a", 17), ev("a", 19), wm(30)},
			want:  []string{"emit a [0,5) n=1 [1] ev=e0", "late a@4", "emit a [17,24) n=2 [2] ev=e3,e4"},
		},
		{
			name:  "bounds drop and count",
			cfg:   Config{Window: Spec{Kind: Sliding, Size: time.Minute}, Measures: countOnly(), MaxKeys: 1, MaxEventsPerKey: 2},
			steps: []step{ev("a", 0), ev("b", 0), ev("a", 1), ev("a", 2)},
			want:  []string{"add a (-60,0] n=1 [1]", "dropped: key limit b@0", "add a (-59,1] n=2 [2]", "dropped: event limit a@2"},
		},
		{
			name:  "sliding windows refuse events older than the key's newest",
			cfg:   Config{Window: Spec{Kind: Sliding, Size: time.Minute}, Measures: countOnly()},
			steps: []step{ev("a", 5), ev("a", 4), wm(100), ev("b", 99)},
			want:  []string{"add a (-55,5] n=1 [1]", "late a@4", "late b@99"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := mustNew(t, tc.cfg)
			diffLines(t, run(t, a, tc.having, tc.steps), tc.want)
		})
		// Keep drops a closed window's result from Advance's output and
		// changes nothing else; a top-N report ranks every result.
		t.Run(tc.name+"/keep", func(t *testing.T) {
			cfg := tc.cfg
			cfg.Keep = func(r *Result) bool { return r.Count%2 == 0 }
			var want []string
			for _, line := range tc.want {
				var n int
				if i := strings.Index(line, " n="); strings.HasPrefix(line, "emit ") && cfg.Top == nil && i > 0 {
					fmt.Sscanf(line[i+3:], "%d", &n)
					if n%2 != 0 {
						continue
					}
				}
				want = append(want, line)
			}
			diffLines(t, run(t, mustNew(t, cfg), tc.having, tc.steps), want)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	ok := countOnly()
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Window: Spec{Kind: Tumbling}, Measures: ok}, "tumbling window: size must be positive"},
		{Config{Window: Spec{Kind: Hopping, Size: time.Minute, Slide: 2 * time.Minute}, Measures: ok}, "slide 2m0s is longer than size 1m0s"},
		{Config{Window: Spec{Kind: Hopping, Size: time.Hour, Slide: time.Millisecond}, Measures: ok}, "more than 10000 panes"},
		{Config{Window: Spec{Kind: Length, Length: 0}, Measures: ok}, "size must be a positive number of events"},
		{Config{Window: Spec{Kind: Session, Gap: time.Minute, Size: time.Minute}, Measures: ok}, "only gap applies"},
		{Config{Window: Spec{}, Measures: ok}, "type must be tumbling"},
		{Config{Window: Spec{Kind: Sliding, Size: time.Minute}}, "at least one measure"},
		{Config{Window: Spec{Kind: Sliding, Size: time.Minute}, Measures: []Measure{{Name: "d", Func: CountDistinct, Approx: true}}}, "approximate count_distinct cannot forget"},
		{Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: []Measure{{Name: "s", Func: Sum, Approx: true}}}, "only count_distinct can be approximate"},
		{Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: []Measure{{Name: "d", Func: CountDistinct, Approx: true, Precision: 30}}}, "precision must be 4 to 18"},
		{Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: []Measure{{Name: "n", Func: Count}, {Name: "n", Func: Sum}}}, `"n": defined twice`},
		{Config{Window: Spec{Kind: Sliding, Size: time.Minute}, Measures: ok, Top: &Top{N: 3, By: "n"}}, "top needs windows shared by all keys"},
		{Config{Window: Spec{Kind: Tumbling, Size: time.Minute}, Measures: ok, Top: &Top{N: 3, By: "x"}}, `by "x" is not a measure`},
		{Config{Window: Spec{Kind: Sliding, Size: time.Minute}, Measures: ok, Late: LateCorrect}, "late: correct needs a window that closes"},
	}
	for _, tc := range tests {
		_, err := New(tc.cfg)
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg.Window, err, tc.want)
		}
	}
	for _, s := range []string{"tumbling", "hopping", "sliding", "length", "session"} {
		if k, err := ParseKind(s); err != nil || k.String() != s {
			t.Errorf("ParseKind(%q) = %v, %v", s, k, err)
		}
	}
	if _, err := ParseFunc("median"); err == nil {
		t.Error("ParseFunc(median) succeeded")
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || len(s) >= len(sub) && indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// A count_distinct value read from an event's line is kept as a copy of
// its own: kept as it was, it would keep the whole line alive, which the
// state's memory does not count.
func TestDistinctValuesKeepNoLine(t *testing.T) {
	a := mustNew(t, Config{Window: Spec{Kind: Tumbling, Size: 10 * time.Second}, Measures: []Measure{{Name: "d", Func: CountDistinct}}, Evidence: -1})
	line := []byte(`{"user":"u-1","pad":"` + strings.Repeat("x", 4096) + `"}`)
	value := unsafe.String(&line[9], 3) // u-1, inside the line
	if _, st := a.Add("k", sec, []Arg{S(value)}, nil); st != Applied {
		t.Fatal(st)
	}
	start, end := uintptr(unsafe.Pointer(&line[0])), uintptr(unsafe.Pointer(&line[len(line)-1]))
	a.keys["k"].(*paneKey).panes[0].acc.sets[0].exact.each(func(kept string, _ int32) {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(kept))); p >= start && p <= end {
			t.Fatalf("the value %q kept points into the event's line", kept)
		}
	})
}
