package window

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"
)

var allMeasures = []Measure{
	{Name: "n", Func: Count}, {Name: "sum", Func: Sum}, {Name: "avg", Func: Avg}, {Name: "min", Func: Min},
	{Name: "max", Func: Max}, {Name: "sd", Func: Stddev}, {Name: "d", Func: CountDistinct},
}

type rec struct {
	key  string
	t    int64
	args []Arg
}

// randomEvents makes events in time order over a few keys, with values far
// from zero (to catch cancellation) and some missing arguments.
func randomEvents(r *rand.Rand, n int) []rec {
	var out []rec
	t := int64(0)
	for range n {
		// Whole seconds half the time, so events fall exactly on window
		// boundaries and exactly a session gap apart.
		if r.IntN(2) == 0 {
			t += r.Int64N(6) * sec
		} else {
			t += r.Int64N(4 * sec)
		}
		args := make([]Arg, len(allMeasures))
		x := 1e6 + r.NormFloat64()*100
		if r.IntN(3) == 0 {
			x = float64(r.IntN(5)) // repeated values matter to min and max
		}
		for i := 1; i < 6; i++ {
			args[i] = N(x)
		}
		args[6] = S(fmt.Sprint(r.IntN(6)))
		if r.IntN(10) == 0 {
			for i := range args {
				args[i].Missing = true
			}
		}
		out = append(out, rec{key: fmt.Sprint("k", r.IntN(3)), t: t, args: args})
	}
	return out
}

