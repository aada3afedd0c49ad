package window

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

func codecConfigs() []Config {
	withApprox := append(append([]Measure(nil), allMeasures...), Measure{Name: "hll", Func: CountDistinct, Approx: true, Precision: 10})
	return []Config{
		{Window: Spec{Kind: Tumbling, Size: 10 * time.Second}, Measures: withApprox, Late: LateCorrect, AllowedLateness: 20 * time.Second, Evidence: 3},
		{Window: Spec{Kind: Hopping, Size: 20 * time.Second, Slide: 5 * time.Second}, Measures: withApprox, Top: &Top{N: 2, By: "sum"}},
		{Window: Spec{Kind: Session, Gap: 5 * time.Second}, Measures: withApprox, Late: LateCorrect, AllowedLateness: 30 * time.Second},
		{Window: Spec{Kind: Sliding, Size: 15 * time.Second}, Measures: allMeasures},
		{Window: Spec{Kind: Length, Length: 4, Expire: time.Minute}, Measures: allMeasures},
		// No evidence kept (evidence: -1).
		{Window: Spec{Kind: Session, Gap: 5 * time.Second}, Measures: allMeasures, Evidence: -1},
	}
}

// feed drives a with events (some late) and watermarks from r, logging
// everything that comes out.
func feed(tb testing.TB, a *Aggregator, r *rand.Rand, t0 int64, n int, log *[]string) int64 {
	tb.Helper()
	emit := func(x *Result) { *log = append(*log, "emit "+format(x)) }
	rep := func(x *Report) { *log = append(*log, fmt.Sprintf("top %d %d", x.End, len(x.Results))) }
	t := t0
	for i := range n {
		t += r.Int64N(3 * sec)
		at := t
		if r.IntN(8) == 0 {
			at -= r.Int64N(30 * sec) // late, for some windows
		}
		key := fmt.Sprint("k", r.IntN(4))
		x := float64(r.IntN(100))
		args := make([]Arg, len(a.plan.measures))
		for j, m := range a.plan.measures {
			if m.Func == CountDistinct {
				args[j] = S(fmt.Sprint(r.IntN(9)))
			} else {
				args[j] = N(x)
			}
		}
		raw := fmt.Sprintf(`{"n":%d,"x":%v,"tags":["a",{"b":null}]}`, i, x)
		e := &event.Event{Stream: "s", ID: fmt.Sprint(t0, "-", i), Time: at, Seq: uint64(t0/sec) + uint64(i), Raw: []byte(raw)}
		e.Fields, _ = fieldsOf(e.Raw)
		cur, st := a.Add(key, at, args, e)
		line := fmt.Sprintf("add %s %d %v", key, at, st)
		if cur != nil {
			line += fmt.Sprintf(" %v %v", nums(cur.Values), cur.Fire(cur.Values[0] > 2))
		}
		*log = append(*log, line)
		if r.IntN(6) == 0 {
			a.Advance(t-r.Int64N(5*sec), emit, rep)
		}
		checkBytes(tb, a)
	}
	return t
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, cfg := range codecConfigs() {
		t.Run(cfg.Window.Kind.String(), func(t *testing.T) {
			for seed := range uint64(10) {
				a := mustNew(t, cfg)
				r := rand.New(rand.NewPCG(seed, 3))
				var la, lb []string
				t1 := feed(t, a, r, 0, 200, &la)
				snap, err := a.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				b := mustNew(t, cfg)
				if err := b.UnmarshalBinary(snap); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				again, err := b.MarshalBinary()
				// A HyperLogLog sketch writes its sparse part in map order,
				// so only exact measures give byte-identical snapshots.
				if err != nil || !hasApprox(cfg) && !bytes.Equal(snap, again) {
					t.Fatalf("seed %d: snapshot of the restored aggregator differs (%v)", seed, err)
				}
				// Memory follows the capacity of what holds the state,
				// which a restore makes tight: it differs, within reason.
				sa, sb := a.Stats(), b.Stats()
				if sb.Bytes > sa.Bytes || sb.Bytes < sa.Bytes/2 {
					t.Fatalf("seed %d: %d bytes, restored %d", seed, sa.Bytes, sb.Bytes)
				}
				checkBytes(t, b)
				sa.Bytes, sb.Bytes = 0, 0
				if sa != sb {
					t.Fatalf("seed %d: stats %+v, restored %+v", seed, sa, sb)
				}
				// Both go on with the same input and must say the same.
				ra, rb := rand.New(rand.NewPCG(seed, 4)), rand.New(rand.NewPCG(seed, 4))
				la, lb = nil, nil
				feed(t, a, ra, t1, 200, &la)
				feed(t, b, rb, t1, 200, &lb)
				a.Advance(1<<62, func(x *Result) { la = append(la, format(x)) }, nil)
				b.Advance(1<<62, func(x *Result) { lb = append(lb, format(x)) }, nil)
				if strings.Join(la, "\n") != strings.Join(lb, "\n") {
					diffLines(t, lb, la)
					t.Fatalf("seed %d: the restored aggregator behaves differently", seed)
				}
			}
		})
	}
}

