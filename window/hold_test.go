package window

import (
	"fmt"
	"strings"
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

// A tumbling window's or a session's result takes its evidence rather
// than a copy when no correction can read the window again: the evidence
// emitted is the window's, and under LateCorrect, where the window stays
// for the allowed lateness, a late event leaves the emitted evidence as
// it was and the correction has all of it.
func TestResultTakesEvidence(t *testing.T) {
	ev := func(i int) *event.Event {
		return &event.Event{Stream: "s", ID: fmt.Sprint("e", i), Time: int64(i) * sec, Raw: []byte(`{"x":1}`)}
	}
	ids := func(r *Result) string {
		var s []string
		for _, e := range r.Evidence {
			s = append(s, e.ID)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		spec  Spec
		late  LateMode
		after string
	}{
		{Spec{Kind: Tumbling, Size: 10 * time.Second}, LateCount, "[10,20) rev 0: e12"},
		{Spec{Kind: Tumbling, Size: 10 * time.Second}, LateCorrect, "[0,10) rev 1: e3,e4; [10,20) rev 0: e12"},
		{Spec{Kind: Session, Gap: 5 * time.Second}, LateCount, "[12,17) rev 0: e12"},
		{Spec{Kind: Session, Gap: 5 * time.Second}, LateCorrect, "[1,9) rev 1: e3,e4; [12,17) rev 0: e12"},
	} {
		late := tc.late
		a := mustNew(t, Config{Window: tc.spec, Measures: countOnly(), Evidence: 2, Late: late, AllowedLateness: 5 * time.Second})
		for i := 1; i <= 3; i++ {
			a.Add("k", int64(i)*sec, []Arg{{}}, ev(i))
		}
		var rs []*Result
		a.Advance(11*sec, func(r *Result) { rs = append(rs, r) }, nil)
		if len(rs) != 1 || ids(rs[0]) != "e2,e3" {
			t.Fatalf("%v, late %v: results %v", tc.spec.Kind, late, rs)
		}
		first := rs[0]
		a.Add("k", 4*sec, []Arg{{}}, ev(4))
		a.Add("k", 12*sec, []Arg{{}}, ev(12))
		a.Advance(21*sec, func(r *Result) { rs = append(rs, r) }, nil)
		if got := ids(first); got != "e2,e3" {
			t.Errorf("%v, late %v: the emitted evidence became %s", tc.spec.Kind, late, got)
		}
		var got []string
		for _, r := range rs[1:] {
			got = append(got, fmt.Sprintf("[%d,%d) rev %d: %s", r.Start/sec, r.End/sec, r.Revision, ids(r)))
		}
		if strings.Join(got, "; ") != tc.after {
			t.Errorf("%v, late %v: then %q, want %q", tc.spec.Kind, late, strings.Join(got, "; "), tc.after)
		}
	}
}
