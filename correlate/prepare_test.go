package correlate

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/nfa"
	"github.com/cep-project/cep/rules"
)

// prepareRules mix preparable filters (indexed by merchant, unindexed,
// deduplicated, one that can fail) with rules that must stay on the
// engine: a sequence, a filter reading facts, a filter with baselines.
var prepareRules = []string{`id: watch-a
title: watched merchant a
streams: [payments]
by: [event.card]
match: event.merchant == "m-a" && event.amount > 50.0
`, `id: seq
title: small then large
streams: [payments]
by: [event.card]
sequence:
  within: 1h
  steps:
    - {name: small, where: event.amount < 10.0}
    - {name: large, where: event.amount > 90.0}
`, `id: large
title: large anywhere
streams: [payments]
late: process
match: event.amount > 95.0
alert: {dedup: 30s}
`, `id: learn
title: learn cards
streams: [payments]
match: event.amount > 80.0
remember: [{set: known, key: event.card, value: event.merchant, ttl: 1h}]
alert: {emit: false}
`, `id: new-pair
title: card at a merchant not seen with a large amount
streams: [payments]
match: event.merchant == "m-b" && !seen("known", event.card, event.merchant)
`, `id: watch-b
title: watched merchant b
streams: [payments]
by: [event.card]
match: event.merchant == "m-b" && event.amount > 20.0
`, `id: fails
title: a condition that cannot be evaluated on some events
streams: [payments]
match: event.merchant == "m-c" && event.amount / event.fee > 2.0
`, `id: hourly
title: many payments of a card in an hour
streams: [payments]
by: [event.card]
aggregate:
  window: {type: tumbling, size: 1h}
  measures: {n: count()}
  having: n > 70
`, `id: seq-steps
title: a payment then a larger one at the same merchant
streams: [payments]
by: [event.card]
sequence:
  within: 10m
  steps:
    - {name: first, where: event.amount > 40.0}
    - {name: second, where: event.merchant == first.merchant && event.amount > first.amount}
`, `id: seq-fails
title: a step that cannot be evaluated on some events, and one of a stream
streams: [payments]
by: [event.card, event.merchant]
sequence:
  within: 30m
  steps:
    - {name: a, where: event.amount / event.fee > 20.0}
    - {name: b, stream: payments, times: 1+, where: event.amount < 30.0, until: event.merchant == "m-c"}
    - {name: c}
`, `id: seq-fee
title: keyed by a field most events lack
streams: [payments]
by: [event.fee]
sequence:
  within: 5m
  steps:
    - {name: a, where: event.amount < 50.0}
    - {name: b, where: event.amount >= 50.0}
`, `id: agg-where
title: payments at a merchant in ten minutes, with a where that can fail
streams: [payments]
by: [event.merchant]
aggregate:
  where: event.amount / event.fee > 10.0
  window: {type: sliding, size: 10m}
  measures: {n: count()}
  having: n >= 3
`, `id: agg-fee
title: an aggregate keyed by a field most events lack
streams: [payments]
by: [event.fee]
aggregate:
  where: event.amount > 30.0
  window: {type: tumbling, size: 5m}
  measures: {total: sum(event.amount)}
  having: total > 100.0
`, `id: seq-next
title: a small payment, then at once a large one (strict contiguity)
streams: [payments]
by: [event.card]
sequence:
  within: 1h
  steps:
    - {name: small, where: event.amount < 20.0}
    - {name: large, where: event.amount > 70.0, contiguity: strict}
`, `id: seq-not-next
title: a small payment not followed at once by a mid one
streams: [payments]
by: [event.card]
sequence:
  within: 1h
  steps:
    - {name: small, where: event.amount < 20.0}
    - {name: mid, where: event.amount > 60.0 && event.amount < 70.0, not: true, contiguity: strict}
    - {name: large, where: event.amount > 75.0}
`, `id: seq-run
title: two small payments in a row, then a large one
streams: [payments]
by: [event.card]
sequence:
  within: 1h
  steps:
    - {name: small, where: event.amount < 50.0, times: 2, loop: consecutive}
    - {name: large, where: event.amount > 80.0}
`, `id: seq-until
title: a small payment, mid ones until one at m-a, then a large one
streams: [payments]
by: [event.card]
sequence:
  within: 30m
  steps:
    - {name: small, where: event.amount < 20.0}
    - {name: mids, where: event.amount > 30.0 && event.amount < 70.0, times: 2+, until: event.merchant == "m-a"}
    - {name: large, where: event.amount > 90.0}
`, `id: seq-refuted
title: a payment, then a larger one at its merchant, refuted on the event alone
streams: [payments]
by: [event.card]
late: process
sequence:
  within: 20m
  steps:
    - {name: first, where: event.amount > 60.0 && event.merchant != "m-d"}
    - {name: second, where: event.amount > 85.0 && event.merchant == first.merchant}
`, `id: spiky
title: amount far above the card's usual
streams: [payments]
by: [event.card]
baselines:
  amt: {value: event.amount, half_life: 1h, min_count: 3}
match: anomaly.amt > 1.5
`}