func TestSnapshotRejects(t *testing.T) {
	cfgs := codecConfigs()
	a := mustNew(t, cfgs[0])
	var log []string
	feed(t, a, rand.New(rand.NewPCG(1, 1)), 0, 50, &log)
	snap, _ := a.MarshalBinary()
	other := mustNew(t, cfgs[1])
	if err := other.UnmarshalBinary(snap); !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), "different window") {
		t.Errorf("loading a tumbling snapshot into a hopping aggregator: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("CEPW\x02"), snap[:len(snap)-1], append(snap[:len(snap):len(snap)], 0)} {
		if err := a.UnmarshalBinary(bad); !errors.Is(err, ErrSnapshot) {
			t.Errorf("UnmarshalBinary(%q...) = %v, want ErrSnapshot", bad[:min(len(bad), 8)], err)
		}
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	cfgs := codecConfigs()
	for i, cfg := range cfgs {
		a := mustNew(f, cfg)
		var log []string
		feed(f, a, rand.New(rand.NewPCG(uint64(i), 9)), 0, 40, &log)
		snap, err := a.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), snap)
	}
	// The version 1 fixtures, each with the index of the configuration
	// it was written for.
	for _, cfg := range fixtureConfigs() {
		old, err := os.ReadFile(fixtureName(cfg))
		if err != nil {
			f.Fatal(err)
		}
		cfgs = append(cfgs, cfg)
		f.Add(uint8(len(cfgs)-1), old)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		a := mustNew(t, cfgs[int(which)%len(cfgs)])
		if err := a.UnmarshalBinary(data); err != nil {
			return
		}
		// Whatever loads must work: re-encode, take events, close windows.
		if _, err := a.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
		var log []string
		feed(t, a, rand.New(rand.NewPCG(1, 2)), a.Watermark()/2, 20, &log)
		a.Advance(1<<62, func(*Result) {}, func(*Report) {})
	})
}

func hasApprox(cfg Config) bool {
	for _, m := range cfg.Measures {
		if m.Approx {
			return true
		}
	}
	return false
}

// TestSnapshotCorruption flips bytes of real snapshots: loading must fail
// cleanly or give an aggregator that works, never panic or hang.
func TestSnapshotCorruption(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for i, cfg := range codecConfigs() {
		a := mustNew(t, cfg)
		var log []string
		feed(t, a, rand.New(rand.NewPCG(uint64(i), 9)), 0, 40, &log)
		snap, _ := a.MarshalBinary()
		for range 500 {
			data := append([]byte(nil), snap...)
			for range 1 + r.IntN(3) {
				data[r.IntN(len(data))] = byte(r.IntN(256))
			}
			b := mustNew(t, cfg)
			if err := b.UnmarshalBinary(data); err != nil {
				continue
			}
			if _, err := b.MarshalBinary(); err != nil {
				t.Fatal(err)
			}
			feed(t, b, rand.New(rand.NewPCG(1, 2)), b.Watermark()/2, 20, &log)
			b.Advance(1<<62, func(*Result) {}, func(*Report) {})
		}
	}
}

