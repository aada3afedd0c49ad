package alert

import "time"

// Dedup suppresses repeats of the same rule and key within a span of event
// time (a rule's alert.dedup): the first alert passes and opens the span;
// alerts before its end are suppressed; the first one after it passes and
// opens a new span. Spans are fixed, not extended by repeats, so a steady
// stream of matches still alerts once per span.
type Dedup struct {
	open map[string]int64 // rule+key → end of its span, Unix nanoseconds
	// sweepAt bounds memory: spans that ended are dropped when event time
	// passes this point.
	sweepAt int64
	span    int64
	// Suppressed counts alerts suppressed so far.
	Suppressed uint64
}

// NewDedup returns a Dedup for spans of the given length.
func NewDedup(span time.Duration) *Dedup {
	return &Dedup{open: map[string]int64{}, span: int64(span)}
}

// Allow reports whether an alert for key at event time t passes.
func (d *Dedup) Allow(key string, t int64) bool {
	if end, ok := d.open[key]; ok && t < end {
		d.Suppressed++
		return false
	}
	d.open[key] = t + d.span
	return true
}

// Expire forgets spans that ended before event time t. Callers pass the
// watermark; the map is swept once per span, so the cost is amortised.
func (d *Dedup) Expire(t int64) {
	if t < d.sweepAt {
		return
	}
	for k, end := range d.open {
		if end <= t {
			delete(d.open, k)
		}
	}
	d.sweepAt = t + d.span
}

// Len returns the number of open spans.
func (d *Dedup) Len() int { return len(d.open) }
