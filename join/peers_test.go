package join

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// The join's boundaries as its peers decide them. These cases transcribe
// test cases of Kafka Streams (KStreamKStreamJoinTest.testWindowing) and
// Flink (IntervalJoinOperatorTest) with their expected outputs; times are
// milliseconds. A match prints as "key left+right @time", time being the
// later of the two, which is the output timestamp in both peers.

// peerStep is an event of a side ("L" or "R"), or a watermark (side ""),
// or a snapshot that moves the joiner's state into a new joiner ("snap").
type peerStep struct {
	side, key, id string
	at            int64
}

func pl(key, id string, at int64) peerStep { return peerStep{side: "L", key: key, id: id, at: at} }
func pr(key, id string, at int64) peerStep { return peerStep{side: "R", key: key, id: id, at: at} }
func pw(at int64) peerStep                 { return peerStep{at: at} }

var snap = peerStep{side: "snap"}

func playPeer(tb testing.TB, cfg Config, steps []peerStep) (matches, late []string) {
	tb.Helper()
	cfg.Sides = []string{"L", "R"}
	j, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	emit := func(m *Match) {
		l, r := "null", "null"
		if m.Events[0] != nil {
			l = m.Events[0].ID
		}
		if m.Events[1] != nil {
			r = m.Events[1].ID
		}
		matches = append(matches, fmt.Sprintf("%s %s+%s @%d", m.Key, l, r, m.Time/int64(time.Millisecond)))
	}
	for i, s := range steps {
		switch s.side {
		case "":
			j.Advance(s.at*int64(time.Millisecond), emit)
		case "snap":
			b, err := j.MarshalBinary()
			if err != nil {
				tb.Fatal(err)
			}
			if j, err = New(cfg); err != nil {
				tb.Fatal(err)
			}
			if err := j.UnmarshalBinary(b); err != nil {
				tb.Fatal(err)
			}
		default:
			ev := &event.Event{Stream: s.side, ID: s.id, Time: s.at * int64(time.Millisecond), Seq: uint64(i + 1), Raw: []byte(`{}`)}
			if st := j.Add(slices.Index(cfg.Sides, s.side), s.key, ev, emit); st != Joined {
				late = append(late, fmt.Sprintf("%v %s", st, s.id))
			}
		}
	}
	return matches, late
}

// fourKeys sends an event to each of the keys 0..3, named name+key, at
// at+key*step.
func fourKeys(side, name string, at, step int64) []peerStep {
	var out []peerStep
	for k := range int64(4) {
		out = append(out, peerStep{side: side, key: fmt.Sprint(k), id: fmt.Sprint(name, k), at: at + k*step})
	}
	return out
}

