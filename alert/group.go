package alert

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Group is a rule's `alert.group` setting: repeats of an alert with the same
// grouping values inside For of event time fold into one.
type Group struct {
	// By names what makes two alerts repeats of each other, beyond their
	// rule: "key" (the whole partition key), "key.<expr>" (one key part),
	// "fields.<name>", "severity" or "title". Empty means "key".
	By []string `yaml:"by"`
	// For is the span of event time, from the first alert of a group, in
	// which repeats are folded.
	For time.Duration `yaml:"for"`
}

// Validate reports every problem with g.
func (g Group) Validate() []error {
	var errs []error
	if g.For <= 0 {
		errs = append(errs, fmt.Errorf("group.for: must be a positive duration"))
	}
	for i, b := range g.By {
		if !validGroupBy(b) {
			errs = append(errs, fmt.Errorf("group.by[%d]: %q is not key, key.<expr>, fields.<name>, severity or title", i, b))
		}
	}
	return errs
}

func validGroupBy(b string) bool {
	switch {
	case b == "key", b == "severity", b == "title":
		return true
	case strings.HasPrefix(b, "key.") && len(b) > 4:
		return true
	case strings.HasPrefix(b, "fields.") && len(b) > 7:
		return true
	}
	return false
}

// Grouper folds repeated alerts. The first alert of a group passes through
// at once, so an analyst sees the incident without delay; when the group
// closes with repeats, one summary alert follows that Corrects the first,
// carrying Count, FirstSeen and LastSeen. A downstream system that keys on
// ids can replace the first alert with the summary.
//
// A Grouper runs in event time only: Offer reads the alert's own time and
// Flush is given the watermark, so replays fold identically. It is not safe
// for concurrent use; the engine calls it from the goroutine that emits
// alerts.
type Grouper struct {
	cfg    Group
	groups map[string]*group
}

type group struct {
	id       string // grouping identity, for deterministic flush order
	first    Alert
	deadline time.Time
	count    int
	firstAt  time.Time
	lastAt   time.Time
	maxPrio  int
}

// NewGrouper returns a Grouper for cfg, which must be valid.
func NewGrouper(cfg Group) *Grouper {
	if len(cfg.By) == 0 {
		cfg.By = []string{"key"}
	}
	return &Grouper{cfg: cfg, groups: make(map[string]*group)}
}

// Offer takes one alert and returns what to emit now: the alert itself when
// it opens a group (preceded by the summary of the group it replaces, if
// that one had repeats), or nothing when it is a repeat.
func (g *Grouper) Offer(a Alert) []Alert {
	id := g.identity(&a)
	if gr, ok := g.groups[id]; ok {
		if a.Time.Before(gr.deadline) {
			gr.fold(&a)
			return nil
		}
		delete(g.groups, id)
		out := gr.summary()
		g.open(id, a)
		return append(out, a)
	}
	g.open(id, a)
	return []Alert{a}
}

// Flush closes every group whose span has ended at event time now and
// returns the summaries of those that had repeats, ordered by deadline and
// then by group, so the output does not depend on map order.
func (g *Grouper) Flush(now time.Time) []Alert {
	var closed []*group
	for id, gr := range g.groups {
		if !now.Before(gr.deadline) {
			closed = append(closed, gr)
			delete(g.groups, id)
		}
	}
	return summaries(closed)
}

// FlushAll closes every group, as at the end of a bounded replay.
func (g *Grouper) FlushAll() []Alert {
	closed := make([]*group, 0, len(g.groups))
	for id, gr := range g.groups {
		closed = append(closed, gr)
		delete(g.groups, id)
	}
	return summaries(closed)
}

// Pending returns the number of open groups.
func (g *Grouper) Pending() int { return len(g.groups) }

func summaries(closed []*group) []Alert {
	slices.SortFunc(closed, func(a, b *group) int {
		if c := a.deadline.Compare(b.deadline); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	var out []Alert
	for _, gr := range closed {
		out = append(out, gr.summary()...)
	}
	return out
}

func (g *Grouper) open(id string, a Alert) {
	g.groups[id] = &group{
		id:       id,
		first:    a,
		deadline: a.Time.Add(g.cfg.For),
		count:    1,
		firstAt:  a.Time,
		lastAt:   a.Time,
		maxPrio:  a.Priority,
	}
}

func (gr *group) fold(a *Alert) {
	gr.count++
	if a.Time.Before(gr.firstAt) {
		gr.firstAt = a.Time
	}
	if a.Time.After(gr.lastAt) {
		gr.lastAt = a.Time
	}
	gr.maxPrio = max(gr.maxPrio, a.Priority)
}

// summary is the folded alert, or nothing when the group saw no repeats:
// the first alert already said everything.
func (gr *group) summary() []Alert {
	if gr.count < 2 {
		return nil
	}
	s := gr.first
	first, last := gr.firstAt, gr.lastAt
	s.ID = MakeID(s.Rule, s.Key, s.Events, "group", s.ID, strconv.Itoa(gr.count), last.UTC().Format(time.RFC3339Nano))
	s.Corrects = gr.first.ID
	s.Count = gr.count
	s.FirstSeen = &first
	s.LastSeen = &last
	s.Time = last
	s.Priority = gr.maxPrio
	return []Alert{s}
}

// identity is the grouping key of a: the rule, then each By value. Parts are
// length-prefixed so that values containing separators cannot collide.
func (g *Grouper) identity(a *Alert) string {
	var b strings.Builder
	part := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	part(a.Rule)
	for _, by := range g.cfg.By {
		switch {
		case by == "key":
			part(a.Key.String())
		case by == "severity":
			part(string(a.Severity))
		case by == "title":
			part(a.Title)
		case strings.HasPrefix(by, "key."):
			expr := by[len("key."):]
			v := ""
			for _, p := range a.Key {
				if p.Expr == expr {
					v = fmt.Sprint(p.Value)
					break
				}
			}
			part(v)
		case strings.HasPrefix(by, "fields."):
			v, ok := a.Fields[by[len("fields."):]]
			if ok {
				part(fmt.Sprint(v))
			} else {
				part("\x00absent")
			}
		}
	}
	return b.String()
}