// prepareEvents are 600 events a second apart; shuffled, every fifth
// comes up to a minute late.
func prepareEvents(tb testing.TB, shuffled bool) []*event.Event {
	merchants := []string{"m-a", "m-b", "m-c", "m-d"}
	var evs []*event.Event
	for j := range 600 {
		i := j
		if shuffled && j%5 == 4 && j >= 60 {
			i = j - (j*13)%60
		}
		amount := float64((i*37)%100) + 0.5
		fee := ""
		if i%3 == 0 {
			fee = `,"fee":2.0`
		}
		evs = append(evs, ev(tb, "payments", fmt.Sprintf("e%d", i), i, fmt.Sprintf(`"card":"c%d","merchant":%q,"amount":%g%s`, i%7, merchants[(i*5)%len(merchants)], amount, fee)))
	}
	return evs
}

// runPrepared runs the rules over the events, prepared (when prepare) on
// two goroutines ahead of the engine as decoders do, and returns the
// alerts, the rules' counters and their evaluation errors.
func runPrepared(t *testing.T, srcs []string, shuffled bool, by func(*Engine) func() func([]*event.Event)) (string, map[string]RuleStats, Stats, map[string]uint64) {
	t.Helper()
	rs := compileRules(t, srcs...)
	rules.UseFacts(rs, facts.NewMemory())
	c := &collector{}
	e, err := New(rs, Config{}, c.add)
	if err != nil {
		t.Fatal(err)
	}
	evs := prepareEvents(t, shuffled)
	if by != nil {
		mk := by(e)
		if mk == nil {
			t.Fatal("nothing to prepare")
		}
		var wg sync.WaitGroup
		for g := range 2 {
			wg.Go(func() {
				// Each goroutine prepares its own batches, as decoders
				// prepare their chunks.
				p := mk()
				for i := g * 64; i < len(evs); i += 128 {
					p(evs[i:min(i+64, len(evs))])
				}
			})
		}
		wg.Wait()
	}
	if by == nil {
		for _, x := range evs {
			e.Push(x, time.Time{})
		}
	} else {
		// In batches, as sources hand them over, which touches prepared
		// keys ahead (touchKeys).
		for i := 0; i < len(evs); i += 50 {
			e.PushBatch(evs[i:min(i+50, len(evs))], time.Time{})
		}
	}
	e.Close()
	errs := map[string]uint64{}
	for _, r := range rs {
		errs[r.ID] = r.Health.Errors()
	}
	return c.ids(), e.RuleStats(), e.Stats(), errs
}

// TestPreparedSameAlerts: evaluating filters on other goroutines changes
// neither the alerts, nor their order, nor any counter, for events in
// order and late ones; events prepared for another engine are evaluated
// anew.
func TestPreparedSameAlerts(t *testing.T) {
	// Indexed filters only: an event reaches one filter or none.
	indexed := []string{prepareRules[0], prepareRules[1], prepareRules[5]}
	// Sequences and aggregates only: the decoders work out keys, steps'
	// verdicts and wheres.
	var keyed []string
	for _, src := range prepareRules {
		if strings.Contains(src, "sequence:") || strings.Contains(src, "aggregate:") {
			keyed = append(keyed, src)
		}
	}
	for _, rs := range []struct {
		name string
		srcs []string
	}{{"mixed", prepareRules}, {"indexed", indexed}, {"keyed", keyed}} {
		for _, shuffled := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/shuffled=%v", rs.name, shuffled), func(t *testing.T) { testPreparedSameAlerts(t, rs.srcs, shuffled) })
		}
	}
}

