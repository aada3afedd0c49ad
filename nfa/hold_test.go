package nfa

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// Hold is asked once per event a step takes, however many partial
// matches take it, and the matches hold what it returned.
func TestHoldKeepsOneCopyPerEvent(t *testing.T) {
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
	var held []*event.Event
	run := func(hold func(*event.Event) *event.Event) []string {
		m := NewMatcher(n, Options{Hold: hold})
		dec := event.Decoder{Stream: "s"}
		var out []string
		emit := func(mt Match) {
			var ids []string
			for _, e := range mt.Events {
				ids = append(ids, e.Name+"="+e.Event.ID)
				held = append(held, e.Event)
			}
			out = append(out, fmt.Sprint(ids))
		}
		for i, k := range []string{"a", "x", "a", "a", "b", "a"} {
			ev, err := dec.Decode(fmt.Appendf(nil, `{"id":"e%d","ts":%d,"k":%q}`, i, i+1, k))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Process("key", ev, emit); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	want := run(nil)
	held = nil
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
	if calls != 5 {
		t.Errorf("Hold called %d times, want 5 (e0 e2 e3 e4 e5)", calls)
	}
}
