package nfa

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// Hold is asked once per event a step takes, however many partial
// matches take it, and the matches hold what it returned.
func TestHoldKeepsOneCopyPerEvent(t *testing.T) {
	n := holdPattern(t)
	var held []*event.Event
	// live is the event processed: a match ending on it takes it itself
	// as its evidence, not its held copy (which would be decoded again).
	var live *event.Event
	lives := 0
	run := func(hold func(*event.Event) *event.Event) []string {
		m := NewMatcher(n, Options{Hold: hold})
		dec := event.Decoder{Stream: "s"}
		var out []string
		emit := func(mt Match) {
			var ids []string
			for _, e := range mt.Events {
				ids = append(ids, e.Name+"="+e.Event.ID)
				if e.Event == live {
					lives++
					continue
				}
				held = append(held, e.Event)
			}
			out = append(out, fmt.Sprint(ids))
		}
		for i, k := range []string{"a", "x", "a", "a", "b", "a"} {
			ev, err := dec.Decode(fmt.Appendf(nil, `{"id":"e%d","ts":%d,"k":%q}`, i, i+1, k))
			if err != nil {
				t.Fatal(err)
			}
			live = ev
			if err := m.Process("key", ev, emit); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	want := run(nil)
	held, lives = nil, 0
	copies := map[string]*event.Event{}
	calls := 0
	got := run(func(ev *event.Event) *event.Event {
		calls++
		if copies[ev.ID] != nil {
			t.Errorf("Hold asked twice for %s", ev.ID)
		}
		c := *ev
		copies[ev.ID] = &c
		return &c
	})
	if !slices.Equal(got, want) {
		t.Errorf("matches with Hold %v, without %v", got, want)
	}
	// Every event but e1 starts or extends a partial match; e2 and e3
	// start one and extend the older ones.
	for _, ev := range held {
		if copies[ev.ID] != ev {
			t.Errorf("a match holds %s itself, not what Hold returned", ev.ID)
		}
	}
	if lives == 0 || len(held) == 0 {
		t.Errorf("%d matches' evidence was the event processed, %d held: the test needs both", lives, len(held))
	}
	if calls != 5 {
		t.Errorf("Hold called %d times, want 5 (e0 e2 e3 e4 e5)", calls)
	}
}

// A restored key state's events go through Hold too, once each however
// many partial matches share one, so that a restart does not bring back
// the memory holding saved; the matches then hold what it returned.
func TestRestoreHoldsEvents(t *testing.T) {
	n := holdPattern(t)
	dec := event.Decoder{Stream: "s"}
	decode := func(i int, k string) *event.Event {
		ev, err := dec.Decode(fmt.Appendf(nil, `{"id":"e%d","ts":%d,"k":%q}`, i, i+1, k))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	first := NewMatcher(n, Options{})
	for i, k := range []string{"a", "x", "a", "a"} {
		if err := first.Process("key", decode(i, k), func(Match) {}); err != nil {
			t.Fatal(err)
		}
	}
	var states [][]byte
	if err := first.Snapshot(func(_ string, b []byte) error { states = append(states, b); return nil }); err != nil {
		t.Fatal(err)
	}
	copies := map[string]*event.Event{}
	second := NewMatcher(n, Options{Hold: func(ev *event.Event) *event.Event {
		if copies[ev.ID] != nil {
			t.Errorf("Hold asked twice for %s", ev.ID)
		}
		c := *ev
		copies[ev.ID] = &c
		return &c
	}})
	for _, b := range states {
		if err := second.Restore(b); err != nil {
			t.Fatal(err)
		}
	}
	if got := slices.Sorted(maps.Keys(copies)); !slices.Equal(got, []string{"e0", "e2", "e3"}) {
		t.Fatalf("Hold asked for %v after the restore, want e0 e2 e3", got)
	}
	var matches int
	err := second.Process("key", decode(4, "b"), func(mt Match) {
		matches++
		for _, e := range mt.Events {
			if e.Event.ID != "e4" && copies[e.Event.ID] != e.Event {
				t.Errorf("a restored match holds %s itself, not what Hold returned", e.Event.ID)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if matches == 0 {
		t.Error("no match after the restore")
	}
}

// holdPattern is a+ then b within an hour, over events whose k names
// their kind.
func holdPattern(t *testing.T) *NFA {
	t.Helper()
	kind := func(k string) Guard {
		return func(ev *event.Event, _ View) bool { v, _ := ev.Get("k"); return v.Str() == k }
	}
	n, err := Compile(Pattern{
		Steps:  []Step{{Name: "a", Where: kind("a"), Times: AtLeast(1)}, {Name: "b", Where: kind("b")}},
		Within: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A condition sees the events of earlier steps thawed for what it reads of
// each step (Options.Reads): one member of a held event, the holder's
// reads where a step has no entry, and the held event itself where its
// step reads nothing.
func TestViewThawsWhatStepsRead(t *testing.T) {
	proj := event.NewProjection([][]string{{"k"}, {"geo"}, {"u"}})
	dec := event.Decoder{Stream: "s", Project: proj}
	seen := map[string]string{}
	look := func(ev *event.Event, v View) bool {
		for i, name := range []string{"a", "b"} {
			for _, x := range v.Step(i) {
				var ks []string
				for _, f := range x.Fields {
					ks = append(ks, f.Key)
				}
				seen[name] = fmt.Sprint(x.Held(), ks)
				if lat, ok := x.Path("geo", "lat"); !ok || lat.Num() != float64(i+1) {
					t.Errorf("step %s: geo.lat = %v %v", name, lat.Interface(), ok)
				}
			}
		}
		return true
	}
	kind := func(k string) Guard {
		return func(ev *event.Event, _ View) bool { v, _ := ev.Get("k"); return v.Str() == k }
	}
	n, err := Compile(Pattern{
		Steps: []Step{
			{Name: "a", Where: kind("a")},
			{Name: "b", Where: kind("b")},
			{Name: "c", Where: func(ev *event.Event, v View) bool { return kind("c")(ev, v) && look(ev, v) }},
		},
		Within: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		reads []*event.Projection
		want  map[string]string
	}{
		{"one member", []*event.Projection{event.NewProjection([][]string{{"geo", "lat"}}), event.NewProjection(nil)},
			map[string]string{"a": "false [geo]", "b": "true []"}},
		{"no entries", nil, map[string]string{"a": "false [k geo u]", "b": "false [k geo u]"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clear(seen)
			m := NewMatcher(n, Options{Hold: func(ev *event.Event) *event.Event { return ev.Hold(proj, nil) }, Reads: tt.reads})
			for i, k := range []string{"a", "b", "c"} {
				ev, err := dec.Decode(fmt.Appendf(nil, `{"id":"e%d","ts":%d,"k":%q,"geo":{"city":"x","lat":%d},"u":"u%d","pad":"%s"}`, i, i+1, k, i+1, i, strings.Repeat("p", 200)))
				if err != nil {
					t.Fatal(err)
				}
				if err := m.Process("key", ev, func(Match) {}); err != nil {
					t.Fatal(err)
				}
			}
			if !maps.Equal(seen, tt.want) {
				t.Errorf("the condition saw %v, want %v", seen, tt.want)
			}
		})
	}
}

// A match ending on an event in its decoder's slab, which its consumer
// releases and its decoder reuses, takes the event's held copy as its
// last evidence, never the event; one of no slab, the event itself.
func TestLiveEvidenceOfASlab(t *testing.T) {
	n := holdPattern(t)
	proj := event.NewProjection([][]string{{"k"}})
	for _, slabbed := range []bool{false, true} {
		dec := event.Decoder{Stream: "s", Project: proj}
		if slabbed {
			dec.SetScreen(&event.Screen{Releases: true})
		}
		m := NewMatcher(n, Options{Hold: func(ev *event.Event) *event.Event { return ev.Hold(proj, nil) }})
		var live *event.Event
		matches := 0
		emit := func(mt Match) {
			matches++
			last := mt.Events[len(mt.Events)-1].Event
			if last.InSlab() {
				t.Errorf("slabbed=%v: a match's last evidence %s is in a slab", slabbed, last.ID)
			}
			if (last == live) == slabbed {
				t.Errorf("slabbed=%v: a match's last evidence is the event itself: %v, want %v", slabbed, last == live, !slabbed)
			}
		}
		for i, k := range []string{"a", "b", "a", "a", "b"} {
			ev, err := dec.Decode(fmt.Appendf(nil, `{"id":"e%d","ts":%d,"k":%q}`, i, i+1, k))
			if err != nil {
				t.Fatal(err)
			}
			if ev.InSlab() != slabbed {
				t.Fatalf("slabbed=%v: event %d in a slab: %v", slabbed, i, ev.InSlab())
			}
			live = ev
			if err := m.Process("key", ev, emit); err != nil {
				t.Fatal(err)
			}
			event.Release(ev)
		}
		if matches == 0 {
			t.Fatalf("slabbed=%v: no match", slabbed)
		}
	}
}