// TestSnapshotParts splits a snapshot among aggregators by key, as an
// engine splitting a rule's keys among cores does, and checks that the
// parts write back the same snapshot, count what the whole counted, and
// close the same windows, merged in CompareResults order.
func TestSnapshotParts(t *testing.T) {
	for _, cfg := range codecConfigs() {
		t.Run(cfg.Window.Kind.String(), func(t *testing.T) {
			for n := 1; n <= 3; n++ {
				whole := mustNew(t, cfg)
				var log []string
				feed(t, whole, rand.New(rand.NewPCG(uint64(n), 7)), 0, 200, &log)
				snap, err := whole.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				parts := make([]*Aggregator, n)
				for i := range parts {
					parts[i] = mustNew(t, cfg)
				}
				partOf := func(key string) int { return int(key[len(key)-1]) % n }
				if err := UnmarshalParts(snap, parts, partOf); err != nil {
					t.Fatal(err)
				}
				for i, p := range parts {
					for key := range p.keys {
						if partOf(key) != i {
							t.Fatalf("%d parts: key %s in part %d", n, key, i)
						}
					}
					checkBytes(t, p)
				}
				back, err := MarshalParts(parts)
				if err != nil {
					t.Fatal(err)
				}
				if !hasApprox(cfg) && !bytes.Equal(back, snap) {
					t.Fatalf("%d parts write another snapshot", n)
				}
				var sum Stats
				for _, p := range parts {
					s := p.Stats()
					sum.Keys += s.Keys
					sum.Late += s.Late
					sum.Corrections += s.Corrections
					sum.DroppedEvents += s.DroppedEvents
				}
				if w := whole.Stats(); sum.Keys != w.Keys || sum.Late != w.Late || sum.Corrections != w.Corrections || sum.DroppedEvents != w.DroppedEvents {
					t.Fatalf("%d parts count %+v, the whole %+v", n, sum, w)
				}
				var want, got []string
				whole.Advance(1<<62, func(x *Result) { want = append(want, format(x)) }, func(r *Report) { want = append(want, fmt.Sprint("top ", r.End, len(r.Results))) })
				var all []*Result
				for _, p := range parts {
					p.Advance(1<<62, func(x *Result) { all = append(all, x) }, nil)
				}
				slices.SortFunc(all, CompareResults)
				for i := 0; i < len(all); {
					j := i + 1
					for j < len(all) && all[j].End == all[i].End && all[j].Start == all[i].Start {
						j++
					}
					for _, x := range all[i:j] {
						got = append(got, format(x))
					}
					if r := parts[0].Rank(all[i:j]); r != nil {
						got = append(got, fmt.Sprint("top ", r.End, len(r.Results)))
					}
					i = j
				}
				// Sliding and length windows emit at events, not when time passes.
				if len(want) == 0 && cfg.Window.Kind.closes() || strings.Join(want, "\n") != strings.Join(got, "\n") {
					diffLines(t, want, got)
					t.Fatalf("%d parts close other windows than the whole (%d results)", n, len(want))
				}
			}
		})
	}
}

// Two kept events may be equal in time, stream and number, as when a
// source numbers its events afresh after a restart: the snapshot loads.
func TestSnapshotEqualEvidence(t *testing.T) {
	a := mustNew(t, Config{Window: Spec{Kind: Tumbling, Size: 10 * time.Second}, Measures: []Measure{{Name: "n", Func: Count}}})
	for _, id := range []string{"before-restart", "after-restart"} {
		raw := []byte(`{"id":"` + id + `"}`)
		e := &event.Event{Stream: "s", ID: id, Time: 3 * sec, Seq: 1, Raw: raw}
		e.Fields, _ = fieldsOf(raw)
		if _, st := a.Add("k", e.Time, make([]Arg, 1), e); st != Applied {
			t.Fatalf("Add %s: %v", id, st)
		}
	}
	snap, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b := mustNew(t, a.cfg)
	if err := b.UnmarshalBinary(snap); err != nil {
		t.Fatalf("a snapshot keeping two equal events: %v", err)
	}
	var got []string
	b.Advance(20*sec, func(r *Result) {
		for _, e := range r.Evidence {
			got = append(got, e.ID)
		}
	}, nil)
	if strings.Join(got, ",") != "before-restart,after-restart" {
		t.Fatalf("evidence after the restore: %v", got)
	}
}
