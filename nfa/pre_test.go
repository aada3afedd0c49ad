package nfa

import (
	"fmt"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// A step's Pre is asked once an event, however many partial matches wait
// at the step, and where it is false the step's Where is not asked at all.
func TestPreRulesOutOnceAnEvent(t *testing.T) {
	kind := func(ev *event.Event) string { v, _ := ev.Get("k"); return v.Str() }
	var pres, wheres int
	n, err := Compile(Pattern{
		Steps: []Step{
			{Name: "a", Where: func(ev *event.Event, _ View) bool { return kind(ev) == "a" }, ViewFree: true},
			{
				Name: "b",
				Where: func(ev *event.Event, v View) bool {
					wheres++
					return kind(ev) == "b" && len(v.Step(0)) == 1
				},
				Pre: func(ev *event.Event) bool { pres++; return kind(ev) == "b" },
			},
		},
		Within: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(n, Options{})
	dec := event.Decoder{Stream: "s"}
	matches := 0
	for i, k := range []string{"a", "a", "a", "x", "x", "b"} {
		ev, err := dec.Decode(fmt.Appendf(nil, `{"id":"e%d","ts":%d,"k":%q}`, i, i+1, k))
		if err != nil {
			t.Fatal(err)
		}
		pres, wheres = 0, 0
		if err := m.Process("key", ev, func(Match) { matches++ }); err != nil {
			t.Fatal(err)
		}
		switch k {
		case "x":
			// Three partial matches wait at b.
			if pres != 1 || wheres != 0 {
				t.Errorf("event %s: Pre asked %d times, Where %d; want 1 and 0", k, pres, wheres)
			}
		case "b":
			if pres != 1 || wheres != 3 {
				t.Errorf("event %s: Pre asked %d times, Where %d; want 1 and 3", k, pres, wheres)
			}
		}
	}
	if matches == 0 {
		t.Error("no match")
	}
}
