package window

import (
	"cmp"
	"math"
	"slices"
)

// Rank builds the top-N report of one window from its results, nil when
// it has none to rank or the aggregator no Top. Corrections are left out:
// the report describes the window as it closed. Advance calls it; an
// engine that splits a rule's keys among aggregators calls it on the
// results of all of them.
func (a *Aggregator) Rank(rs []*Result) *Report {
	if a.top < 0 {
		return nil
	}
	var firsts []*Result
	for _, r := range rs {
		if r.Revision == 0 {
			firsts = append(firsts, r)
		}
	}
	if len(firsts) == 0 {
		return nil
	}
	i := a.top
	slices.SortFunc(firsts, func(x, y *Result) int {
		vx, vy := x.Values[i], y.Values[i]
		// NaN (an avg or min over no values) ranks last.
		if nx, ny := math.IsNaN(vx), math.IsNaN(vy); nx || ny {
			if nx && ny {
				return cmp.Compare(x.Key, y.Key)
			}
			if nx {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(vy, vx), cmp.Compare(x.Key, y.Key))
	})
	if len(firsts) > a.cfg.Top.N {
		firsts = firsts[:a.cfg.Top.N]
	}
	return &Report{Start: firsts[0].Start, End: firsts[0].End, By: a.cfg.Top.By, Results: firsts}
}
