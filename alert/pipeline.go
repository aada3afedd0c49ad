package alert

import (
	"fmt"
	"math"
	"time"
)

// Handling is a rule's alert handling, applied in this order: priority,
// then dedup, group and throttle.
type Handling struct {
	// Dedup suppresses repeats of a key within this span; 0 keeps them.
	Dedup time.Duration
	// Group folds repeats into one summary; nil keeps them.
	Group *Group
	// Throttle caps a rule's alerts per period; nil does not.
	Throttle *Throttle
}

// Outcome tells what Offer did with an alert, for explanations.
type Outcome uint8

// The outcomes of Offer.
const (
	Delivered Outcome = iota
	Deduplicated
	Grouped
	Throttled
)

func (o Outcome) String() string {
	switch o {
	case Deduplicated:
		return "suppressed by dedup"
	case Grouped:
		return "folded into its group (alert.group)"
	case Throttled:
		return "held back by alert.throttle"
	}
	return "delivered"
}

// Pipeline is the one place candidate alerts become alerts: it ranks them
// (priority from severity, score and the criticality of the entity the key
// names) and applies each rule's dedup, group and throttle, all in event
// time, so replays give the same alerts. Its state goes into checkpoints
// rule by rule. It is not safe for concurrent use.
type Pipeline struct {
	weights     Priority
	criticality func(Key) (float64, bool)
	out         func(*Alert)
	rules       map[string]*RuleHandle
	// folding lists the rules with a grouper or throttler in the order
	// they were added, so flushes come out deterministically.
	folding []*RuleHandle
	// sweepAt is the event time of the next sweep of expired dedup spans:
	// sweeping every rule at every advance would cost O(rules).
	sweepAt, sweepSpan int64
}

// RuleHandle is the handling of one rule's alerts (see Handle).
type RuleHandle struct {
	dedup     *Dedup
	grouper   *Grouper
	throttler *Throttler
}

// NewPipeline returns a pipeline handing alerts to out. The zero Priority
// means DefaultPriorityWeights; criticality may be nil.
func NewPipeline(weights Priority, criticality func(Key) (float64, bool), out func(*Alert)) *Pipeline {
	if weights == (Priority{}) {
		weights = DefaultPriorityWeights
	}
	return &Pipeline{weights: weights, criticality: criticality, out: out, rules: map[string]*RuleHandle{}, sweepAt: math.MinInt64}
}

// Add sets the handling of a rule's alerts.
func (p *Pipeline) Add(rule string, h Handling) {
	rh := &RuleHandle{}
	if h.Dedup > 0 {
		rh.dedup = NewDedup(h.Dedup)
		if p.sweepSpan == 0 || int64(h.Dedup) < p.sweepSpan {
			p.sweepSpan = int64(h.Dedup)
		}
	}
	if h.Group != nil {
		rh.grouper = NewGrouper(*h.Group)
	}
	if h.Throttle != nil {
		rh.throttler = NewThrottler(*h.Throttle)
	}
	if rh.grouper != nil || rh.throttler != nil {
		p.folding = append(p.folding, rh)
	}
	p.rules[rule] = rh
}

// Handle returns the handling of a rule's alerts that Add set, for
// OfferTo; nil for a rule it does not know or that has no dedup, group
// or throttle, whose alerts OfferTo then delivers without reaching for
// an empty handling.
func (p *Pipeline) Handle(rule string) *RuleHandle {
	rh := p.rules[rule]
	if rh == nil || (rh.dedup == nil && rh.grouper == nil && rh.throttler == nil) {
		return nil
	}
	return rh
}

// Offer takes a candidate alert of its rule. dedupKey identifies the
// rule's entity for dedup. It reports what became of the alert.
func (p *Pipeline) Offer(a *Alert, dedupKey string) Outcome {
	return p.OfferTo(p.rules[a.Rule], a, dedupKey)
}