func testPreparedSameAlerts(t *testing.T, srcs []string, shuffled bool) {
	want, wantStats, wantTotals, wantErrs := runPrepared(t, srcs, shuffled, nil)
	if want == "" {
		t.Fatal("the rules raised no alert: the test would prove nothing")
	}
	if shuffled && wantTotals.Late == 0 {
		t.Fatalf("late %d, dropped %d: the late path is not tested", wantTotals.Late, wantTotals.LateDropped)
	}
	for _, tc := range []struct {
		name string
		by   func(*Engine) func() func([]*event.Event)
	}{
		{"own", (*Engine).Preparer},
		{"another engine's", func(*Engine) func() func([]*event.Event) {
			rs := compileRules(t, srcs...)
			rules.UseFacts(rs, facts.NewMemory())
			other, err := New(rs, Config{}, func(*alert.Alert) {})
			if err != nil {
				t.Fatal(err)
			}
			return other.Preparer()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, gotStats, gotTotals, gotErrs := runPrepared(t, srcs, shuffled, tc.by)
			if got != want {
				t.Errorf("alerts\n%s\nwant\n%s", got, want)
			}
			if gotTotals != wantTotals {
				t.Errorf("counters %+v, want %+v", gotTotals, wantTotals)
			}
			for _, id := range slices.Sorted(maps.Keys(wantStats)) {
				if gotStats[id] != wantStats[id] {
					t.Errorf("rule %s: counters %+v, want %+v", id, gotStats[id], wantStats[id])
				}
				if gotErrs[id] != wantErrs[id] {
					t.Errorf("rule %s: %d evaluation errors, want %d", id, gotErrs[id], wantErrs[id])
				}
			}
		})
	}
}

// TestSelfPreparedSameAlerts: an engine with thousands of filters
// prepares the unprepared events of a batch itself (prepareRest); the
// alerts, their order and every counter are those of pushing the events
// one by one, for events in order and late ones.
func TestSelfPreparedSameAlerts(t *testing.T) {
	indexed := []string{prepareRules[0], prepareRules[1], prepareRules[5]}
	run := func(srcs []string, shuffled, batched bool) (string, map[string]RuleStats, Stats, bool) {
		rs := compileRules(t, srcs...)
		rules.UseFacts(rs, facts.NewMemory())
		c := &collector{}
		e, err := New(rs, Config{}, c.add)
		if err != nil {
			t.Fatal(err)
		}
		evs := prepareEvents(t, shuffled)
		for i := 0; i < len(evs); i += 64 {
			if batched {
				e.PushBatch(evs[i:min(i+64, len(evs))], time.Time{})
				continue
			}
			for _, x := range evs[i:min(i+64, len(evs))] {
				e.Push(x, time.Time{})
			}
		}
		e.Close()
		return c.ids(), e.RuleStats(), e.Stats(), e.selfPrep != nil
	}
	for _, rs := range []struct {
		name string
		srcs []string
	}{{"mixed", prepareRules}, {"indexed", indexed}} {
		for _, shuffled := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/shuffled=%v", rs.name, shuffled), func(t *testing.T) {
				want, wantStats, wantTotals, _ := run(rs.srcs, shuffled, false)
				if want == "" {
					t.Fatal("the rules raised no alert: the test would prove nothing")
				}
				defer func(n int) { selfPrepMin = n }(selfPrepMin)
				selfPrepMin = 1
				got, gotStats, gotTotals, prepared := run(rs.srcs, shuffled, true)
				if !prepared {
					t.Fatal("the engine prepared no batch")
				}
				if got != want {
					t.Errorf("alerts\n%s\nwant\n%s", got, want)
				}
				if gotTotals != wantTotals {
					t.Errorf("counters %+v, want %+v", gotTotals, wantTotals)
				}
				for _, id := range slices.Sorted(maps.Keys(wantStats)) {
					if gotStats[id] != wantStats[id] {
						t.Errorf("rule %s: counters %+v, want %+v", id, gotStats[id], wantStats[id])
					}
				}
			})
		}
	}
}

