package window

import (
	"github.com/axiomhq/hyperloglog"
	"github.com/cespare/xxhash/v2"
)

// distinct is the state of one count_distinct measure: an exact multiset
// (the counts let sliding windows forget a value when its last occurrence
// leaves) or a HyperLogLog sketch.
type distinct struct {
	exact map[string]int32
	hll   *hyperloglog.Sketch
}

func (d *distinct) add(m *Measure, s string) {
	if m.Approx {
		if d.hll == nil {
			d.hll = newSketch(m.Precision)
		}
		// Hashing here rather than in Insert avoids a []byte copy of s.
		d.hll.InsertHash(xxhash.Sum64String(s))
		return
	}
	if d.exact == nil {
		d.exact = make(map[string]int32, 4)
	}
	d.exact[s]++
}

func (d *distinct) remove(s string) {
	if n := d.exact[s]; n > 1 {
		d.exact[s] = n - 1
	} else {
		delete(d.exact, s)
	}
}

func (d *distinct) merge(m *Measure, b *distinct) {
	if m.Approx {
		if b.hll == nil {
			return
		}
		if d.hll == nil {
			d.hll = newSketch(m.Precision)
		}
		// Both sketches have the measure's precision, the only way Merge fails.
		_ = d.hll.Merge(b.hll)
		return
	}
	if len(b.exact) == 0 {
		return
	}
	if d.exact == nil {
		d.exact = make(map[string]int32, len(b.exact))
	}
	for s, n := range b.exact {
		d.exact[s] += n
	}
}

func (d *distinct) value() float64 {
	if d.hll != nil {
		return float64(d.hll.Estimate())
	}
	return float64(len(d.exact))
}

func newSketch(p uint8) *hyperloglog.Sketch {
	sk, err := hyperloglog.NewSketch(p, true)
	if err != nil {
		// newPlan has checked the precision.
		panic(err)
	}
	return sk
}
