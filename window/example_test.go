package window_test

import (
	"fmt"
	"time"

	"github.com/cep-project/cep/window"
)

// A velocity rule: more than 1000.0 transferred by one user within 10
// minutes. The engine evaluates `having` at each event and alerts when
// Fire says so: once when it turns true, again only after it was false.
func ExampleAggregator() {
	agg, err := window.New(window.Config{
		Window:   window.Spec{Kind: window.Sliding, Size: 10 * time.Minute},
		Measures: []window.Measure{{Name: "total", Func: window.Sum}},
	})
	if err != nil {
		panic(err)
	}
	at := func(m int) int64 { return int64(m) * int64(time.Minute) }
	for _, tx := range []struct {
		min    int
		amount float64
	}{{0, 400}, {3, 500}, {5, 300}, {7, 100}, {14, 50}, {16, 900}, {17, 200}} {
		cur, _ := agg.Add("alice", at(tx.min), []window.Arg{window.N(tx.amount)}, nil)
		total := cur.Values[0]
		if cur.Fire(total > 1000) {
			fmt.Printf("alert at minute %d: total %.0f\n", tx.min, total)
		}
	}
	// Output:
	// alert at minute 5: total 1200
	// alert at minute 16: total 1050
}

// Tumbling windows come out of Advance when the watermark passes their end,
// followed by the window's top-N report.
func ExampleAggregator_Advance() {
	agg, _ := window.New(window.Config{
		Window:   window.Spec{Kind: window.Tumbling, Size: time.Hour},
		Measures: []window.Measure{{Name: "spent", Func: window.Sum}, {Name: "cards", Func: window.CountDistinct}},
		Top:      &window.Top{N: 2, By: "spent"},
	})
	h := int64(time.Hour)
	agg.Add("bob", h/4, []window.Arg{window.N(30), window.S("c1")}, nil)
	agg.Add("eve", h/3, []window.Arg{window.N(900), window.S("c7")}, nil)
	agg.Add("bob", h/2, []window.Arg{window.N(20), window.S("c2")}, nil)
	agg.Add("joe", h/2, []window.Arg{window.N(45), window.S("c9")}, nil)
	agg.Advance(h, func(r *window.Result) {
		fmt.Printf("%s: spent %.0f on %.0f cards\n", r.Key, r.Values[0], r.Values[1])
	}, func(rep *window.Report) {
		for i, r := range rep.Results {
			fmt.Printf("#%d %s\n", i+1, r.Key)
		}
	})
	// Output:
	// bob: spent 50 on 2 cards
	// eve: spent 900 on 1 cards
	// joe: spent 45 on 1 cards
	// #1 eve
	// #2 bob
}
