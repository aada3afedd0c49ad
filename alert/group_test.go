package alert

import (
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func mk(tb testing.TB, id, rule, card string, ts time.Time, prio int) Alert {
	tb.Helper()
	return Alert{
		ID: id, Rule: rule, Title: rule + " title", Severity: High, Time: ts,
		Key:      Key{{Expr: "event.card", Value: card}},
		Fields:   map[string]any{"card": card, "n": int64(1)},
		Priority: prio,
	}
}

// brief is what the tests compare: the fields suppression sets.
type brief struct {
	id, corrects string
	count        int
	first, last  time.Duration
	time         time.Duration
	prio         int
}

func briefs(tb testing.TB, as []Alert) []brief {
	tb.Helper()
	out := make([]brief, 0, len(as))
	for _, a := range as {
		b := brief{id: a.ID, corrects: a.Corrects, count: a.Count, time: a.Time.Sub(t0), prio: a.Priority}
		if a.FirstSeen != nil {
			b.first = a.FirstSeen.Sub(t0)
		}
		if a.LastSeen != nil {
			b.last = a.LastSeen.Sub(t0)
		}
		if a.Count > 1 && a.Corrects != "" {
			// The summary's id is derived; check it is stable, then hide it.
			b.id = "summary"
		}
		out = append(out, b)
	}
	return out
}

func TestGrouper(t *testing.T) {
	type step struct {
		offer *Alert
		flush time.Duration // when offer is nil
		want  []brief
	}
	a := func(id, card string, d time.Duration, prio int) *Alert {
		x := mk(t, id, "r1", card, at(d), prio)
		return &x
	}
	tests := []struct {
		name  string
		cfg   Group
		steps []step
	}{
		{
			name: "repeats inside the span fold into one summary at flush",
			cfg:  Group{For: 10 * time.Minute},
			steps: []step{
				{offer: a("a1", "c1", 0, 10), want: []brief{{id: "a1", prio: 10}}},
				{offer: a("a2", "c1", 3*time.Minute, 40)},
				{offer: a("a3", "c1", 9*time.Minute+59*time.Second, 20)},
				{flush: 9 * time.Minute},
				{flush: 10 * time.Minute, want: []brief{{id: "summary", corrects: "a1", count: 3, first: 0, last: 9*time.Minute + 59*time.Second, time: 9*time.Minute + 59*time.Second, prio: 40}}},
			},
		},
		{
			name: "a lone alert has no summary",
			cfg:  Group{For: time.Minute},
			steps: []step{
				{offer: a("a1", "c1", 0, 1), want: []brief{{id: "a1", prio: 1}}},
				{flush: time.Hour},
			},
		},
		{
			name: "an alert at the deadline opens a new group after the summary",
			cfg:  Group{For: 10 * time.Minute},
			steps: []step{
				{offer: a("a1", "c1", 0, 1), want: []brief{{id: "a1", prio: 1}}},
				{offer: a("a2", "c1", time.Minute, 1)},
				{offer: a("a3", "c1", 10*time.Minute, 5), want: []brief{
					{id: "summary", corrects: "a1", count: 2, first: 0, last: time.Minute, time: time.Minute, prio: 1},
					{id: "a3", time: 10 * time.Minute, prio: 5},
				}},
			},
		},
		{
			name: "different keys are different groups, flushed in deadline order",
			cfg:  Group{For: 5 * time.Minute},
			steps: []step{
				{offer: a("b1", "c2", time.Minute, 1), want: []brief{{id: "b1", time: time.Minute, prio: 1}}},
				{offer: a("a1", "c1", 0, 1), want: []brief{{id: "a1", prio: 1}}},
				{offer: a("a2", "c1", 2*time.Minute, 1)},
				{offer: a("b2", "c2", 2*time.Minute, 1)},
				{flush: time.Hour, want: []brief{
					{id: "summary", corrects: "a1", count: 2, first: 0, last: 2 * time.Minute, time: 2 * time.Minute, prio: 1},
					{id: "summary", corrects: "b1", count: 2, first: time.Minute, last: 2 * time.Minute, time: 2 * time.Minute, prio: 1},
				}},
			},
		},
		{
			name: "grouping by rule only folds different keys",
			cfg:  Group{By: []string{"title"}, For: 5 * time.Minute},
			steps: []step{
				{offer: a("a1", "c1", 0, 1), want: []brief{{id: "a1", prio: 1}}},
				{offer: a("a2", "c2", time.Second, 1)},
				{flush: 5 * time.Minute, want: []brief{{id: "summary", corrects: "a1", count: 2, last: time.Second, time: time.Second, prio: 1}}},
			},
		},
		{
			name: "an out-of-order repeat moves first seen back",
			cfg:  Group{By: []string{"fields.card"}, For: 5 * time.Minute},
			steps: []step{
				{offer: a("a1", "c1", time.Minute, 1), want: []brief{{id: "a1", time: time.Minute, prio: 1}}},
				{offer: a("a0", "c1", 0, 1)},
				{flush: 6 * time.Minute, want: []brief{{id: "summary", corrects: "a1", count: 2, first: 0, last: time.Minute, time: time.Minute, prio: 1}}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if errs := tc.cfg.Validate(); len(errs) > 0 {
				t.Fatal(errs)
			}
			g := NewGrouper(tc.cfg)
			for i, s := range tc.steps {
				var got []Alert
				if s.offer != nil {
					got = g.Offer(*s.offer)
				} else {
					got = g.Flush(at(s.flush))
				}
				if !equalBriefs(briefs(t, got), s.want) {
					t.Fatalf("step %d: got %+v, want %+v", i, briefs(t, got), s.want)
				}
			}
			g.FlushAll()
			if g.Pending() != 0 {
				t.Fatalf("%d groups left after FlushAll", g.Pending())
			}
		})
	}
}

func equalBriefs(a, b []brief) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGrouperSummaryIDIsDeterministic(t *testing.T) {
	run := func() string {
		g := NewGrouper(Group{For: time.Minute})
		g.Offer(mk(t, "a1", "r", "c", at(0), 1))
		g.Offer(mk(t, "a2", "r", "c", at(time.Second), 1))
		s := g.FlushAll()
		if len(s) != 1 {
			t.Fatalf("got %d summaries", len(s))
		}
		return s[0].ID
	}
	if a, b := run(), run(); a != b || a == "a1" {
		t.Fatalf("ids %q and %q", a, b)
	}
}

func TestGroupValidate(t *testing.T) {
	tests := []struct {
		cfg  Group
		errs int
	}{
		{Group{For: time.Minute}, 0},
		{Group{By: []string{"key", "key.event.card", "fields.x", "severity", "title"}, For: time.Second}, 0},
		{Group{}, 1},
		{Group{By: []string{"fields.", "nope"}, For: -1}, 3},
	}
	for _, tc := range tests {
		if got := len(tc.cfg.Validate()); got != tc.errs {
			t.Errorf("%+v: %d errors, want %d", tc.cfg, got, tc.errs)
		}
	}
}