// TestPreparable: only filters whose verdict depends on the event alone
// are prepared; explaining prepares nothing.
func TestPreparable(t *testing.T) {
	rs := compileRules(t, prepareRules...)
	e, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, d := range e.dets {
		if e.prepMask[i] {
			got = append(got, d.rule().ID)
		}
	}
	if want := []string{"watch-a", "large", "learn", "watch-b", "fails"}; !slices.Equal(got, want) {
		t.Errorf("prepared %v, want %v", got, want)
	}
	ex, err := New(rs, Config{Explain: &nopWriter{}}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Preparer() != nil {
		t.Error("an explaining engine prepares events")
	}
}

type nopWriter struct{}

func (*nopWriter) Write(b []byte) (int, error) { return len(b), nil }

// TestPrepareAnnounced: Config.Prepare receives the preparer of the engine
// New makes and of the one a Reload makes, and events prepared for the
// engine Reload replaced are still judged right by the new one.
func TestPrepareAnnounced(t *testing.T) {
	var got []func() func([]*event.Event)
	cfg := Config{Prepare: func(p func() func([]*event.Event)) { got = append(got, p) }}
	rs := compileRules(t, prepareRules[0], prepareRules[5])
	c := &collector{}
	e, err := New(rs, cfg, c.add)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] == nil {
		t.Fatalf("New announced %d preparers", len(got))
	}
	old := got[0]()
	evs := prepareEvents(t, false)
	old(evs[:300])
	for _, x := range evs[:300] {
		e.Push(x, time.Time{})
	}
	ne, _, err := e.Reload(compileRules(t, prepareRules[0], prepareRules[5]))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1] == nil {
		t.Fatalf("New and Reload announced %d preparers", len(got))
	}
	old(evs[300:])
	for _, x := range evs[300:] {
		ne.Push(x, time.Time{})
	}
	ne.Close()
	want, _, _, _ := runPrepared(t, []string{prepareRules[0], prepareRules[5]}, false, nil)
	if c.ids() != want {
		t.Errorf("alerts across a reload\n%s\nwant\n%s", c.ids(), want)
	}
}

// BenchmarkPreparedEngine times the engine's own goroutine per event with
// many filter rules: evaluating every condition itself event by event
// (engine), taking the verdicts prepared ahead (prepared; off the timer,
// as decoders do), or taking the unprepared batch at once, which the
// engine prepares itself at thousands of rules (batch): the serial work
// that bounds a run whose engine is the slower side.
func BenchmarkPreparedEngine(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, mode := range []string{"engine", "prepared", "batch"} {
			b.Run(fmt.Sprintf("%d/%s", n, mode), func(b *testing.B) {
				e, d, lines := manyFilters(b, n)
				var prep func([]*event.Event)
				if mode == "prepared" {
					prep = e.Preparer()()
				}
				pushDecoded(b, e, &d, lines, prep, mode == "batch")
			})
		}
	}
}

// pushDecoded times e taking b.N events of lines, prepared with prep
// when it is not nil, pushed event by event or, with whole, a batch at a
// time.
func pushDecoded(b *testing.B, e *Engine, d *event.Decoder, lines [][]byte, prep func([]*event.Event), whole bool) {
	inBatches(b, d, lines, 1024, prep, func(batch []*event.Event) {
		if whole {
			e.PushBatch(batch, time.Time{})
			return
		}
		for _, x := range batch {
			e.Push(x, time.Time{})
		}
	})
}

// inBatches times work over b.N events of lines, decoded by d size at a
// time (and given to setup, when it is not nil) outside the timer.
func inBatches(b *testing.B, d *event.Decoder, lines [][]byte, size int, setup, work func([]*event.Event)) {
	batch := make([]*event.Event, size)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		k := min(len(batch), b.N-done)
		decodeBatch(b, d, lines, batch[:k], done)
		if setup != nil {
			setup(batch[:k])
		}
		b.StartTimer()
		work(batch[:k])
		done += k
	}
}

// manyFilters makes an engine of n filter rules of one shape, each on a
// merchant of its own, a decoder of their stream projected as a run's is,
// and 16,384 lines of it whose merchants spread over the rules.
func manyFilters(b *testing.B, n int) (*Engine, event.Decoder, [][]byte) {
	var srcs []string
	for i := range n {
		srcs = append(srcs, fmt.Sprintf("id: r%d\ntitle: r\nstreams: [payments]\nby: [event.card_id]\nmatch: event.type == \"card_auth\" && event.merchant == \"m-%05d\" && event.result == \"approved\" && event.amount > 900.0\n", i, i*10000/n))
	}
	e, err := New(compileRules(b, srcs...), Config{}, func(*alert.Alert) {})
	if err != nil {
		b.Fatal(err)
	}
	d := event.Decoder{Stream: "payments", Project: rules.Projection(e.loadedRules(), "payments")}
	lines := make([][]byte, 16384)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, `{"id":"p%d","ts":%d,"type":"card_auth","card_id":"c-%d","merchant":"m-%05d","mcc":"5411","amount":%d.5,"currency":"EUR","result":"approved"}`, i, 1_700_000_000_000+i, i%97, (i*7919)%10000, i%1000)
	}
	return e, d, lines
}

