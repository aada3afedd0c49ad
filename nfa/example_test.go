package nfa_test

import (
	"fmt"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/nfa"
)

// Card testing: three or more small declines on a card, then a large
// approval, within ten minutes.
func Example() {
	field := func(ev *event.Event, name string) event.Value {
		v, _ := ev.Get(name)
		return v
	}
	declined := func(ev *event.Event, _ nfa.View) bool {
		return field(ev, "result").Str() == "declined" && field(ev, "amount").Num() < 5
	}
	cashout := func(ev *event.Event, _ nfa.View) bool {
		return field(ev, "result").Str() == "approved" && field(ev, "amount").Num() > 500
	}
	n, err := nfa.Compile(nfa.Pattern{
		Steps: []nfa.Step{
			{Name: "probe", Where: declined, Times: nfa.AtLeast(3)},
			{Name: "cashout", Where: cashout},
		},
		Within: 10 * time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m := nfa.NewMatcher(n, nfa.Options{})

	dec := event.Decoder{Stream: "payments"}
	lines := []string{
		`{"id":"p1","ts":"2026-01-01T10:00:00Z","card":"c-1","result":"declined","amount":1}`,
		`{"id":"p2","ts":"2026-01-01T10:01:00Z","card":"c-1","result":"declined","amount":2}`,
		`{"id":"p3","ts":"2026-01-01T10:02:00Z","card":"c-2","result":"declined","amount":1}`,
		`{"id":"p4","ts":"2026-01-01T10:03:00Z","card":"c-1","result":"declined","amount":1}`,
		`{"id":"p5","ts":"2026-01-01T10:04:00Z","card":"c-1","result":"approved","amount":900}`,
	}
	emit := func(mt nfa.Match) {
		fmt.Printf("key %s at %s:", mt.Key, time.Unix(0, mt.Time).UTC().Format(time.TimeOnly))
		for _, e := range mt.Events {
			fmt.Printf(" %s=%s", e.Name, e.Event.ID)
		}
		fmt.Println()
	}
	for _, l := range lines {
		ev, err := dec.Decode([]byte(l))
		if err != nil {
			fmt.Println(err)
			return
		}
		card := field(ev, "card").Str()
		// The engine advances event time before each event, so expiries
		// are emitted in time order.
		if err := m.Advance(ev.Time, emit); err != nil {
			fmt.Println(err)
		}
		if err := m.Process(card, ev, emit); err != nil {
			fmt.Println(err)
		}
	}
	s := m.Stats()
	fmt.Println("live partial matches:", s.Partials)
	// Output:
	// key c-1 at 10:04:00: probe=p1 probe=p2 probe=p4 cashout=p5
	// live partial matches: 1
}