// naive computes the measures of a window by rescanning its events.
func naive(rs []rec) (int64, []float64) {
	var xs []float64
	set := map[string]bool{}
	for _, r := range rs {
		if x, ok := r.args[1].num(); ok {
			xs = append(xs, x)
		}
		if !r.args[6].Missing {
			set[r.args[6].Str] = true
		}
	}
	sum, mn, mx := 0.0, math.NaN(), math.NaN()
	for _, x := range xs {
		sum += x
		if math.IsNaN(mn) || x < mn {
			mn = x
		}
		if math.IsNaN(mx) || x > mx {
			mx = x
		}
	}
	avg, sd := math.NaN(), math.NaN()
	if len(xs) > 0 {
		avg = sum / float64(len(xs))
		var ss float64
		for _, x := range xs {
			ss += (x - avg) * (x - avg)
		}
		sd = math.Sqrt(ss / float64(len(xs)))
	}
	return int64(len(rs)), []float64{float64(len(rs)), sum, avg, mn, mx, sd, float64(len(set))}
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func sameValues(tb testing.TB, what string, got, want []float64) {
	tb.Helper()
	for i := range want {
		if !near(got[i], want[i]) {
			tb.Fatalf("%s: %s = %v, rescan says %v (all: %v vs %v)", what, allMeasures[i].Name, got[i], want[i], got, want)
		}
	}
}

func TestRandomClosingWindowsAgreeWithRescan(t *testing.T) {
	specs := []Spec{
		{Kind: Tumbling, Size: 10 * time.Second},
		{Kind: Hopping, Size: 20 * time.Second, Slide: 5 * time.Second},
		{Kind: Hopping, Size: 10 * time.Second, Slide: 4 * time.Second},
		{Kind: Session, Gap: 5 * time.Second},
	}
	for seed := range uint64(20) {
		for _, spec := range specs {
			r := rand.New(rand.NewPCG(seed, 1))
			evs := randomEvents(r, 300)
			a := mustNew(t, Config{Window: spec, Measures: allMeasures})
			var got []*Result
			emit := func(r *Result) { got = append(got, r) }
			for _, e := range evs {
				if r.IntN(5) == 0 {
					a.Advance(e.t-r.Int64N(3*sec), emit, nil)
				}
				if _, st := a.Add(e.key, e.t, e.args, nil); st != Applied {
					t.Fatalf("%v: event at %d: %v", spec, e.t, st)
				}
			}
			checkBytes(t, a)
			a.Advance(1<<63-1, emit, nil)
			if a.Bytes() != 0 {
				t.Fatalf("%v: %d bytes left with no key", spec, a.Bytes())
			}
			want := naiveWindows(spec, evs)
			if len(got) != len(want) {
				t.Fatalf("seed %d %v: %d results, rescan has %d", seed, spec, len(got), len(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				what := fmt.Sprintf("seed %d %v result %d", seed, spec, i)
				if g.Key != w.Key || g.Start != w.Start || g.End != w.End || g.Count != w.Count {
					t.Fatalf("%s: got %s, rescan %s", what, format(g), format(w))
				}
				sameValues(t, what, g.Values, w.Values)
			}
			if s := a.Stats(); s.Keys != 0 {
				t.Fatalf("%v: %d keys hold state after the end", spec, s.Keys)
			}
		}
	}
}

// naiveWindows enumerates the windows of the events from scratch, in the
// order Advance emits them.
func naiveWindows(spec Spec, evs []rec) []*Result {
	byKey := map[string][]rec{}
	for _, e := range evs {
		byKey[e.key] = append(byKey[e.key], e)
	}
	var out []*Result
	add := func(key string, start, end int64, rs []rec) {
		n, vs := naive(rs)
		out = append(out, &Result{Key: key, Start: start, End: end, Count: n, Values: vs})
	}
	for key, rs := range byKey {
		switch spec.Kind {
		case Session:
			gap := int64(spec.Gap)
			i := 0
			for j := 1; j <= len(rs); j++ {
				if j == len(rs) || rs[j].t-rs[j-1].t > gap {
					add(key, rs[i].t, rs[j-1].t+gap, rs[i:j])
					i = j
				}
			}
		default:
			size, slide := int64(spec.Size), int64(spec.Slide)
			if spec.Kind == Tumbling {
				slide = size
			}
			seen := map[int64]bool{}
			for _, e := range rs {
				for s := alignDown(e.t, slide); s > e.t-size; s -= slide {
					if seen[s] {
						continue
					}
					seen[s] = true
					var in []rec
					for _, o := range rs {
						if o.t >= s && o.t < s+size {
							in = append(in, o)
						}
					}
					add(key, s, s+size, in)
				}
			}
		}
	}
	slices.SortFunc(out, func(x, y *Result) int {
		return cmp.Or(cmp.Compare(x.End, y.End), cmp.Compare(x.Start, y.Start), cmp.Compare(x.Key, y.Key))
	})
	return out
}

func TestRandomSlidingWindowsAgreeWithRescan(t *testing.T) {
	specs := []Spec{{Kind: Sliding, Size: 15 * time.Second}, {Kind: Length, Length: 7}, {Kind: Length, Length: 1}}
	for seed := range uint64(20) {
		for _, spec := range specs {
			r := rand.New(rand.NewPCG(seed, 2))
			evs := randomEvents(r, 2000)
			a := mustNew(t, Config{Window: spec, Measures: allMeasures})
			byKey := map[string][]rec{}
			for i, e := range evs {
				if r.IntN(7) == 0 {
					a.Advance(e.t, func(*Result) {}, nil)
				}
				cur, st := a.Add(e.key, e.t, e.args, nil)
				if st != Applied {
					t.Fatalf("event %d: %v", i, st)
				}
				byKey[e.key] = append(byKey[e.key], e)
				win := byKey[e.key]
				if spec.Kind == Sliding {
					for len(win) > 0 && win[0].t <= e.t-int64(spec.Size) {
						win = win[1:]
					}
				} else if len(win) > spec.Length {
					win = win[len(win)-spec.Length:]
				}
				byKey[e.key] = win
				n, want := naive(win)
				if cur.Count != n {
					t.Fatalf("seed %d %v event %d: count %d, rescan %d", seed, spec, i, cur.Count, n)
				}
				sameValues(t, fmt.Sprintf("seed %d %v event %d", seed, spec, i), cur.Values, want)
			}
		}
	}
}

// TestLongSlidingSumStaysAccurate pushes a million values of mixed
// magnitude through a short window: the running sums must not drift.
func TestLongSlidingSumStaysAccurate(t *testing.T) {
	ms := []Measure{{Name: "sum", Func: Sum}, {Name: "sd", Func: Stddev}}
	a := mustNew(t, Config{Window: Spec{Kind: Length, Length: 50}, Measures: ms})
	r := rand.New(rand.NewPCG(7, 7))
	var win []float64
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	for i := range n {
		x := r.NormFloat64() * math.Pow(10, float64(r.IntN(12)))
		win = append(win, x)
		if len(win) > 50 {
			win = win[1:]
		}
		cur, _ := a.Add("k", int64(i), []Arg{N(x), N(x)}, nil)
		if i%9973 != 0 {
			continue
		}
		var sum, mean, ss float64
		for _, v := range win {
			sum += v
		}
		mean = sum / float64(len(win))
		for _, v := range win {
			ss += (v - mean) * (v - mean)
		}
		scale := 0.0
		for _, v := range win {
			scale = math.Max(scale, math.Abs(v))
		}
		if math.Abs(cur.Values[0]-sum) > 1e-12*scale*50 {
			t.Fatalf("event %d: sum %v, rescan %v", i, cur.Values[0], sum)
		}
		sd := math.Sqrt(ss / float64(len(win)))
		if math.Abs(cur.Values[1]-sd) > 1e-6*scale {
			t.Fatalf("event %d: stddev %v, rescan %v", i, cur.Values[1], sd)
		}
	}
}

func TestApproximateCountDistinct(t *testing.T) {
	ms := []Measure{{Name: "exact", Func: CountDistinct}, {Name: "approx", Func: CountDistinct, Approx: true}}
	a := mustNew(t, Config{Window: Spec{Kind: Hopping, Size: time.Hour, Slide: 30 * time.Minute}, Measures: ms})
	for i := range 100_000 {
		s := fmt.Sprint("card-", i%60_000)
		a.Add("dev", int64(i)*int64(time.Millisecond), []Arg{S(s), S(s)}, nil)
	}
	var got []*Result
	a.Advance(1<<63-1, func(r *Result) { got = append(got, r) }, nil)
	if len(got) != 2 {
		t.Fatalf("%d results, want 2", len(got))
	}
	for _, r := range got {
		exact, approx := r.Values[0], r.Values[1]
		if exact != 60_000 || math.Abs(approx-exact)/exact > 0.03 {
			t.Errorf("%s: exact %v, approximate %v", format(r), exact, approx)
		}
	}
}

// TestRandomCorrectionsConverge sends events up to 30s late to windows in
// LateCorrect mode with a lateness that loses nothing: the results not
// superseded by a later correction must be exactly the windows of all the
// events, computed from scratch.
func TestRandomCorrectionsConverge(t *testing.T) {
	specs := []Spec{
		{Kind: Tumbling, Size: 10 * time.Second},
		{Kind: Hopping, Size: 20 * time.Second, Slide: 5 * time.Second},
		{Kind: Session, Gap: 5 * time.Second},
	}
	type id struct {
		key        string
		start, end int64
		rev        int
	}
	for seed := range uint64(20) {
		for _, spec := range specs {
			r := rand.New(rand.NewPCG(seed, 5))
			evs := randomEvents(r, 300)
			a := mustNew(t, Config{Window: spec, Measures: allMeasures, Late: LateCorrect, AllowedLateness: time.Hour})
			live := map[id]*Result{}
			emit := func(x *Result) {
				for _, p := range x.Corrects {
					pid := id{p.Key, p.Start, p.End, p.Revision}
					if live[pid] == nil {
						t.Fatalf("seed %d %v: %s corrects a result that is not live", seed, spec, format(x))
					}
					delete(live, pid)
				}
				live[id{x.Key, x.Start, x.End, x.Revision}] = x
			}
			var sent []rec
			maxT := int64(0)
			for _, e := range evs {
				e.t -= r.Int64N(30*sec) * int64(r.IntN(4)/3) // a quarter are late
				e.t = max(e.t, 0)
				maxT = max(maxT, e.t)
				if r.IntN(5) == 0 {
					a.Advance(maxT-r.Int64N(3*sec), emit, nil)
				}
				if _, st := a.Add(e.key, e.t, e.args, nil); st != Applied && st != Corrected {
					t.Fatalf("seed %d %v: %v", seed, spec, st)
				}
				sent = append(sent, e)
			}
			a.Advance(1<<62, emit, nil)
			if s := a.Stats(); s.LateCorrected == 0 || s.Corrections == 0 || s.Late != 0 {
				t.Fatalf("seed %d %v: stats %+v: the test should correct and lose nothing", seed, spec, s)
			}
			slices.SortStableFunc(sent, func(x, y rec) int { return cmp.Compare(x.t, y.t) })
			want := naiveWindows(spec, sent)
			var got []*Result
			for _, x := range live {
				got = append(got, x)
			}
			slices.SortFunc(got, func(x, y *Result) int {
				return cmp.Or(cmp.Compare(x.End, y.End), cmp.Compare(x.Start, y.Start), cmp.Compare(x.Key, y.Key))
			})
			if len(got) != len(want) {
				t.Fatalf("seed %d %v: %d live results, rescan has %d", seed, spec, len(got), len(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				what := fmt.Sprintf("seed %d %v result %d", seed, spec, i)
				if g.Key != w.Key || g.Start != w.Start || g.End != w.End || g.Count != w.Count {
					t.Fatalf("%s: got %s, rescan %s", what, format(g), format(w))
				}
				sameValues(t, what, g.Values, w.Values)
			}
		}
	}
}

// TestAddKeepsNoKey adds the same events to two aggregators of each kind,
// one with each key and count_distinct value its own string, the other
// with views of one buffer that is overwritten after every Add, as the
// engine's scratch bytes and a released event's line are: their results,
// keys included, are the same.
func TestAddKeepsNoKey(t *testing.T) {
	specs := []Spec{
		{Kind: Tumbling, Size: 10 * time.Second},
		{Kind: Hopping, Size: 20 * time.Second, Slide: 5 * time.Second},
		{Kind: Session, Gap: 5 * time.Second},
		{Kind: Sliding, Size: 10 * time.Second},
		{Kind: Length, Length: 4, Expire: 30 * time.Second},
	}
	for _, c := range []struct {
		spec Spec
		late LateMode
	}{
		{specs[0], LateCount}, {specs[1], LateCount}, {specs[2], LateCount}, {specs[3], LateCount}, {specs[4], LateCount},
		// Late events that correct emitted windows schedule keys that
		// exist already.
		{specs[0], LateCorrect}, {specs[1], LateCorrect}, {specs[2], LateCorrect},
	} {
		spec := c.spec
		r := rand.New(rand.NewPCG(7, 1))
		evs := randomEvents(r, 300)
		if c.late == LateCorrect {
			for i := 1; i < len(evs); i += 3 {
				evs[i].t -= 15 * sec // behind the watermark, within the lateness
			}
		}
		cfg := Config{Window: spec, Measures: allMeasures, Late: c.late, AllowedLateness: time.Minute}
		own, viewed := mustNew(t, cfg), mustNew(t, cfg)
		var got, want []string
		emit := func(out *[]string) func(*Result) {
			return func(r *Result) { *out = append(*out, fmt.Sprint(r.Key, r.Start, r.End, r.Count, r.Values)) }
		}
		buf := make([]byte, 0, 16)
		for i, e := range evs {
			if i%7 == 0 {
				own.Advance(e.t-sec, emit(&want), nil)
				viewed.Advance(e.t-sec, emit(&got), nil)
			}
			wc, wst := own.Add(e.key, e.t, e.args, nil)
			if wc != nil {
				want = append(want, fmt.Sprint("current ", wc.Key, wc.Start, wc.End, wc.Count, wc.Values))
			}
			buf = append(append(buf[:0], e.key...), e.args[6].Str...)
			args := slices.Clone(e.args)
			if n := len(args[6].Str); n > 0 {
				args[6].Str = unsafe.String(&buf[len(e.key)], n)
			}
			gc, gst := viewed.Add(unsafe.String(&buf[0], len(e.key)), e.t, args, nil)
			copy(buf, "##########")
			if gc != nil {
				got = append(got, fmt.Sprint("current ", gc.Key, gc.Start, gc.End, gc.Count, gc.Values))
			}
			if gst != wst {
				t.Fatalf("%v: event %d: %v, want %v", spec, i, gst, wst)
			}
		}
		own.Advance(1<<63-1, emit(&want), nil)
		viewed.Advance(1<<63-1, emit(&got), nil)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("%v: with keys viewed in a reused buffer\n%q\nwant\n%q", spec, got, want)
		}
	}
}