// decodeBatch fills batch with the events of lines from the from-th on
// (wrapping around), a millisecond apart in event time.
func decodeBatch(b *testing.B, d *event.Decoder, lines [][]byte, batch []*event.Event, from int) {
	for j := range batch {
		x, err := d.Decode(lines[(from+j)%len(lines)])
		if err != nil {
			b.Fatal(err)
		}
		x.Time = benchStart + int64(from+j)*1e6
		batch[j] = x
	}
}

// loadedRules are the engine's rules in load order.
func (e *Engine) loadedRules() []*rules.Rule {
	rs := make([]*rules.Rule, len(e.dets))
	for i, d := range e.dets {
		rs[i] = d.rule()
	}
	return rs
}

// BenchmarkPreparer times what a decoding goroutine does per event to
// prepare a chunk of 256 with many filter rules: route each event, test
// its candidate rule. Touching every candidate of the chunk before testing
// any took 10,000 rules from 1.77-2.25 µs to 1.22-1.68 µs per event (eight
// alternating runs each, -benchtime 200000x).
func BenchmarkPreparer(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			e, d, lines := manyFilters(b, n)
			benchPreparer(b, e, &d, lines)
		})
	}
}

// BenchmarkPreparerSequence times what a decoding goroutine does per
// event for a 3-step sequence (cep bench --scenario sequence): its key
// and the verdicts of its three guards, event.t == "a" and so on. Reading
// the guards' fields in place took it from 355-372 to 203-233 ns per event.
func BenchmarkPreparerSequence(b *testing.B) {
	src := "id: s\ntitle: s\nstreams: [events]\nby: [event.k]\nsequence:\n  within: 10m\n  steps:\n" +
		"    - {name: a, where: event.t == \"a\"}\n    - {name: b, where: event.t == \"b\"}\n    - {name: c, where: event.t == \"c\"}\n" +
		"alert:\n  fields: {k: a.k}\n"
	e, err := New(compileRules(b, src), Config{}, func(*alert.Alert) {})
	if err != nil {
		b.Fatal(err)
	}
	d := event.Decoder{Stream: "events", Project: rules.Projection(e.loadedRules(), "events")}
	lines := make([][]byte, 16384)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, `{"id":"e%d","ts":%d,"k":"k%d","t":"%c"}`, i, 1_700_000_000_000+i, i%99991, 'a'+i%3)
	}
	benchPreparer(b, e, &d, lines)
}

// benchPreparer times e's preparation of lines, decoded by d a chunk of
// 256 at a time outside the timer.
func benchPreparer(b *testing.B, e *Engine, d *event.Decoder, lines [][]byte) {
	inBatches(b, d, lines, 256, nil, e.Preparer()())
}

