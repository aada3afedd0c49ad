package correlate

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/rules"
)

// Sequence rules of every kind the shards must order alike: a looping
// step, an absence whose matches come at deadlines, timeouts emitted,
// two streams keyed apart, and beside them a filter and a sequence that
// reads facts, which are not sharded.
var shardRules = []string{`id: loop
title: probes then cash-out
streams: [pay]
by: [event.k]
sequence:
  within: 40s
  steps:
    - {name: probe, where: event.t == "a", times: 2+}
    - {name: cash, where: event.t == "c"}
`, `id: absent
title: checkout without payment
streams: [pay]
by: [event.k]
sequence:
  within: 20s
  steps:
    - {name: checkout, where: event.t == "b"}
    - {name: payment, where: event.t == "c", not: true}
`, `id: timeouts
title: a then b, timeouts kept
streams: [pay]
by: [event.k]
sequence:
  within: 15s
  emit_timeouts: true
  steps:
    - {name: a, where: event.t == "a"}
    - {name: b, where: event.t == "b"}
`, `id: cross
title: login then payment of its user
streams: [auth, pay]
by: {auth: [event.user], pay: [event.k]}
sequence:
  within: 30s
  steps:
    - {name: login, where: event.t == "login", stream: auth}
    - {name: pay, where: event.t == "c", stream: pay}
`, `id: big
title: Large payment
streams: [pay]
by: [event.k]
match: event.t == "c" && event.x > 90.0
remember:
  - {set: big_payers, key: event.k, value: '"yes"', ttl: 1h}
`, `id: after-big
title: big payer then a
streams: [pay]
by: [event.k]
sequence:
  within: 30s
  steps:
    - name: one
      where: event.t == "a" && seen("big_payers", event.k, "yes")
    - {name: two, where: event.t == "b"}
`, `id: slide
title: much paid within 20s
streams: [pay]
by: [event.k]
aggregate:
  window: {type: sliding, size: 30s}
  where: event.t == "c"
  measures:
    total: sum(event.x)
  having: total > 100.0
`, `id: top
title: top payers of 10s, corrected when late
streams: [pay]
by: [event.k]
late: correct
aggregate:
  window: {type: tumbling, size: 10s}
  measures:
    total: sum(event.x)
    n: count()
  having: n >= 1
  top: {n: 3, by: total}
`, `id: hop
title: kinds of event per key
streams: [pay]
by: [event.k]
aggregate:
  window: {type: hopping, size: 5m, slide: 1m}
  measures:
    kinds: count_distinct(event.t)
  having: kinds >= 3
`, `id: session
title: busy sessions
streams: [pay, auth]
by: {pay: [event.k], auth: [event.user]}
aggregate:
  window: {type: session, gap: 150s}
  measures:
    n: count()
  having: n >= 5
`, `id: length
title: three payments high on average
streams: [pay]
by: [event.k]
aggregate:
  window: {type: length, size: 3}
  where: event.t == "c" || event.t == "a"
  measures:
    avg: avg(event.x)
  having: avg > 70.0
`, `id: login-pay
title: login and a payment of its user within 10s, lone logins kept
join:
  within: 10s
  type: left
  sides:
    - {name: login, stream: auth, by: [event.user]}
    - {name: pay, stream: pay, where: event.t == "c", by: [event.k]}
`, `id: pair
title: an a and its amount, an event on both sides under two keys
join:
  within: 5s
  type: full
  sides:
    - {name: first, stream: pay, where: event.t == "a", by: [event.k]}
    - {name: second, stream: pay, where: event.t == "a" || event.t == "b", by: [event.x]}
`}

// shardCompile compiles shardRules with a fact store of their own.
func shardCompile(t testing.TB) []*rules.Rule {
	rs := compileRules(t, shardRules...)
	rules.UseFacts(rs, facts.NewMemory())
	return rs
}