// TestKafkaJoinWindows transcribes KStreamKStreamJoinTest.testWindowing:
// stream1.join(stream2, JoinWindows.of(100 ms)) over keys 0..3, with
// records arriving out of order (Kafka's default grace keeps them: no
// watermark moves here). Records exactly 100 ms apart join.
func TestKafkaJoinWindows(t *testing.T) {
	var steps []peerStep
	var want []string
	batch := func(ss []peerStep, out ...string) {
		steps = append(steps, ss...)
		want = append(want, out...)
	}
	// A0, A1 at 0; a0, a1 at 0.
	batch([]peerStep{pl("0", "A0", 0), pl("1", "A1", 0)})
	batch([]peerStep{pr("0", "a0", 0), pr("1", "a1", 0)}, "0 A0+a0 @0", "1 A1+a1 @0")
	// B0..B3 at 1000..1003, then the other stream at 1100, 1101, ... 1104.
	batch(fourKeys("L", "B", 1000, 1))
	batch(fourKeys("R", "b", 1100, 0), "0 B0+b0 @1100", "1 B1+b1 @1100", "2 B2+b2 @1100", "3 B3+b3 @1100")
	batch(fourKeys("R", "c", 1101, 0), "1 B1+c1 @1101", "2 B2+c2 @1101", "3 B3+c3 @1101")
	batch(fourKeys("R", "d", 1102, 0), "2 B2+d2 @1102", "3 B3+d3 @1102")
	batch(fourKeys("R", "e", 1103, 0), "3 B3+e3 @1103")
	batch(fourKeys("R", "f", 1104, 0))
	// Then before the window: 899, 900, ... 903.
	batch(fourKeys("R", "g", 899, 0))
	batch(fourKeys("R", "h", 900, 0), "0 B0+h0 @1000")
	batch(fourKeys("R", "i", 901, 0), "0 B0+i0 @1000", "1 B1+i1 @1001")
	batch(fourKeys("R", "j", 902, 0), "0 B0+j0 @1000", "1 B1+j1 @1001", "2 B2+j2 @1002")
	batch(fourKeys("R", "k", 903, 0), "0 B0+k0 @1000", "1 B1+k1 @1001", "2 B2+k2 @1002", "3 B3+k3 @1003")
	// The same from the other side: l0..l3 at 2000..2003, then C at 2100...
	batch(fourKeys("R", "l", 2000, 1))
	batch(fourKeys("L", "C", 2100, 0), "0 C0+l0 @2100", "1 C1+l1 @2100", "2 C2+l2 @2100", "3 C3+l3 @2100")
	batch(fourKeys("L", "D", 2101, 0), "1 D1+l1 @2101", "2 D2+l2 @2101", "3 D3+l3 @2101")
	batch(fourKeys("L", "E", 2102, 0), "2 E2+l2 @2102", "3 E3+l3 @2102")
	batch(fourKeys("L", "F", 2103, 0), "3 F3+l3 @2103")
	batch(fourKeys("L", "G", 2104, 0))
	batch(fourKeys("L", "H", 1899, 0))
	batch(fourKeys("L", "I", 1900, 0), "0 I0+l0 @2000")
	batch(fourKeys("L", "J", 1901, 0), "0 J0+l0 @2000", "1 J1+l1 @2001")
	batch(fourKeys("L", "K", 1902, 0), "0 K0+l0 @2000", "1 K1+l1 @2001", "2 K2+l2 @2002")

	got, late := playPeer(t, Config{Within: 100 * time.Millisecond, Type: Inner}, steps)
	if len(late) > 0 {
		t.Errorf("late: %q", late)
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %d matches, Kafka %d\n got  %s\n want %s", len(got), len(want), strings.Join(got, ", "), strings.Join(want, ", "))
	}
}

// flinkPairs renders Flink's expected (lhs, rhs) pairs, each at the later
// time, as the key "k" of the harness.
func flinkPairs(pairs ...[2]int64) []string {
	var out []string
	for _, p := range pairs {
		out = append(out, fmt.Sprintf("k lhs%d+rhs%d @%d", p[0], p[1], max(p[0], p[1])))
	}
	slices.Sort(out)
	return out
}

// elementsAndWatermarks is the harness's processElementsAndWatermarks(1,
// 4): one side's elements 1..4, each followed by its watermark, then the
// other's; the operator's watermark is the lesser of the two sides'.
func elementsAndWatermarks(lhsFirst bool) []peerStep {
	var first, second []peerStep
	for i := int64(1); i <= 4; i++ {
		first = append(first, pl("k", fmt.Sprint("lhs", i), i))
		second = append(second, pr("k", fmt.Sprint("rhs", i), i), pw(i))
	}
	if !lhsFirst {
		for i := range first {
			first[i].side, first[i].id = "R", strings.Replace(first[i].id, "lhs", "rhs", 1)
		}
		for i := range second {
			if second[i].side == "R" {
				second[i].side, second[i].id = "L", strings.Replace(second[i].id, "rhs", "lhs", 1)
			}
		}
	}
	return append(first, second...)
}