// TestManyFiltersByStream: whether a batch is worth preparing on the
// engine depends on the filters of its stream, those of every stream
// among them, not on those of other streams.
func TestManyFiltersByStream(t *testing.T) {
	var srcs []string
	for i, s := range []string{"a", "a", "a", "b", "b", ""} {
		streams := ""
		if s != "" {
			streams = "streams: [" + s + "]\n"
		}
		srcs = append(srcs, fmt.Sprintf("id: r%d\ntitle: r\n%smatch: event.k == \"x%d\"\n", i, streams, i))
	}
	e, err := New(compileRules(t, srcs...), Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	defer func(n int) { selfPrepMin = n }(selfPrepMin)
	for _, tt := range []struct {
		min  int
		want map[string]bool
	}{
		{3, map[string]bool{"a": true, "b": true, "c": false}},
		{4, map[string]bool{"a": true, "b": false, "c": false}},
		{1, map[string]bool{"a": true, "b": true, "c": true}},
	} {
		selfPrepMin = tt.min
		for s, want := range tt.want {
			if got := e.manyFilters(s); got != want {
				t.Errorf("at least %d filters for stream %s: %v, want %v", tt.min, s, got, want)
			}
		}
	}
}

// TestNewPrepared: whatever the numbers of filters and keyed detectors,
// a Prepared has a hit for each filter and room for each detector's
// verdicts, and its hits, keys and room never share memory, nor with any
// other Prepared taken from the same arena, past its chunks' blocks.
func TestNewPrepared(t *testing.T) {
	for _, ar := range []*slabArena{nil, {}} {
		type taken struct {
			p          *event.Prepared
			room       []byte
			hits, keys int
			tag        byte
		}
		var all []taken
		for n := range 2*event.SlabEvents + 1 {
			for hits := range 7 {
				for keys := range 11 {
					p, room := newPrepared(hits, keys, ar)
					if len(p.Hits) != hits || len(p.Keys) != 0 || cap(p.Keys) < keys {
						t.Fatalf("newPrepared(%d, %d): %d hits, keys %d of %d", hits, keys, len(p.Hits), len(p.Keys), cap(p.Keys))
					}
					x := taken{p, room, hits, keys, byte(n*77 + hits*11 + keys)}
					for i := range p.Hits {
						p.Hits[i] = int32(i+1) + int32(x.tag)<<8
					}
					for i := range room {
						room[i] = x.tag
					}
					for i := range keys {
						p.Keys = append(p.Keys, event.PreparedKey{Det: int32(-i - 1), Decided: ^uint64(i) + uint64(x.tag)})
					}
					all = append(all, x)
				}
			}
		}
		for _, x := range all {
			p, hits, keys := x.p, x.hits, x.keys
			for i := range x.room {
				if x.room[i] != x.tag {
					t.Fatalf("newPrepared(%d, %d): room[%d] overwritten", hits, keys, i)
				}
			}
			for i, h := range p.Hits {
				if h != int32(i+1)+int32(x.tag)<<8 {
					t.Fatalf("newPrepared(%d, %d): hit %d is %d after the keys", hits, keys, i, h)
				}
			}
			for i, k := range p.Keys {
				if k.Det != int32(-i-1) || k.Decided != ^uint64(i)+uint64(x.tag) {
					t.Fatalf("newPrepared(%d, %d): key %d is %+v", hits, keys, i, k)
				}
			}
		}
	}
}

// TestPreparedChainUndecided: a candidate whose chain cannot decide (a
// term that errs) is left to CEL on the preparing goroutine, which counts
// the error against the rule as the engine's own test does; the verdict
// and the counts are the same prepared or not.
func TestPreparedChainUndecided(t *testing.T) {
	src := `id: typed
title: amount compared as a number
streams: [payments]
match: event.merchant == "m-a" && event.amount > 50.0
`
	run := func(prepared bool) (string, uint64) {
		rs := compileRules(t, src)
		if rs[0].Match.NativeChain() == nil {
			t.Fatal("the condition is not a chain: the test would prove nothing")
		}
		c := &collector{}
		e, err := New(rs, Config{}, c.add)
		if err != nil {
			t.Fatal(err)
		}
		var evs []*event.Event
		for i := range 40 {
			amount := fmt.Sprint(i * 5)
			if i%4 == 0 {
				amount = strconv.Quote(amount) // text: the chain's term errs
			}
			evs = append(evs, ev(t, "payments", fmt.Sprint("e", i), i, fmt.Sprintf(`"merchant":"m-a","amount":%s`, amount)))
		}
		if prepared {
			e.Preparer()()(evs)
		}
		e.PushBatch(evs, time.Time{})
		e.Close()
		return c.ids(), rs[0].Health.Errors()
	}
	want, wantErrs := run(false)
	got, gotErrs := run(true)
	if wantErrs == 0 || want == "" {
		t.Fatalf("alerts %q, %d errors: the test would prove nothing", want, wantErrs)
	}
	if got != want || gotErrs != wantErrs {
		t.Errorf("prepared: alerts %s, %d errors; unprepared: %s, %d errors", got, gotErrs, want, wantErrs)
	}
}

// BenchmarkFilterAlert is the engine's work for an event that a filter
// alerts on (a key of one part, two alert fields): building the alert is
// most of the engine's time at 10,000 rules, where one event in eighteen
// alerts. Its allocations per op are the alert's.
func BenchmarkFilterAlert(b *testing.B) {
	alerts := 0
	e, err := New(compileRules(b, "id: r\ntitle: r\nstreams: [payments]\nby: [event.card_id]\nmatch: event.amount > 0.0\nalert:\n  fields: {card: event.card_id, amount: event.amount}\n"), Config{}, func(*alert.Alert) { alerts++ })
	if err != nil {
		b.Fatal(err)
	}
	d := event.Decoder{Stream: "payments", Project: rules.Projection(e.loadedRules(), "payments")}
	lines := make([][]byte, 4096)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, `{"id":"p%d","ts":%d,"type":"card_auth","card_id":"c-%d","merchant":"m-%05d","amount":%d.5,"result":"approved"}`, i, 1_700_000_000_000+i, i%97, i%10000, i%1000+1)
	}
	pushDecoded(b, e, &d, lines, nil, false)
	b.StopTimer()
	// The engine releases an event once a later one has passed it.
	if alerts < b.N-1 {
		b.Fatalf("%d alerts of %d events", alerts, b.N)
	}
}