// shardEvents makes n events over keys, a second or so apart, some
// out of order and some late.
func shardEvents(t testing.TB, n, keys int) []*event.Event {
	rng := rand.New(rand.NewPCG(7, 11))
	var out []*event.Event
	types := []string{"a", "a", "b", "c", "login"}
	for i := range n {
		sec := i/3 + rng.IntN(4)
		if rng.IntN(40) == 0 {
			sec -= 6 // late, into windows already closed
		}
		k := fmt.Sprintf("k%d", rng.IntN(keys))
		ty := types[rng.IntN(len(types))]
		stream := "pay"
		if ty == "login" {
			stream = "auth"
		}
		e := ev(t, stream, fmt.Sprintf("e%d", i), sec,
			fmt.Sprintf(`"k":%q,"user":%q,"t":%q,"x":%d`, k, k, ty, rng.IntN(100)))
		// Numbered as a source numbers them: windows keep evidence in
		// event order, and a checkpoint checks it.
		e.Seq = uint64(i + 1)
		out = append(out, e)
	}
	return out
}

// alertsText renders alerts with everything that must not differ.
func alertsText(as []*alert.Alert) string {
	var b strings.Builder
	for _, a := range as {
		var evs []string
		for _, e := range a.Events {
			evs = append(evs, e.Step+"="+e.Event.ID)
		}
		fmt.Fprintf(&b, "%s %s key=%v t=%d out=%v corrects=%s %v [%s]\n", a.Rule, a.ID, a.Key, a.Time.UnixNano(), a.TimedOut, a.Corrects, a.Fields, strings.Join(evs, ","))
	}
	return b.String()
}

func runSharded(t *testing.T, shards, batch int, evs []*event.Event, late string) (string, Stats, map[string]string) {
	return runShardedWithin(t, shards, batch, evs, late, 0)
}

