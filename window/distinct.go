package window

import (
	"github.com/axiomhq/hyperloglog"
	"github.com/cespare/xxhash/v2"
)

// distinct is the state of one count_distinct measure: an exact multiset
// (the counts let sliding windows forget a value when its last occurrence
// leaves) or a HyperLogLog sketch.
type distinct struct {
	exact exactSet
	hll   *hyperloglog.Sketch
	// bytes estimates the memory of the sketch; an exact set's is its
	// own (exactSet.mem).
	bytes int64
}

// distinctEntryBytes is what an exact set spends per value beside its
// bytes.
const distinctEntryBytes = exactEntryBytes

// add counts s. With max > 0 an exact set keeps at most max values: add
// reports false, and counts nothing, for a new value beyond it.
func (d *distinct) add(m *Measure, s string, max int) bool {
	if m.Approx {
		if d.hll == nil {
			d.hll = newSketch(m.Precision)
		}
		// Hashing here rather than in Insert avoids a []byte copy of s.
		d.hll.InsertHash(xxhash.Sum64String(s))
		d.bytes = min(d.bytes+sparseBytes, sketchBytes(m.Precision))
		return true
	}
	_, counted := d.exact.add(s, 1, max <= 0 || d.exact.len() < max)
	return counted
}

func (d *distinct) remove(s string) { d.exact.remove(s) }

// merge adds b's values; with max > 0 it keeps at most max values and
// returns how many new ones it left out.
func (d *distinct) merge(m *Measure, b *distinct, max int) (dropped uint64) {
	if m.Approx {
		if b.hll == nil {
			return 0
		}
		if d.hll == nil {
			d.hll = newSketch(m.Precision)
		}
		// Both sketches have the measure's precision, the only way Merge fails.
		_ = d.hll.Merge(b.hll)
		d.bytes = min(d.bytes+b.bytes, sketchBytes(m.Precision))
		return 0
	}
	b.exact.each(func(s string, n int32) {
		if _, counted := d.exact.add(s, n, max <= 0 || d.exact.len() < max); !counted {
			dropped++
		}
	})
	return dropped
}

// mem is the memory the set holds beside its struct.
func (d *distinct) mem() int64 {
	if d.hll != nil {
		return d.bytes
	}
	return d.exact.mem()
}

// A sketch starts sparse, a few bytes per value inserted, and turns into
// dense registers, one byte each, when that is smaller: its estimate grows
// by sparseBytes per insertion (repeated values included) up to
// sketchBytes.
const sparseBytes = 16

func sketchBytes(precision uint8) int64 { return 1<<precision + 64 }

func (d *distinct) value() float64 {
	if d.hll != nil {
		return float64(d.hll.Estimate())
	}
	return float64(d.exact.len())
}

func newSketch(p uint8) *hyperloglog.Sketch {
	sk, err := hyperloglog.NewSketch(p, true)
	if err != nil {
		// newPlan has checked the precision.
		panic(err)
	}
	return sk
}
