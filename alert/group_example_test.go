package alert_test

import (
	"fmt"
	"time"

	"github.com/cep-project/cep/alert"
)

func ExampleGrouper() {
	g := alert.NewGrouper(alert.Group{For: 10 * time.Minute})
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	key := alert.Key{{Expr: "event.card", Value: "c-1"}}
	for i, d := range []time.Duration{0, 2 * time.Minute, 7 * time.Minute} {
		a := alert.Alert{ID: fmt.Sprint("a", i), Rule: "fraud.declines", Key: key, Time: t0.Add(d)}
		for _, out := range g.Offer(a) {
			fmt.Println("emit", out.ID)
		}
	}
	// The engine flushes with its watermark as event time advances.
	for _, s := range g.Flush(t0.Add(10 * time.Minute)) {
		fmt.Println("summary of", s.Corrects, "count", s.Count, "last seen", s.LastSeen.Format(time.Kitchen))
	}
	// Output:
	// emit a0
	// summary of a0 count 3 last seen 12:07PM
}

func ExampleThrottler() {
	th := alert.NewThrottler(alert.Throttle{Max: 2, Per: time.Minute})
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		a := alert.Alert{ID: fmt.Sprint("a", i), Rule: "sec.storm", Title: "Storm", Time: t0.Add(time.Duration(i) * time.Second)}
		for _, out := range th.Offer(a) {
			fmt.Println("emit", out.ID)
		}
	}
	for _, s := range th.Flush(t0.Add(time.Minute)) {
		fmt.Println(s.Title, s.Count, s.Fields["suppressed_ids"])
	}
	// Output:
	// emit a0
	// emit a1
	// Throttled: Storm 3 [a2 a3 a4]
}