// TestHoldsAhead: the decoders make a held copy only of an event a
// detector is sure to hold, from what they prepared for it.
func TestHoldsAhead(t *testing.T) {
	where := func(ev *event.Event, _ nfa.View) bool { return true }
	n, err := nfa.Compile(nfa.Pattern{Steps: []nfa.Step{{Name: "a", Where: where, ViewFree: true}, {Name: "b", Where: where}}})
	if err != nil {
		t.Fatal(err)
	}
	var first, second nfa.Decided
	first, second = first.With(0, true), first.With(0, false).With(1, true)
	key := []byte(`["k"]`)
	for _, tc := range []struct {
		name string
		h    holdsAhead
		k    event.PreparedKey
		want bool
	}{
		{"a sequence's first step takes it", holdsAhead{starts: n}, event.PreparedKey{Decided: uint64(first), Key: key}, true},
		{"only a later step may", holdsAhead{starts: n}, event.PreparedKey{Decided: uint64(second), Key: key}, false},
		{"a sequence's key left to the engine", holdsAhead{starts: n}, event.PreparedKey{Decided: uint64(first)}, false},
		{"a window without a where", holdsAhead{adds: true}, event.PreparedKey{Key: key}, true},
		{"a window whose where holds", holdsAhead{adds: true, where: true}, event.PreparedKey{Decided: whereTrue, Key: key}, true},
		{"a window whose where is the engine's to test", holdsAhead{adds: true, where: true}, event.PreparedKey{Key: key}, false},
		{"a window whose where fails", holdsAhead{adds: true, where: true}, event.PreparedKey{Decided: whereFalse}, false},
		{"a detector that holds nothing", holdsAhead{}, event.PreparedKey{Key: key}, false},
	} {
		if got := tc.h.holds(tc.k); got != tc.want {
			t.Errorf("%s: holds = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A slab's arena gives out the same blocks again once the slab is taken
// again, cleared: a block keeps nothing of the event it was given for.
func TestSlabArenaReuse(t *testing.T) {
	ar := new(slabArena)
	held := &event.Event{ID: "held"}
	var first []*event.Prepared
	var key []byte
	for range event.SlabEvents {
		p, room := newPrepared(1, 1, ar)
		room[0] = 'k'
		p.Hits[0], p.Held = 7, held
		p.Keys = append(p.Keys, event.PreparedKey{Det: 3, Key: room[:1]})
		first = append(first, p)
		key = room[:1]
	}
	if p, _ := newPrepared(1, 1, ar); slices.Contains(first, p) {
		t.Fatal("a block given out twice before the slab was taken again")
	}
	// A poisoned slab's arena (see event.SlabAux): what a reader kept of
	// a prepared key reads 'Z's.
	ar.Poison()
	if string(key) != "Z" || first[0].Held != nil {
		t.Fatalf("poisoned: key %q, held %v", key, first[0].Held)
	}
	ar.Reuse()
	for i := range event.SlabEvents {
		p, _ := newPrepared(1, 1, ar)
		if p != first[i] {
			t.Fatalf("block %d not given out again", i)
		}
		if p.Held != nil || p.Hits[0] != 0 || len(p.Keys) != 0 {
			t.Fatalf("block %d given out again with %+v", i, *p)
		}
	}
	if a := testing.AllocsPerRun(10, func() {
		ar.Reuse()
		for range event.SlabEvents {
			newPrepared(1, 1, ar)
		}
	}); a != 0 {
		t.Fatalf("%v allocations for a slab's blocks taken again", a)
	}
}
