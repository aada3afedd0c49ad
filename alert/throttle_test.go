package alert

import (
	"slices"
	"testing"
	"time"
)

func TestThrottler(t *testing.T) {
	type want struct {
		ids     []string // passed alerts, and "T" for a summary
		dropped int      // Count of the summary, if any
		first   time.Duration
		last    time.Duration
	}
	type step struct {
		offer *Alert
		flush time.Duration
		want  want
	}
	a := func(id, rule string, d time.Duration, sev Severity) *Alert {
		x := mk(t, id, rule, "c", at(d), 0)
		x.Severity = sev
		return &x
	}
	tests := []struct {
		name  string
		cfg   Throttle
		steps []step
	}{
		{
			name: "overflow is summarised once when the period closes",
			cfg:  Throttle{Max: 2, Per: time.Minute},
			steps: []step{
				{offer: a("a1", "r", 0, Low), want: want{ids: []string{"a1"}}},
				{offer: a("a2", "r", time.Second, Low), want: want{ids: []string{"a2"}}},
				{offer: a("a3", "r", 2*time.Second, Critical)},
				{offer: a("a4", "r", 59*time.Second, Low)},
				{flush: 59 * time.Second},
				{flush: time.Minute, want: want{ids: []string{"T"}, dropped: 2, first: 2 * time.Second, last: 59 * time.Second}},
			},
		},
		{
			name: "an alert of a later period first emits the earlier summary",
			cfg:  Throttle{Max: 1, Per: time.Minute},
			steps: []step{
				{offer: a("a1", "r", 0, Low), want: want{ids: []string{"a1"}}},
				{offer: a("a2", "r", 30*time.Second, Low)},
				{offer: a("a3", "r", 61*time.Second, Low), want: want{ids: []string{"T", "a3"}, dropped: 1, first: 30 * time.Second, last: 30 * time.Second}},
			},
		},
		{
			name: "rules are throttled separately",
			cfg:  Throttle{Max: 1, Per: time.Minute},
			steps: []step{
				{offer: a("a1", "r1", 0, Low), want: want{ids: []string{"a1"}}},
				{offer: a("b1", "r2", 0, Low), want: want{ids: []string{"b1"}}},
				{offer: a("a2", "r1", time.Second, Low)},
				{flush: time.Minute, want: want{ids: []string{"T"}, dropped: 1, first: time.Second, last: time.Second}},
			},
		},
		{
			name: "a period without overflow has no summary",
			cfg:  Throttle{Max: 5, Per: time.Minute},
			steps: []step{
				{offer: a("a1", "r", 0, Low), want: want{ids: []string{"a1"}}},
				{flush: time.Hour},
			},
		},
		{
			name: "periods are aligned to the epoch, not to the first alert",
			cfg:  Throttle{Max: 1, Per: time.Minute},
			steps: []step{
				{offer: a("a1", "r", 50*time.Second, Low), want: want{ids: []string{"a1"}}},
				{offer: a("a2", "r", 61*time.Second, Low), want: want{ids: []string{"a2"}}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			th := NewThrottler(tc.cfg)
			for i, s := range tc.steps {
				var got []Alert
				if s.offer != nil {
					got = th.Offer(*s.offer)
				} else {
					got = th.Flush(at(s.flush))
				}
				var ids []string
				for _, g := range got {
					if !slices.Contains(g.Tags, ThrottledTag) {
						ids = append(ids, g.ID)
						continue
					}
					ids = append(ids, "T")
					if g.Count != s.want.dropped || g.FirstSeen.Sub(t0) != s.want.first || g.LastSeen.Sub(t0) != s.want.last {
						t.Fatalf("step %d: summary count %d first %v last %v, want %+v", i, g.Count, g.FirstSeen.Sub(t0), g.LastSeen.Sub(t0), s.want)
					}
					if g.Fields["throttled"] != int64(s.want.dropped) {
						t.Fatalf("step %d: fields %v", i, g.Fields)
					}
				}
				if !slices.Equal(ids, s.want.ids) {
					t.Fatalf("step %d: got %v, want %v", i, ids, s.want.ids)
				}
			}
		})
	}
}

func TestThrottleSummaryContent(t *testing.T) {
	th := NewThrottler(Throttle{Max: 1, Per: time.Minute})
	for i, sev := range []Severity{Low, Critical, Medium} {
		a := mk(t, string(rune('a'+i)), "r", "c", at(time.Duration(i)*time.Second), 10*i)
		a.Severity = sev
		a.Tags = []string{"fraud"}
		th.Offer(a)
	}
	if th.Dropped() != 2 {
		t.Fatalf("dropped %d", th.Dropped())
	}
	s := th.FlushAll()
	if len(s) != 1 {
		t.Fatalf("got %d", len(s))
	}
	got := s[0]
	if got.Severity != Critical || got.Priority != 20 || !got.Time.Equal(at(time.Minute)) ||
		!slices.Equal(got.Tags, []string{"fraud", ThrottledTag}) ||
		!slices.Equal(got.Fields["suppressed_ids"].([]any), []any{"b", "c"}) {
		t.Fatalf("summary %+v", got)
	}
	if got.ID != MakeID("r", nil, nil, ThrottledTag, "2025-03-01T12:00:00Z") {
		t.Fatalf("id %s", got.ID)
	}
}

func TestThrottleValidate(t *testing.T) {
	if n := len((Throttle{}).Validate()); n != 2 {
		t.Fatalf("%d errors", n)
	}
	if n := len((Throttle{Max: 1, Per: time.Second}).Validate()); n != 0 {
		t.Fatalf("%d errors", n)
	}
}
