//go:build !race

// Under the race detector sync.Pool drops what it is given at random, so
// a slab may be allocated again however promptly it was released.

package correlate

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

// TestScreenedOutReleased: the events a screen turns away are released
// once the engine has passed them, so that their decoder reuses their
// slabs: in a steady run they take no allocation. (A slab holds 32
// events in two allocations: without releases, one in sixteen events
// would allocate.)
func TestScreenedOutReleased(t *testing.T) {
	rs := compileRules(t, screenRules...)
	e, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	d := event.Decoder{Stream: "payments", Project: rules.Projection(rs, "payments")}
	d.SetScreen(e.Screens()("payments"))
	const n = 4096
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, `{"id":"e%d","ts":%d,"card":"c%d","merchant":"m-x%d","amount":5.5,"geo":{"city":"Porto"}}`, i, 1_700_000_000+i, i%7, i%50)
	}
	i := 0
	push := func() {
		ev, err := d.Decode(lines[i%n])
		if err != nil {
			t.Fatal(err)
		}
		ev.Time = int64(i) * int64(time.Second) // rising as the lines repeat
		e.Push(ev, time.Time{})
		i++
	}
	for range n {
		push()
	}
	// testing.AllocsPerRun rounds down to whole allocations per run.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		push()
	}
	runtime.ReadMemStats(&after)
	if allocs := float64(after.Mallocs-before.Mallocs) / n; allocs > 0.01 {
		t.Errorf("%.3f allocations per event screened out, want none", allocs)
	}
	if only, _ := d.Screened(); only < 2*n {
		t.Fatalf("%d events screened out, want every one", only)
	}
}

// TestFilteredReleased: on a stream whose every rule is a filter reading
// the event alone, the events that reach a filter are released too once
// dispatched, whether prepared on the decoders or not, and late ones
// whether dropped or processed, and their decoder reuses their slabs: a
// steady run of events that all reach a rule and none alerts takes no
// allocation.
func TestFilteredReleased(t *testing.T) {
	var srcs []string
	for i := range 4 {
		srcs = append(srcs, fmt.Sprintf("id: big-%d\ntitle: a big payment at m-%d\nstreams: [payments]\nmatch: event.merchant == \"m-%d\" && event.amount > 1000.0\n", i, i, i))
	}
	rs := compileRules(t, srcs...)
	for _, c := range []struct {
		prepared bool
		late     string // "" for events in order
	}{{false, ""}, {true, ""}, {false, LateDrop}, {true, LateDrop}, {false, LateProcess}, {true, LateProcess}} {
		prepared := c.prepared
		t.Run(fmt.Sprintf("prepared=%v/late=%s", prepared, c.late), func(t *testing.T) {
			e, err := New(rs, Config{Late: c.late}, func(*alert.Alert) { t.Error("an alert") })
			if err != nil {
				t.Fatal(err)
			}
			d := releasingDecoder(t, e, rs, "payments")
			var prepare func([]*event.Event)
			if prepared {
				prepare = e.Preparer()()
			}
			const n = 4096
			lines := make([][]byte, n)
			for i := range lines {
				lines[i] = fmt.Appendf(nil, `{"id":"e%d","ts":%d,"card":"c%d","merchant":"m-%d","amount":5.5}`, i, 1_700_000_000+i, i%7, i%4)
			}
			i := 0
			evs := make([]*event.Event, 0, 64)
			push := func() {
				evs = evs[:0]
				for range 64 {
					ev, err := d.Decode(lines[i%n])
					if err != nil {
						t.Fatal(err)
					}
					ev.Time = int64(i) * int64(time.Second)
					if c.late != "" && i%3 == 0 {
						ev.Time -= 10 * int64(time.Second) // behind the watermark
					}
					evs = append(evs, ev)
					i++
				}
				if prepare != nil {
					prepare(evs)
				}
				e.PushBatch(evs, time.Time{})
			}
			for range n / 64 {
				push()
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range n / 64 {
				push()
			}
			runtime.ReadMemStats(&after)
			if allocs := float64(after.Mallocs-before.Mallocs) / n; allocs > 0.01 {
				t.Errorf("%.3f allocations per event reaching a filter, want none", allocs)
			}
			if st := e.RuleStats()["big-0"]; st.Evaluated < n/3 {
				t.Fatalf("rule big-0 evaluated %d events, want about a quarter of %d", st.Evaluated, 2*n)
			}
			if late := e.Stats().Late; c.late != "" && late < uint64(n/2) {
				t.Fatalf("%d events late, want a third of %d", late, 2*n)
			}
		})
	}
}

// TestSequenceHoldsAtReusedAddress: on a stream read by a sequence alone,
// events are released once dispatched and the next ones decoded at their
// addresses. The engine remembers the event it held last, so that the
// rules an event reaches share one copy; an event decoded where that one
// was must get a copy of its own. Every 64th payment starts or ends a
// match, and is decoded where the one before it was (a decoder takes its
// next slab before it gives its last back, so two slabs take turns):
// each alert has two distinct events, 64 apart.
func TestSequenceHoldsAtReusedAddress(t *testing.T) {
	rs := compileRules(t, `id: pairs
title: two large payments
streams: [payments]
by: [event.card]
sequence:
  within: 1h
  steps:
    - {name: a, where: event.amount > 99.0}
    - {name: b, where: event.amount > 99.0}
`)
	var alerts []*alert.Alert
	e, err := New(rs, Config{}, func(a *alert.Alert) { alerts = append(alerts, a) })
	if err != nil {
		t.Fatal(err)
	}
	d := releasingDecoder(t, e, rs, "payments")
	const gap, n = 64, 64 * 64
	for i := range n {
		amount := 5.0
		if i%gap == 0 {
			amount = 100.0
		}
		ev, err := d.Decode(fmt.Appendf(nil, `{"id":"e%d","ts":%d,"card":"c1","amount":%g}`, i, 1_700_000_000+i, amount))
		if err != nil {
			t.Fatal(err)
		}
		e.Push(ev, time.Time{})
	}
	e.Close()
	if len(alerts) != n/gap/2 { // a match starts after the last one's end
		t.Fatalf("%d alerts, want %d", len(alerts), n/gap/2)
	}
	for _, a := range alerts {
		if len(a.Events) != 2 {
			t.Fatalf("alert of %d events", len(a.Events))
		}
		var first, second int
		fmt.Sscanf(a.Events[0].Event.ID, "e%d", &first)
		fmt.Sscanf(a.Events[1].Event.ID, "e%d", &second)
		if second != first+gap || string(a.Events[1].Event.RawLine()) == string(a.Events[0].Event.RawLine()) {
			t.Fatalf("alert of events %s and %s, want two %d apart", a.Events[0].Event.ID, a.Events[1].Event.ID, gap)
		}
	}
}

// releasingDecoder is a decoder of stream with e's screen, which must say
// that e releases the stream's events.
func releasingDecoder(t *testing.T, e *Engine, rs []*rules.Rule, stream string) *event.Decoder {
	t.Helper()
	d := &event.Decoder{Stream: stream, Project: rules.Projection(rs, stream)}
	s := e.Screens()(stream)
	if s == nil || !s.Releases {
		t.Fatalf("%s: screen %+v, want one that says the engine releases", stream, s)
	}
	d.SetScreen(s)
	return d
}
