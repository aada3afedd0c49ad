package alert

import (
	"fmt"
	"testing"
	"time"
)

var pt0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func candidate(rule, key string, min int) *Alert {
	return &Alert{ID: fmt.Sprintf("%s-%s-%d", rule, key, min), Rule: rule, Severity: High, Time: pt0.Add(time.Duration(min) * time.Minute),
		Key: Key{{Expr: "k", Value: key}}}
}

type feed struct {
	rule, key string
	min       int
}

func run(p *Pipeline, got *[]string, in []feed, wm int) {
	for _, f := range in {
		a := candidate(f.rule, f.key, f.min)
		p.Offer(a, f.key)
		p.Advance(a.Time.UnixNano())
	}
	p.Advance(pt0.Add(time.Duration(wm) * time.Minute).UnixNano())
}

func newTestPipeline(got *[]string) *Pipeline {
	p := NewPipeline(Priority{}, nil, func(a *Alert) {
		*got = append(*got, fmt.Sprintf("%s@%s#%d", a.ID, a.Time.Format("15:04"), a.Count))
	})
	p.Add("dedup", Handling{Dedup: 10 * time.Minute})
	p.Add("group", Handling{Group: &Group{By: []string{"key"}, For: 5 * time.Minute}})
	p.Add("throttle", Handling{Throttle: &Throttle{Max: 2, Per: time.Hour}})
	return p
}

var pipelineFeed = []feed{
	{"dedup", "a", 0}, {"dedup", "a", 5}, {"dedup", "b", 6}, {"dedup", "a", 11},
	{"group", "a", 0}, {"group", "a", 1}, {"group", "a", 2},
	{"throttle", "a", 0}, {"throttle", "b", 1}, {"throttle", "c", 2}, {"throttle", "d", 3},
	{"plain", "x", 4},
}

// Dedup, group and throttle in event time, and a checkpoint of the
// pipeline half-way changes nothing.
func TestPipeline(t *testing.T) {
	var whole []string
	p := newTestPipeline(&whole)
	run(p, &whole, pipelineFeed, 120)
	want := "[dedup-a-0@08:00#0 dedup-b-6@08:06#0 dedup-a-11@08:11#0 group-a-0@08:00#0 throttle-a-0@08:00#0 throttle-b-1@08:01#0 plain-x-4@08:04#0"
	if got := fmt.Sprint(whole); len(got) < len(want) || got[:len(want)] != want {
		t.Fatalf("alerts %v", whole)
	}
	if p.Deduplicated() != 1 {
		t.Errorf("deduplicated %d, want 1", p.Deduplicated())
	}
	for half := 1; half < len(pipelineFeed); half++ {
		var got []string
		p1 := newTestPipeline(&got)
		run(p1, &got, pipelineFeed[:half], 0)
		p2 := newTestPipeline(&got)
		for _, rule := range []string{"dedup", "group", "throttle"} {
			err := p1.Snapshot(rule, func(key string, val []byte) error {
				ok, err := p2.Restore(rule, key, val)
				if !ok {
					t.Fatalf("restore did not take %s/%s", rule, key)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		run(p2, &got, pipelineFeed[half:], 120)
		if fmt.Sprint(got) != fmt.Sprint(whole) {
			t.Errorf("snapshot after %d: %v\nwant %v", half, got, whole)
		}
	}
}

// OfferTo with the handles Handle returns gives what Offer does; a rule
// without dedup, group or throttle, or unknown, has no handle, and its
// alerts go straight out.
func TestOfferTo(t *testing.T) {
	var want, got []string
	run(newTestPipeline(&want), &want, pipelineFeed, 120)
	p := newTestPipeline(&got)
	p.Add("none", Handling{})
	for _, rule := range []string{"none", "plain"} {
		if h := p.Handle(rule); h != nil {
			t.Errorf("Handle(%q) = %p, want nil", rule, h)
		}
	}
	for _, f := range pipelineFeed {
		a := candidate(f.rule, f.key, f.min)
		p.OfferTo(p.Handle(f.rule), a, f.key)
		p.Advance(a.Time.UnixNano())
	}
	p.Advance(pt0.Add(120 * time.Minute).UnixNano())
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("OfferTo: %v\nOffer: %v", got, want)
	}
}