// runShardedWithin is runSharded under a state budget.
func runShardedWithin(t *testing.T, shards, batch int, evs []*event.Event, late string, budget int64) (string, Stats, map[string]string) {
	t.Helper()
	rs := shardCompile(t)
	col := &collector{}
	e, err := New(rs, Config{Shards: shards, AllowedLateness: 2e9, Late: late, Streams: []string{"pay", "auth"}, Limits: Limits{MaxStateBytes: budget}}, col.add)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(e.sharded); shards > 1 && got != 11 {
		t.Fatalf("%d rules sharded, want 11 (not the filter, nor the rule reading facts)", got)
	}
	var zero time.Time
	for i := 0; i < len(evs); i += batch {
		e.PushBatch(evs[i:min(i+batch, len(evs))], zero)
	}
	state := map[string]string{}
	if err := e.Snapshot(func(scope, key string, val []byte) error {
		state[scope+" "+key] = string(val)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	st := e.Stats()
	return alertsText(col.alerts), st, state
}

// With its keys split among shards a run gives the alerts of a run
// without, in the same order, and the same state and counters.
func TestShardsChangeNothing(t *testing.T) {
	evs := shardEvents(t, 6000, 300)
	for _, late := range []string{LateDrop, LateProcess} {
		want, wantStats, wantState := runSharded(t, 1, 1, evs, late)
		if strings.Count(want, "\n") < 500 || !strings.Contains(want, "out=true") || !strings.Contains(want, "after-big") {
			t.Fatalf("late %s: the run is too plain to compare:\n%.2000s", late, want)
		}
		for _, id := range []string{"absent", "cross", "slide", "top", "hop", "session", "length", "login-pay", "pair"} {
			if n := strings.Count(want, "\n"+id+" "); n < 10 {
				t.Fatalf("late %s: rule %s alerts %d times, too few to compare", late, id, n)
			}
		}
		if !regexp.MustCompile(`corrects=[0-9a-f]`).MatchString(want) {
			t.Fatalf("late %s: no window was corrected: %+v", late, wantStats)
		}
		if wantStats.Late == 0 {
			t.Fatalf("late %s: no event was late", late)
		}
		for _, shards := range []int{2, 3, 4} {
			for _, batch := range []int{1, 7, 512, 5000} {
				got, gotStats, gotState := runSharded(t, shards, batch, evs, late)
				if got != want {
					t.Errorf("late %s, %d shards, batches of %d: alerts differ:\n%s", late, shards, batch, firstDiff(want, got))
				}
				if gotStats != wantStats {
					t.Errorf("late %s, %d shards, batches of %d: stats %+v, want %+v", late, shards, batch, gotStats, wantStats)
				}
				if d := stateDiff(gotState, wantState); d != "" {
					t.Errorf("late %s, %d shards, batches of %d: checkpoints differ: %s", late, shards, batch, d)
				}
			}
		}
	}
}

// Under a state budget that sheds nothing the shards give the alerts of
// one matcher; shedding, each shard to its share, gives alerts of its own,
// but the same in every run.
func TestShardsUnderABudget(t *testing.T) {
	evs := shardEvents(t, 6000, 300)
	const roomy, tight = 8 << 20, 40 << 10
	want, wantStats, _ := runShardedWithin(t, 1, 1, evs, LateDrop, roomy)
	got, gotStats, _ := runShardedWithin(t, 3, 512, evs, LateDrop, roomy)
	if wantStats.StateShed != 0 || got != want || gotStats != wantStats {
		t.Errorf("3 shards under %d bytes: %d shed; alerts:\n%s", roomy, gotStats.StateShed, firstDiff(want, got))
	}
	a, as, _ := runShardedWithin(t, 3, 512, evs, LateDrop, tight)
	b, bs, _ := runShardedWithin(t, 3, 100, evs, LateDrop, tight)
	if as.StateShed == 0 {
		t.Fatalf("3 shards under %d bytes shed nothing", tight)
	}
	if a != b || as != bs {
		t.Errorf("3 shards shedding: two runs differ:\n%s", firstDiff(a, b))
	}
}

// stateDiff compares two checkpoints: the same entries, and the same
// bytes but for the sharded rules' keys, whose partial matches are
// numbered by each shard (the numbers label them in traces).
func stateDiff(got, want map[string]string) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d entries, want %d", len(got), len(want))
	}
	for k, v := range want {
		w, ok := got[k]
		switch {
		case !ok:
			return "no entry " + k
		case w != v && !strings.Contains(k, " k/"):
			return "entry " + k + " differs"
		}
	}
	return ""
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range min(len(w), len(g)) {
		if w[i] != g[i] {
			return fmt.Sprintf("line %d:\n want %s\n  got %s", i+1, w[i], g[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// A checkpoint of a sharded run restores into an engine without shards,
// and the other way round, and both go on as one run would.
func TestShardedCheckpointsMove(t *testing.T) {
	evs := shardEvents(t, 3000, 200)
	cfg := func(n int) Config {
		return Config{Shards: n, AllowedLateness: 2e9, Streams: []string{"pay", "auth"}}
	}
	var zero time.Time
	one := &collector{}
	e, err := New(shardCompile(t), cfg(1), one.add)
	if err != nil {
		t.Fatal(err)
	}
	e.PushBatch(evs, zero)
	e.Close()
	want := alertsText(one.alerts)

	for _, n := range [][2]int{{1, 1}, {3, 1}, {1, 2}, {2, 4}} {
		// The rules remember facts: each run has its own.
		rs := shardCompile(t)
		col := &collector{}
		a, err := New(rs, cfg(n[0]), col.add)
		if err != nil {
			t.Fatal(err)
		}
		a.PushBatch(evs[:1700], zero)
		b := restored(t, a, rs, cfg(n[1]), col)
		b.PushBatch(evs[1700:], zero)
		b.Close()
		if got := alertsText(col.alerts); got != want {
			t.Errorf("%d shards, then %d: alerts differ:\n%s", n[0], n[1], firstDiff(want, got))
		}
	}
}

// Reloading the rules of an engine with shards carries every sharded
// rule's state over: the alerts are those of one run without either.
func TestShardedReload(t *testing.T) {
	evs := shardEvents(t, 3000, 200)
	cfg := Config{Shards: 3, AllowedLateness: 2e9, Streams: []string{"pay", "auth"}}
	var zero time.Time
	one := &collector{}
	plain, err := New(shardCompile(t), Config{AllowedLateness: 2e9, Streams: []string{"pay", "auth"}}, one.add)
	if err != nil {
		t.Fatal(err)
	}
	plain.PushBatch(evs, zero)
	plain.Close()

	store := facts.NewMemory()
	compile := func() []*rules.Rule {
		rs := compileRules(t, shardRules...)
		rules.UseFacts(rs, store)
		return rs
	}
	col := &collector{}
	e, err := New(compile(), cfg, col.add)
	if err != nil {
		t.Fatal(err)
	}
	e.PushBatch(evs[:1500], zero)
	ne, _, err := e.Reload(compile())
	if err != nil {
		t.Fatal(err)
	}
	if len(ne.sharded) != 11 {
		t.Fatalf("%d rules sharded after the reload, want 11", len(ne.sharded))
	}
	ne.PushBatch(evs[1500:], zero)
	ne.Close()
	if want, got := alertsText(one.alerts), alertsText(col.alerts); got != want {
		t.Errorf("a reload with 3 shards: alerts differ:\n%s", firstDiff(want, got))
	}
}

// Tracing a key of a sharded rule follows it in its shard.
func TestTraceShardedKey(t *testing.T) {
	rs := shardCompile(t)
	e, err := New(rs, Config{Shards: 3}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.TraceKey("timeouts", `["k1"]`); err != nil {
		t.Fatal(err)
	}
	var zero time.Time
	e.PushBatch([]*event.Event{ev(t, "pay", "e1", 1, `"k":"k1","t":"a"`), ev(t, "pay", "e2", 2, `"k":"k2","t":"a"`)}, zero)
	kt, err := e.TraceKey("timeouts", `["k1"]`)
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Partials) != 1 || !slices.ContainsFunc(kt.Trace, func(s string) bool { return strings.Contains(s, "e1") }) {
		t.Fatalf("trace of k1: %+v", kt)
	}
}

// BenchmarkSharded times the engine alone (events decoded before) on a
// 3-step sequence, on a sliding sum with a having beside an hourly
// count_distinct, and on a two-sided join, over 100,000 keys, with their
// keys in 1, 2 and 4 matchers, aggregators or joiners. The shards gain where they have cores to
// themselves: run it with -cpu 2 or more, one shard count per process.
func BenchmarkSharded(b *testing.B) {
	const keys = 100_000
	rng := rand.New(rand.NewPCG(1, 2))
	d := event.Decoder{Stream: "pay"}
	evs := make([]*event.Event, 0, 1<<20)
	types := []string{"a", "b", "c"}
	for i := range cap(evs) {
		line := fmt.Sprintf(`{"id":"e%d","ts":%d,"k":"k%d","t":%q,"x":%d,"m":"m%d"}`, i, 1_700_000_000_000+int64(i), rng.IntN(keys), types[rng.IntN(3)], rng.IntN(100), rng.IntN(50))
		e, err := d.Decode([]byte(line))
		if err != nil {
			b.Fatal(err)
		}
		e.Seq = uint64(i + 1)
		evs = append(evs, e)
	}
	for _, bench := range []struct {
		name  string
		rules []string
	}{
		{"sequence", []string{`id: abc
title: a, b then c
streams: [pay]
by: [event.k]
sequence:
  within: 10m
  steps:
    - {name: a, where: event.t == "a"}
    - {name: b, where: event.t == "b"}
    - {name: c, where: event.t == "c"}
`}},
		{"aggregate", []string{`id: sum
title: much within 10 minutes
streams: [pay]
by: [event.k]
aggregate:
  window: {type: sliding, size: 10m}
  measures:
    total: sum(event.x)
  having: total > 400.0
`, `id: merchants
title: many merchants in an hour
streams: [pay]
by: [event.k]
aggregate:
  window: {type: tumbling, size: 1h}
  measures:
    merchants: count_distinct(event.m)
  having: merchants >= 10
`}},
		{"join", []string{`id: ab
title: a and b of one key within a minute
join:
  within: 1m
  sides:
    - {name: a, stream: pay, where: event.t == "a", by: [event.k]}
    - {name: b, stream: pay, where: event.t == "b", by: [event.k]}
`}},
	} {
		rs := compileRules(b, bench.rules...)
		for _, shards := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/shards=%d", bench.name, shards), func(b *testing.B) {
				n := 0
				var e *Engine
				for b.Loop() {
					if n%len(evs) == 0 {
						b.StopTimer()
						var err error
						if e, err = New(rs, Config{Shards: shards}, func(*alert.Alert) {}); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
					e.PushBatch(evs[n%len(evs):n%len(evs)+512], time.Time{})
					n += 512
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
			})
		}
	}
}

// Each shard keeps at most its share of Limits.MaxPartials, so the rule
// as a whole keeps at most the limit.
func TestShardsShareMaxPartials(t *testing.T) {
	rs := compileRules(t, shardRules[2]) // timeouts: a, then b within 15s
	e, err := New(rs, Config{Shards: 2, Limits: Limits{MaxPartials: 10}}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	for i := range 40 {
		evs = append(evs, ev(t, "pay", fmt.Sprintf("e%d", i), 1, fmt.Sprintf(`"k":"k%d","t":"a"`, i)))
	}
	// A later event moves event time past them, so they are released.
	evs = append(evs, ev(t, "pay", "later", 2, `"k":"other","t":"x"`))
	e.PushBatch(evs, time.Time{})
	st := e.Stats()
	if st.Partials > 10 || st.PartialsDropped != uint64(40-st.Partials) {
		t.Fatalf("%d partial matches kept, %d dropped; want at most 10 kept and the rest dropped", st.Partials, st.PartialsDropped)
	}
	for i, d := range e.sharded[0].(*shardedSequence).shards {
		if n := d.m.Stats().Partials; n > 5 {
			t.Errorf("shard %d keeps %d partial matches, more than its share of 5", i, n)
		}
	}
}

// Each shard of a window or join rule keeps at most its share of
// Limits.MaxKeys, so the rule as a whole keeps at most the limit, and
// every event of a key beyond it is counted.
func TestShardsShareMaxKeys(t *testing.T) {
	for _, c := range []struct {
		rule, id, stream, event string
	}{
		{shardRules[8], "hop", "pay", `"k":"k%d","t":"a"`},
		{shardRules[11], "login-pay", "auth", `"user":"k%d","t":"login"`},
	} {
		rs := compileRules(t, c.rule)
		e, err := New(rs, Config{Shards: 2, Limits: Limits{MaxKeys: 10}}, func(*alert.Alert) {})
		if err != nil {
			t.Fatal(err)
		}
		var evs []*event.Event
		for i := range 40 {
			evs = append(evs, ev(t, c.stream, fmt.Sprintf("e%d", i), 1, fmt.Sprintf(c.event, i)))
		}
		evs = append(evs, ev(t, c.stream, "later", 2, fmt.Sprintf(c.event, 0)))
		e.PushBatch(evs, time.Time{})
		kept := e.RuleStates()[c.id].Keys
		if kept > 10 || kept < 8 || e.Stats().Shed < uint64(40-kept) {
			t.Fatalf("%s: %d keys kept, %d events dropped; want at most 10 kept and the other keys' events dropped", c.id, kept, e.Stats().Shed)
		}
		var perShard []int
		switch d := e.sharded[0].(type) {
		case *shardedAggregate:
			for _, s := range d.shards {
				perShard = append(perShard, s.agg.Stats().Keys)
			}
		case *shardedJoin:
			for _, s := range d.shards {
				perShard = append(perShard, s.j.Stats().Keys)
			}
		}
		if len(perShard) != 2 || slices.Max(perShard) > 5 {
			t.Errorf("%s: shards keep %v keys, more than their share of 5", c.id, perShard)
		}
	}
}

// The rules of a shard hold an event once, as the rules of one goroutine
// do: two window rules keeping evidence make one copy of each event.
func TestShardsHoldOnce(t *testing.T) {
	for _, shards := range []int{1, 2, 3} {
		rs := compileRules(t, shardRules[7], shardRules[8]) // top and hop, by event.k
		e, err := New(rs, Config{Shards: shards}, func(*alert.Alert) {})
		if err != nil {
			t.Fatal(err)
		}
		var evs []*event.Event
		for i := range 2000 {
			evs = append(evs, ev(t, "pay", fmt.Sprintf("e%d", i), i/10, fmt.Sprintf(`"k":"k%d","t":"a","x":1`, i%70)))
		}
		e.PushBatch(evs, time.Time{})
		e.Close()
		if e.held.copies != uint64(len(evs)) {
			t.Errorf("%d shards: %d copies held of %d events", shards, e.held.copies, len(evs))
		}
	}
}
