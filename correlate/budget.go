package correlate

import (
	"slices"
)

// checkBudgetEvery is how many released events pass between two looks at
// the state budget: summing every detector's bytes at every event would
// cost O(rules) per event, and state grows by at most that many events in
// between.
const checkBudgetEvery = 1024

// packFrom is the share of the state budget (1/packFrom) past which the
// lines of the events detectors hold are packed (see holder): packing a
// line costs a tenth to a quarter of a microsecond and reading it back a
// fifth, which a state far from its budget need not pay.
const packFrom = 4

// enforceBudget sheds state when the detectors together hold more than
// Limits.MaxStateBytes: the largest rule sheds its oldest state first,
// down to the size of the next largest, until the total is back under
// nine tenths of the budget (so shedding does not run at every check).
// Every shed is counted per rule and logged at a rate limit.
func (e *Engine) enforceBudget() {
	limit := e.cfg.Limits.MaxStateBytes
	if limit <= 0 {
		return
	}
	type sized struct {
		d     detector
		bytes int64
	}
	var all []sized
	var total int64
	for _, d := range e.timed {
		b := d.stateBytes()
		total += b
		all = append(all, sized{d, b})
	}
	e.stateBytes = total
	if packing := total > limit/packFrom; packing != e.packing.Load() {
		e.packing.Store(packing) // the decoders read it (see Engine.packing)
	}
	if total <= limit {
		return
	}
	goal := limit - limit/10
	slices.SortFunc(all, func(a, b sized) int {
		switch {
		case a.bytes > b.bytes:
			return -1
		case a.bytes < b.bytes:
			return 1
		}
		return 0
	})
	for i := 0; i < len(all) && total > goal; i++ {
		// Shed the largest down to the next one's size, or to what the
		// goal needs, whichever is less.
		target := all[i].bytes - (total - goal)
		if i+1 < len(all) {
			target = max(target, all[i+1].bytes)
		}
		target = max(target, 0)
		if i+1 < len(all) && target == all[i+1].bytes && target > 0 {
			// Level the largest rules together, round by round.
			for j := 0; j <= i; j++ {
				total -= e.shedRule(all[j].d, target)
				all[j].bytes = all[j].d.stateBytes()
			}
			continue
		}
		total -= e.shedRule(all[i].d, target)
		all[i].bytes = all[i].d.stateBytes()
	}
	e.stateBytes = total
}

// shedRule makes one detector shed down to target; it returns the bytes
// freed.
func (e *Engine) shedRule(d detector, target int64) int64 {
	before := d.stateBytes()
	if before <= target {
		return 0
	}
	n := d.shed(target)
	freed := before - d.stateBytes()
	r := d.rule()
	rs := e.ruleStats[r.ID]
	rs.ShedBytes += uint64(max(freed, 0))
	rs.ShedItems += uint64(n)
	e.stats.StateShed += uint64(n)
	e.shedRounds++
	if logged(e.shedRounds) {
		e.logCounted(e.shedRounds, "state budget exceeded: the rule's oldest state was dropped", "rule", r.ID,
			"dropped", n, "freed_bytes", freed, "max_state_bytes", e.cfg.Limits.MaxStateBytes)
	}
	if e.explaining(r) {
		e.explainf(r, "state budget: dropped %d of its oldest state (%d bytes)", n, freed)
	}
	return freed
}