// TestFlinkIntervalJoin transcribes the cases of IntervalJoinOperatorTest
// whose bounds are symmetric and inclusive, between(-1, 1), the only ones a
// cep join expresses: |Δt| ≤ within.
func TestFlinkIntervalJoin(t *testing.T) {
	cases := []struct {
		name     string
		steps    []peerStep
		want     []string
		wantLate []string
	}{
		{
			name:  "testNegativeInclusiveAndPositiveInclusive, lhs faster",
			steps: elementsAndWatermarks(true),
			want:  flinkPairs([2]int64{1, 1}, [2]int64{1, 2}, [2]int64{2, 1}, [2]int64{2, 2}, [2]int64{2, 3}, [2]int64{3, 2}, [2]int64{3, 3}, [2]int64{3, 4}, [2]int64{4, 3}, [2]int64{4, 4}),
		},
		{
			name:  "testNegativeInclusiveAndPositiveInclusive, rhs faster",
			steps: elementsAndWatermarks(false),
			want:  flinkPairs([2]int64{1, 1}, [2]int64{1, 2}, [2]int64{2, 1}, [2]int64{2, 2}, [2]int64{2, 3}, [2]int64{3, 2}, [2]int64{3, 3}, [2]int64{3, 4}, [2]int64{4, 3}, [2]int64{4, 4}),
		},
		{
			// Watermarks 1, 2, 3 between the pairs, a snapshot and a
			// restore, then 4.
			name: "testRestoreFromSnapshot",
			steps: []peerStep{
				pl("k", "lhs1", 1), pr("k", "rhs1", 1), pw(1),
				pl("k", "lhs2", 2), pr("k", "rhs2", 2), pw(2),
				pl("k", "lhs3", 3), pr("k", "rhs3", 3), pw(3),
				snap,
				pl("k", "lhs4", 4), pr("k", "rhs4", 4), pw(4),
			},
			want: flinkPairs([2]int64{1, 1}, [2]int64{1, 2}, [2]int64{2, 1}, [2]int64{2, 2}, [2]int64{2, 3}, [2]int64{3, 2}, [2]int64{3, 3},
				[2]int64{3, 4}, [2]int64{4, 3}, [2]int64{4, 4}),
		},
		{
			name: "testDiscardsLateData",
			steps: []peerStep{
				pl("k", "lhs1", 1), pr("k", "rhs1", 1), pl("k", "lhs2", 2), pr("k", "rhs2", 2), pl("k", "lhs3", 3), pr("k", "rhs3", 3),
				pw(3),
				pl("k", "lhs1", 1), // late: not joined again
				pl("k", "lhs4", 4), pr("k", "rhs4", 4), pl("k", "lhs5", 5), pr("k", "rhs5", 5),
			},
			want: flinkPairs([2]int64{1, 1}, [2]int64{1, 2}, [2]int64{2, 1}, [2]int64{2, 2}, [2]int64{2, 3}, [2]int64{3, 2}, [2]int64{3, 3},
				[2]int64{3, 4}, [2]int64{4, 3}, [2]int64{4, 4}, [2]int64{4, 5}, [2]int64{5, 4}, [2]int64{5, 5}),
			wantLate: []string{"late lhs1"},
		},
		{
			name: "testLateData",
			steps: []peerStep{
				pl("k", "lhs3", 3), pr("k", "rhs3", 3), pw(3),
				pl("k", "lhs4", 4), pr("k", "rhs4", 4),
				pl("k", "lhs1", 1), // late
				pr("k", "rhs2", 2), // late
				pl("k", "lhs5", 5), pr("k", "rhs5", 5),
			},
			want:     flinkPairs([2]int64{3, 3}, [2]int64{3, 4}, [2]int64{4, 3}, [2]int64{4, 4}, [2]int64{4, 5}, [2]int64{5, 4}, [2]int64{5, 5}),
			wantLate: []string{"late lhs1", "late rhs2"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, late := playPeer(t, Config{Within: time.Millisecond, Type: Inner}, c.steps)
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("got %d pairs, Flink %d\n got  %s\n want %s", len(got), len(c.want), strings.Join(got, ", "), strings.Join(c.want, ", "))
			}
			if !slices.Equal(late, c.wantLate) {
				t.Errorf("late %q, want %q", late, c.wantLate)
			}
		})
	}
}
