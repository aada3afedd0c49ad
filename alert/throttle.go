package alert

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Throttle is a rule's `alert.throttle` setting: at most Max alerts of the
// rule per period of event time.
type Throttle struct {
	Max int           `yaml:"max"`
	Per time.Duration `yaml:"per"`
}

// Validate reports every problem with t.
func (t Throttle) Validate() []error {
	var errs []error
	if t.Max < 1 {
		errs = append(errs, fmt.Errorf("throttle.max: must be at least 1"))
	}
	if t.Per <= 0 {
		errs = append(errs, fmt.Errorf("throttle.per: must be a positive duration"))
	}
	return errs
}

// ThrottledTag is added to the tags of a throttle summary, so that sinks and
// analysts can route or filter summaries.
const ThrottledTag = "throttled"

// throttleSample is how many suppressed ids a summary lists: enough to look
// a few up, bounded so that a storm does not make a huge alert.
const throttleSample = 10

// Throttler lets through at most Max alerts per rule in each period and
// counts the rest; when a period with overflow closes it emits one
// "throttled" summary alert, so an alert storm costs an analyst one alert.
//
// Periods are aligned to multiples of Per since the Unix epoch, in event
// time, so the same alerts are throttled the same way in every replay. Like
// Grouper it never reads the wall clock and is not safe for concurrent use.
type Throttler struct {
	cfg   Throttle
	rules map[string]*period
}

type period struct {
	rule       string
	start      time.Time
	passed     int
	dropped    int
	firstAt    time.Time
	lastAt     time.Time
	maxSev     Severity
	maxPrio    int
	title      string
	tags       []string
	version    string
	shadow     bool
	suppressed []string
}

// NewThrottler returns a Throttler for cfg, which must be valid.
func NewThrottler(cfg Throttle) *Throttler {
	return &Throttler{cfg: cfg, rules: make(map[string]*period)}
}

// Offer takes one alert and returns what to emit now: the alert when its
// rule is under the limit for the alert's period, nothing when it is over,
// and first the summary of the rule's previous period if the alert opens a
// later one.
func (t *Throttler) Offer(a Alert) []Alert {
	start := a.Time.Truncate(t.cfg.Per)
	p, ok := t.rules[a.Rule]
	var out []Alert
	if ok && start.After(p.start) {
		out = p.summary(t.cfg)
		ok = false
	}
	if !ok {
		p = &period{rule: a.Rule, start: start}
		t.rules[a.Rule] = p
	}
	// An alert older than the rule's open period counts against the open
	// period: its own period has been summarised already.
	if p.passed < t.cfg.Max {
		p.passed++
		return append(out, a)
	}
	p.drop(&a)
	return out
}

// Flush closes every period that has ended at event time now and returns
// the summaries of those with overflow, ordered by period and then rule.
func (t *Throttler) Flush(now time.Time) []Alert {
	var closed []*period
	for rule, p := range t.rules {
		if !now.Before(p.start.Add(t.cfg.Per)) {
			closed = append(closed, p)
			delete(t.rules, rule)
		}
	}
	return t.summaries(closed)
}

// FlushAll closes every period, as at the end of a bounded replay.
func (t *Throttler) FlushAll() []Alert {
	closed := make([]*period, 0, len(t.rules))
	for rule, p := range t.rules {
		closed = append(closed, p)
		delete(t.rules, rule)
	}
	return t.summaries(closed)
}

// Dropped returns the number of alerts held back in the open periods.
func (t *Throttler) Dropped() int {
	n := 0
	for _, p := range t.rules {
		n += p.dropped
	}
	return n
}

func (t *Throttler) summaries(closed []*period) []Alert {
	slices.SortFunc(closed, func(a, b *period) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.rule, b.rule)
	})
	var out []Alert
	for _, p := range closed {
		out = append(out, p.summary(t.cfg)...)
	}
	return out
}

func (p *period) drop(a *Alert) {
	if p.dropped == 0 {
		p.firstAt, p.lastAt = a.Time, a.Time
		p.maxSev = a.Severity
		p.title = a.Title
		p.tags = a.Tags
		p.version = a.RuleVersion
		p.shadow = a.Shadow
	}
	p.dropped++
	if a.Time.Before(p.firstAt) {
		p.firstAt = a.Time
	}
	if a.Time.After(p.lastAt) {
		p.lastAt = a.Time
	}
	if a.Severity.Rank() > p.maxSev.Rank() {
		p.maxSev = a.Severity
	}
	p.maxPrio = max(p.maxPrio, a.Priority)
	// Shadow only when every suppressed alert was: a summary of a real
	// alert must be forwarded.
	p.shadow = p.shadow && a.Shadow
	if len(p.suppressed) < throttleSample {
		p.suppressed = append(p.suppressed, a.ID)
	}
}

func (p *period) summary(cfg Throttle) []Alert {
	if p.dropped == 0 {
		return nil
	}
	end := p.start.Add(cfg.Per)
	first, last := p.firstAt, p.lastAt
	startText := p.start.UTC().Format(time.RFC3339Nano)
	ids := make([]any, len(p.suppressed))
	for i, id := range p.suppressed {
		ids[i] = id
	}
	tags := append(slices.Clip(p.tags), ThrottledTag)
	return []Alert{{
		ID:          MakeID(p.rule, nil, nil, ThrottledTag, startText),
		Rule:        p.rule,
		RuleVersion: p.version,
		Title:       "Throttled: " + p.title,
		Severity:    p.maxSev,
		Tags:        tags,
		Time:        end,
		Fields: map[string]any{
			"throttled":      int64(p.dropped),
			"max":            int64(cfg.Max),
			"period_start":   startText,
			"period_end":     end.UTC().Format(time.RFC3339Nano),
			"suppressed_ids": ids,
		},
		Priority:  p.maxPrio,
		Shadow:    p.shadow,
		Count:     p.dropped,
		FirstSeen: &first,
		LastSeen:  &last,
	}}
}

// String describes t for logs.
func (t Throttle) String() string {
	return strconv.Itoa(t.Max) + "/" + t.Per.String()
}
