package window

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Session boundaries as the peers decide them. These cases transcribe
// session window tests of Kafka Streams
// (KStreamSessionWindowAggregateProcessorTest) and Flink
// (EventTimeSessionWindowsTest, WindowOperatorTest.testSessionWindows) with
// their expected sessions. Times are milliseconds. A session prints as
// "key [first,last+gap) n=count sum=...": Kafka names a session by its
// first and last record, Flink by [first, last+gap), which is what a cep
// result carries (Start, End).

type peerStep struct {
	key string // "" for a watermark, "snap" for a snapshot and restore
	at  int64  // milliseconds
	val float64
}

func pe(key string, at int64, val float64) peerStep { return peerStep{key: key, at: at, val: val} }
func pwm(at int64) peerStep                         { return peerStep{at: at} }

func playSessions(tb testing.TB, gap time.Duration, steps []peerStep) []string {
	tb.Helper()
	cfg := Config{Window: Spec{Kind: Session, Gap: gap}, Evidence: -1,
		Measures: []Measure{{Name: "n", Func: Count}, {Name: "sum", Func: Sum}}}
	a := mustNew(tb, cfg)
	var out []string
	emit := func(r *Result) {
		out = append(out, fmt.Sprintf("%s [%d,%d) n=%d sum=%s", r.Key, r.Start/int64(time.Millisecond), r.End/int64(time.Millisecond), r.Count, num(r.Values[1])))
	}
	for _, s := range steps {
		switch s.key {
		case "":
			a.Advance(s.at*int64(time.Millisecond), emit, nil)
		case "snap":
			b, err := a.MarshalBinary()
			if err != nil {
				tb.Fatal(err)
			}
			a = mustNew(tb, cfg)
			if err := a.UnmarshalBinary(b); err != nil {
				tb.Fatal(err)
			}
		default:
			if _, st := a.Add(s.key, s.at*int64(time.Millisecond), []Arg{{}, N(s.val)}, nil); st != Applied {
				out = append(out, fmt.Sprintf("%v %s@%d", st, s.key, s.at))
			}
		}
	}
	a.Advance(1<<63-1, emit, nil)
	return out
}

func TestPeerSessions(t *testing.T) {
	const gap = 5 * 60 * 1000 // Kafka's GAP_MS: five minutes
	cases := []struct {
		name  string
		gap   time.Duration
		steps []peerStep
		want  []string
	}{
		{
			name:  "Kafka shouldCreateSingleSessionWhenWithinGap",
			gap:   gap * time.Millisecond,
			steps: []peerStep{pe("john", 0, 1), pe("john", 500, 1)},
			want:  []string{"john [0,300500) n=2 sum=2"},
		},
		{
			// A record between two sessions, within the gap of both, joins
			// them, even arriving last.
			name:  "Kafka shouldMergeSessions",
			gap:   gap * time.Millisecond,
			steps: []peerStep{pe("mel", 0, 1), pe("mel", gap+1, 1), pe("mel", gap/2, 1)},
			want:  []string{"mel [0,600001) n=3 sum=3"},
		},
		{
			name:  "Kafka shouldUpdateSessionIfTheSameTime",
			gap:   gap * time.Millisecond,
			steps: []peerStep{pe("mel", 0, 1), pe("mel", 0, 1)},
			want:  []string{"mel [0,300000) n=2 sum=2"},
		},
		{
			name: "Kafka shouldHaveMultipleSessionsForSameIdWhenTimestampApartBySessionGap",
			gap:  gap * time.Millisecond,
			steps: []peerStep{
				pe("mel", 0, 1),
				pe("mel", gap+1, 1), pe("mel", gap+1, 1),
				pe("mel", 2*(gap+1), 1), pe("mel", 2*(gap+1), 1), pe("mel", 2*(gap+1), 1),
			},
			want: []string{"mel [0,300000) n=1 sum=1", "mel [300001,600001) n=2 sum=2", "mel [600002,900002) n=3 sum=3"},
		},
		{
			name: "Kafka shouldHandleMultipleSessionsAndMerging",
			gap:  gap * time.Millisecond,
			steps: []peerStep{
				pe("a", 0, 1), pe("b", 0, 1), pe("c", 0, 1), pe("d", 0, 1),
				pe("d", gap/2, 1),
				pe("a", gap+1, 1), pe("b", gap+1, 1),
				pe("a", gap+1+gap/2, 1), pe("c", gap+1+gap/2, 1),
			},
			want: []string{
				"a [0,300000) n=1 sum=1", "b [0,300000) n=1 sum=1", "c [0,300000) n=1 sum=1",
				"d [0,450000) n=2 sum=2",
				"b [300001,600001) n=1 sum=1",
				"a [300001,750001) n=2 sum=2", "c [450001,750001) n=1 sum=1",
			},
		},
		{
			// Windows [0,1) [1,2) [2,3) [4,5) [5,6) of events at 0, 1, 2, 4
			// and 5 with a gap of 1: touching windows merge, so events
			// exactly a gap apart are one session.
			name:  "Flink testMergeConsecutiveWindows",
			gap:   time.Millisecond,
			steps: []peerStep{pe("k", 0, 1), pe("k", 1, 1), pe("k", 2, 1), pe("k", 4, 1), pe("k", 5, 1)},
			want:  []string{"k [0,3) n=3 sum=3", "k [4,6) n=2 sum=2"},
		},
		{
			// Gap 3 s; out-of-order elements; a snapshot and restore.
			// Flink's watermark W promises no element at or before W, cep's
			// none before it: Flink's 12000 and 17999 are cep's 12001 and
			// 18000. At 18000 cep keeps [15000,18000) open, as an element
			// at 18000 would still extend it (Flink fires it at 17999 and
			// would start a new session with such an element); it closes
			// at 18001 with Flink's result.
			name: "Flink testSessionWindows",
			gap:  3 * time.Second,
			steps: []peerStep{
				pe("key2", 0, 1), pe("key2", 1000, 2), pe("key2", 2500, 3),
				pe("key1", 10, 1), pe("key1", 1000, 2),
				{key: "snap"},
				pe("key1", 2500, 3),
				pe("key2", 5501, 4), pe("key2", 6000, 5), pe("key2", 6000, 5), pe("key2", 6050, 6),
				pwm(12001),
				pe("key2", 15000, 10), pe("key2", 15000, 20),
				pwm(18000), pwm(18001),
			},
			want: []string{"key1 [10,5500) n=3 sum=6", "key2 [0,5500) n=3 sum=6", "key2 [5501,9050) n=4 sum=20", "key2 [15000,18000) n=2 sum=30"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := playSessions(t, c.gap, c.steps)
			// The peers do not order sessions that close together.
			slices.Sort(got)
			want := slices.Sorted(slices.Values(c.want))
			if !slices.Equal(got, want) {
				t.Errorf("got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
		})
	}
}

// TestSessionClosesOnlyPastItsEnd pins the watermark boundary of the
// Flink case above: at a watermark equal to a session's end the session
// stays open, and an event at that time extends it.
func TestSessionClosesOnlyPastItsEnd(t *testing.T) {
	got := playSessions(t, 3*time.Second, []peerStep{pe("k", 15000, 1), pwm(18000), pe("k", 18000, 1), pwm(21000), pwm(21001)})
	want := []string{"k [15000,21000) n=2 sum=2"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
