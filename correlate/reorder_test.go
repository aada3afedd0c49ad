package correlate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// A stream that holds event time back (declared, silent, not yet idle)
// must not make the reorder buffer hold memory without bound: past its
// byte budget the oldest events go on, counted.
func TestReorderBufferIsBoundedInBytes(t *testing.T) {
	rs := compileRules(t, "id: all\ntitle: all\nmatch: \"true\"\n")
	col := &collector{}
	const budget = 64 << 10
	e, err := New(rs, Config{Streams: []string{"fast", "silent"}, MaxBufferBytes: budget}, col.add)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		now := time.Unix(1_700_000_000+int64(i), 0)
		e.Push(ev(t, "fast", fmt.Sprintf("e%d", i), i, `"pad":"`+fmt.Sprintf("%0100d", i)+`"`), now)
		if b := e.Stats().BufferedBytes; b > budget {
			t.Fatalf("after %d events the buffer holds %d bytes, over its %d", i, b, budget)
		}
	}
	s := e.Stats()
	if s.ReleasedEarly == 0 || len(col.alerts) == 0 {
		t.Fatalf("released early %d, alerts %d: nothing went on", s.ReleasedEarly, len(col.alerts))
	}
	e.Close()
	if len(col.alerts) != 5000 || e.Stats().LateDropped != 0 {
		t.Errorf("%d alerts, %d dropped; want every event once", len(col.alerts), e.Stats().LateDropped)
	}
}

// TestReorderReleasesInOrder feeds a reorder buffer events of two streams
// mostly in order, some late by up to the lateness, and checks it releases
// them exactly in event-time order (time, stream, arrival), whether they
// waited in its queue of in-order events or in its heap; a checkpoint's
// buffered events, restored, come out the same.
func TestReorderReleasesInOrder(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const lateness = 50
	for round := range 20 {
		r := newReorder(lateness, 0, 0)
		var in, out []*event.Event
		seq := map[string]uint64{}
		tm := int64(1000)
		pop := func(wm int64) {
			for ev := r.pop(wm); ev != nil; ev = r.pop(wm) {
				out = append(out, ev)
			}
		}
		for i := range 3000 {
			stream := []string{"a", "b"}[rnd.IntN(2)]
			tm += int64(rnd.IntN(3))
			at := tm
			if rnd.IntN(10) == 0 {
				at -= int64(rnd.IntN(lateness))
			}
			seq[stream]++
			e := &event.Event{Stream: stream, ID: fmt.Sprint(i), Time: at, Seq: seq[stream]}
			if !r.add(e, time.Time{}) {
				continue // late: not buffered
			}
			in = append(in, e)
			pop(r.advance())
			if round%2 == 1 && i%500 == 499 {
				// Restore what a checkpoint keeps, as a restart does.
				buffered := r.events()
				if len(buffered) != r.buffered() {
					t.Fatalf("events() has %d, buffered() %d", len(buffered), r.buffered())
				}
				r.restore(buffered)
			}
		}
		pop(MaxTime)
		if r.buffered() != 0 || r.bytes != 0 {
			t.Fatalf("round %d: %d events, %d bytes left", round, r.buffered(), r.bytes)
		}
		want := slices.Clone(in)
		slices.SortStableFunc(want, byEventTime)
		if len(out) != len(want) {
			t.Fatalf("round %d: %d released, %d in", round, len(out), len(in))
		}
		for i := range out {
			if out[i] != want[i] {
				t.Fatalf("round %d: event %d released is %s@%d, want %s@%d", round, i, out[i].ID, out[i].Time, want[i].ID, want[i].Time)
			}
		}
	}
}

// TestReorderForceOldest checks the oldest buffered event is found whether
// it waits in the in-order queue or in the heap.
func TestReorderForceOldest(t *testing.T) {
	r := newReorder(time.Hour, 0, 0)
	for i, tm := range []int64{100, 200, 50, 300} {
		r.add(&event.Event{Stream: "s", Time: tm, Seq: uint64(i + 1)}, time.Time{})
	}
	if wm := r.forceOldest(); wm != 51 {
		t.Fatalf("watermark %d, want 51 (the late event, in the heap)", wm)
	}
	if ev := r.pop(r.wm); ev == nil || ev.Time != 50 {
		t.Fatalf("popped %+v", ev)
	}
	if wm := r.forceOldest(); wm != 101 {
		t.Fatalf("watermark %d, want 101 (the queue's first)", wm)
	}
}
