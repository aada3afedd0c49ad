package window

import (
	"fmt"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// Evidence keeps what Hold returns, once per event however many windows
// keep it, and a restored snapshot's evidence goes through Hold too.
func TestEvidenceKeepsWhatHoldReturns(t *testing.T) {
	copies := map[string]*event.Event{}
	hold := func(ev *event.Event) *event.Event {
		if copies[ev.ID] != nil {
			t.Errorf("Hold asked twice for %s", ev.ID)
		}
		c := *ev
		copies[ev.ID] = &c
		return &c
	}
	cfg := Config{Window: Spec{Kind: Hopping, Size: 10 * time.Second, Slide: 5 * time.Second}, Measures: []Measure{{Name: "n", Func: Count}}, Hold: hold}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a.Add("k", int64(i+1)*sec, []Arg{{}}, &event.Event{Stream: "s", ID: fmt.Sprint("e", i), Time: int64(i+1) * sec, Raw: []byte(`{}`)})
	}
	snap, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	check := func(a *Aggregator, what string) {
		t.Helper()
		var got int
		a.Advance(100*sec, func(r *Result) {
			for _, ev := range r.Evidence {
				got++
				if copies[ev.ID] != ev {
					t.Errorf("%s: window [%d,%d) keeps %s itself, not what Hold returned", what, r.Start/sec, r.End/sec, ev.ID)
				}
			}
		}, nil)
		if got < 3 {
			t.Errorf("%s: %d evidence events, want 3 or more", what, got)
		}
	}
	check(a, "as added")
	clear(copies)
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	check(b, "restored")
}
