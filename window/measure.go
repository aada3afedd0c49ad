package window

import (
	"fmt"
	"math"
)

// Func is an aggregate function.
type Func uint8

// The measures of an `aggregate:` rule.
const (
	Count         Func = iota + 1 // count(): events in the window
	Sum                           // sum(x); 0 over no values
	Avg                           // avg(x); NaN over no values
	Min                           // min(x); NaN over no values
	Max                           // max(x); NaN over no values
	Stddev                        // stddev(x), population; NaN over no values
	CountDistinct                 // count_distinct(x) over string keys
)

var funcNames = [...]string{Count: "count", Sum: "sum", Avg: "avg", Min: "min", Max: "max", Stddev: "stddev", CountDistinct: "count_distinct"}

func (f Func) String() string {
	if int(f) < len(funcNames) && funcNames[f] != "" {
		return funcNames[f]
	}
	return fmt.Sprintf("func(%d)", uint8(f))
}

// ParseFunc maps a measure's function name to a Func.
func ParseFunc(s string) (Func, error) {
	for f, n := range funcNames {
		if n != "" && n == s {
			return Func(f), nil
		}
	}
	return 0, fmt.Errorf("unknown measure function %q (want count, sum, avg, min, max, stddev or count_distinct)", s)
}

func (f Func) numeric() bool { return f >= Sum && f <= Stddev }

// Measure is one named measure of a rule.
type Measure struct {
	Name string
	Func Func
	// Approx makes count_distinct a HyperLogLog estimate (about 0.8% standard
	// error at the default precision) in bounded memory, for very high
	// cardinality. It needs a window that only grows: tumbling, hopping or
	// session.
	Approx bool
	// Precision is the HyperLogLog precision p (2^p registers), 4 to 18;
	// 0 means 14.
	Precision uint8
}

// Arg is the argument of one measure for one event, as the rule compiler
// evaluated it. Numeric measures read Num, count_distinct reads Str, count
// reads nothing. A Missing argument (or a NaN Num) leaves the measure as if
// the event had no value for it, the way SQL aggregates skip NULL; the event
// still counts in count() and in the evidence.
type Arg struct {
	Num     float64
	Str     string
	Missing bool
}

// N is the argument of a numeric measure.
func N(x float64) Arg { return Arg{Num: x} }

// S is the argument of a count_distinct measure.
func S(s string) Arg { return Arg{Str: s} }

func (a Arg) num() (float64, bool) {
	if a.Missing || math.IsNaN(a.Num) {
		return 0, false
	}
	return a.Num, true
}

const defaultPrecision = 14

// plan is the compiled layout of a measure list: each numeric measure gets a
// slot in the accumulators' nums, each count_distinct one in sets.
type plan struct {
	measures []Measure
	slot     []int
	nNum     int
	nSet     int
	minmax   []int // numeric slots that are min or max, for the sliding deques
	evidence int
	// maxDistinct is Config.MaxDistinct.
	maxDistinct int
}

func newPlan(ms []Measure, evidence int, growOnly bool) (*plan, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("aggregate: at least one measure is needed")
	}
	p := &plan{measures: append([]Measure(nil), ms...), slot: make([]int, len(ms)), evidence: evidence}
	seen := map[string]bool{}
	for i, m := range ms {
		if m.Name == "" {
			return nil, fmt.Errorf("measure %d: a name is needed", i+1)
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("measure %q: defined twice", m.Name)
		}
		seen[m.Name] = true
		switch {
		case m.Func == Count:
			p.slot[i] = -1
		case m.Func.numeric():
			p.slot[i] = p.nNum
			if m.Func == Min || m.Func == Max {
				p.minmax = append(p.minmax, p.nNum)
			}
			p.nNum++
		case m.Func == CountDistinct:
			p.slot[i] = p.nSet
			p.nSet++
		default:
			return nil, fmt.Errorf("measure %q: unknown function %v", m.Name, m.Func)
		}
		if m.Approx || m.Precision != 0 {
			if m.Func != CountDistinct {
				return nil, fmt.Errorf("measure %q: only count_distinct can be approximate", m.Name)
			}
			if !m.Approx {
				return nil, fmt.Errorf("measure %q: precision applies to approximate count_distinct only", m.Name)
			}
			if !growOnly {
				return nil, fmt.Errorf("measure %q: approximate count_distinct cannot forget events, so it needs a tumbling, hopping or session window; use the exact count_distinct with sliding and length windows", m.Name)
			}
			if m.Precision != 0 && (m.Precision < 4 || m.Precision > 18) {
				return nil, fmt.Errorf("measure %q: precision must be 4 to 18, got %d", m.Name, m.Precision)
			}
			if p.measures[i].Precision == 0 {
				p.measures[i].Precision = defaultPrecision
			}
		}
	}
	return p, nil
}

func (p *plan) index(name string) int {
	for i, m := range p.measures {
		if m.Name == name {
			return i
		}
	}
	return -1
}
