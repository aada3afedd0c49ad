package window

import (
	"github.com/axiomhq/hyperloglog"
	"github.com/cespare/xxhash/v2"
	"strings"
)

// distinct is the state of one count_distinct measure: an exact multiset
// (the counts let sliding windows forget a value when its last occurrence
// leaves) or a HyperLogLog sketch.
type distinct struct {
	exact map[string]int32
	hll   *hyperloglog.Sketch
	// bytes estimates the memory of exact's entries, or of the sketch.
	bytes int64
}

// distinctEntryBytes is what an exact set spends per value beside the
// string's bytes: the string header, the count and the map's own share at
// typical load.
const distinctEntryBytes = 48

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
	if d.exact == nil {
		d.exact = make(map[string]int32, 4)
	}
	n, ok := d.exact[s]
	if !ok {
		if max > 0 && len(d.exact) >= max {
			return false
		}
		d.bytes += distinctEntryBytes + int64(len(s))
		// s is most often a field of the event, in its line: kept as it
		// is, it would keep the whole line, which the bytes above do not
		// count.
		s = strings.Clone(s)
	}
	d.exact[s] = n + 1
	return true
}

func (d *distinct) remove(s string) {
	if n := d.exact[s]; n > 1 {
		d.exact[s] = n - 1
	} else if n == 1 {
		delete(d.exact, s)
		d.bytes -= distinctEntryBytes + int64(len(s))
	}
}

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
	if len(b.exact) == 0 {
		return 0
	}
	if d.exact == nil {
		d.exact = make(map[string]int32, len(b.exact))
	}
	for s, n := range b.exact {
		c, ok := d.exact[s]
		if !ok {
			if max > 0 && len(d.exact) >= max {
				dropped++
				continue
			}
			d.bytes += distinctEntryBytes + int64(len(s))
		}
		d.exact[s] = c + n
	}
	return dropped
}

// mem is the memory the set holds beside its struct.
func (d *distinct) mem() int64 { return d.bytes }

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