// OfferTo is Offer with the handling of the alert's rule (Handle) that
// the caller kept: with thousands of rules, looking each alert's rule up
// by its id is a cache miss or two. Every alert it hands out is of that
// rule.
func (p *Pipeline) OfferTo(rh *RuleHandle, a *Alert, dedupKey string) Outcome {
	var crit *float64
	if p.criticality != nil {
		if c, ok := p.criticality(a.Key); ok {
			crit = &c
		}
	}
	a.Priority = p.weights.Of(a.Severity, a.Score, crit)
	if rh == nil {
		p.out(a)
		return Delivered
	}
	if rh.dedup != nil && !rh.dedup.Allow(dedupKey, a.Time.UnixNano()) {
		return Deduplicated
	}
	if rh.grouper != nil {
		out := rh.grouper.Offer(*a)
		for i := range out {
			p.throttle(rh, &out[i])
		}
		if len(out) == 0 {
			return Grouped
		}
		return Delivered
	}
	return p.throttle(rh, a)
}

func (p *Pipeline) throttle(rh *RuleHandle, a *Alert) Outcome {
	if rh.throttler == nil {
		p.out(a)
		return Delivered
	}
	out := rh.throttler.Offer(*a)
	for i := range out {
		p.out(&out[i])
	}
	if len(out) == 0 {
		return Throttled
	}
	return Delivered
}

// Advance tells the pipeline that event time has reached wm: groups and
// throttle periods that ended are flushed, and dedup spans that ended are
// forgotten.
func (p *Pipeline) Advance(wm int64) {
	if len(p.folding) > 0 {
		now := time.Unix(0, wm).UTC()
		for _, rh := range p.folding {
			if rh.grouper != nil {
				out := rh.grouper.Flush(now)
				for i := range out {
					p.throttle(rh, &out[i])
				}
			}
			if rh.throttler != nil {
				out := rh.throttler.Flush(now)
				for i := range out {
					p.out(&out[i])
				}
			}
		}
	}
	if p.sweepSpan > 0 && wm >= p.sweepAt {
		for _, rh := range p.rules {
			if rh.dedup != nil {
				rh.dedup.Expire(wm)
			}
		}
		p.sweepAt = wm + p.sweepSpan
		if wm == math.MaxInt64 || p.sweepAt < wm {
			p.sweepAt = math.MaxInt64
		}
	}
}

// Deduplicated counts alerts dedup suppressed.
func (p *Pipeline) Deduplicated() uint64 {
	var n uint64
	for _, rh := range p.rules {
		if rh.dedup != nil {
			n += rh.dedup.Suppressed
		}
	}
	return n
}

type marshaler interface{ MarshalBinary() ([]byte, error) }

// Snapshot writes a rule's alert handling state for a checkpoint, as
// entries named dedup, group and throttle.
func (p *Pipeline) Snapshot(rule string, put func(key string, val []byte) error) error {
	rh := p.rules[rule]
	if rh == nil {
		return nil
	}
	for _, x := range []struct {
		key string
		m   marshaler
		ok  bool
	}{
		{"dedup", rh.dedup, rh.dedup != nil},
		{"group", rh.grouper, rh.grouper != nil},
		{"throttle", rh.throttler, rh.throttler != nil},
	} {
		if !x.ok {
			continue
		}
		b, err := x.m.MarshalBinary()
		if err != nil {
			return fmt.Errorf("%s: %w", x.key, err)
		}
		if err := put(x.key, b); err != nil {
			return err
		}
	}
	return nil
}

// Restore reads back one entry Snapshot wrote; it reports false for a key
// that is not the pipeline's. State of handling the rule no longer has is
// dropped.
func (p *Pipeline) Restore(rule, key string, val []byte) (bool, error) {
	rh := p.rules[rule]
	p.sweepAt = math.MinInt64
	switch key {
	case "dedup":
		if rh != nil && rh.dedup != nil {
			return true, rh.dedup.UnmarshalBinary(val)
		}
	case "group":
		if rh != nil && rh.grouper != nil {
			return true, rh.grouper.UnmarshalBinary(val)
		}
	case "throttle":
		if rh != nil && rh.throttler != nil {
			return true, rh.throttler.UnmarshalBinary(val)
		}
	default:
		return false, nil
	}
	return true, nil
}
