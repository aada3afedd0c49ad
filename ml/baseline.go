package ml

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Baseline configures a per-entity baseline: an exponentially weighted mean
// and variance of a quantity, such as a card's transaction amount, against
// which a new value's z-score measures how unusual it is.
//
// With HalfLife set, the weight of past observations halves every HalfLife
// of event time, however many observations arrive; otherwise every
// observation shrinks the weight of the past by the factor 1-Alpha.
type Baseline struct {
	HalfLife time.Duration
	Alpha    float64
	// MinCount is how many observations the baseline needs before ZScore
	// reports anything.
	MinCount uint64
	// MinStdDev keeps a near-constant history from turning tiny changes
	// into huge z-scores.
	MinStdDev float64
}

// Validate reports a configuration that cannot work.
func (b Baseline) Validate() error {
	switch {
	case b.HalfLife < 0:
		return errors.New("baseline: negative half-life")
	case b.HalfLife == 0 && (b.Alpha <= 0 || b.Alpha > 1):
		return fmt.Errorf("baseline: alpha %v outside (0, 1] and no half-life", b.Alpha)
	case b.MinStdDev < 0:
		return errors.New("baseline: negative MinStdDev")
	}
	return nil
}

// BaselineState is one entity's baseline. The zero value is an empty
// history. It is plain data: keep it in a state store through
// MarshalBinary.
type BaselineState struct {
	Mean   float64
	SumSq  float64 // weighted sum of squared deviations from Mean
	Weight float64 // total weight of the history
	Count  uint64
	Last   time.Time // event time of the latest observation
}

func (b Baseline) decay(st *BaselineState, at time.Time) float64 {
	if b.HalfLife <= 0 {
		return 1 - b.Alpha
	}
	if st.Count == 0 || !at.After(st.Last) {
		// A late event joins the history as if it came with the latest.
		return 1
	}
	return math.Exp2(-float64(at.Sub(st.Last)) / float64(b.HalfLife))
}

// Update adds observation x made at event time at.
func (b Baseline) Update(st *BaselineState, x float64, at time.Time) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return
	}
	d := b.decay(st, at)
	old := st.Weight * d
	w := old + 1
	delta := x - st.Mean
	st.Mean += delta / w
	st.SumSq = st.SumSq*d + old*delta*delta/w
	st.Weight = w
	st.Count++
	if at.After(st.Last) {
		st.Last = at
	}
}

// Variance is the exponentially weighted population variance.
func (st *BaselineState) Variance() float64 {
	if st.Weight == 0 {
		return 0
	}
	return st.SumSq / st.Weight
}

// ZScore is how many standard deviations x lies from the baseline's mean;
// ok is false until the baseline has MinCount observations or when its
// spread is zero and MinStdDev is not set.
func (b Baseline) ZScore(st *BaselineState, x float64) (z float64, ok bool) {
	if st.Count == 0 || st.Count < b.MinCount {
		return 0, false
	}
	sd := math.Max(math.Sqrt(st.Variance()), b.MinStdDev)
	if sd == 0 {
		return 0, false
	}
	return (x - st.Mean) / sd, true
}

// Observe scores x against the history and then adds it: the z-score a
// rule wants for the event at hand, which must not count itself.
func (b Baseline) Observe(st *BaselineState, x float64, at time.Time) (z float64, ok bool) {
	z, ok = b.ZScore(st, x)
	b.Update(st, x, at)
	return z, ok
}

const baselineVersion = 1

// MarshalBinary encodes the state with a leading version byte.
func (st *BaselineState) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 1+8*5)
	b = append(b, baselineVersion)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(st.Mean))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(st.SumSq))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(st.Weight))
	b = binary.BigEndian.AppendUint64(b, st.Count)
	var last int64
	if !st.Last.IsZero() {
		last = st.Last.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(last))
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (st *BaselineState) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != baselineVersion {
		return fmt.Errorf("baseline state: unknown version (want %d)", baselineVersion)
	}
	if len(b) != 1+8*5 {
		return fmt.Errorf("baseline state: %d bytes, want %d", len(b), 1+8*5)
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[1+8*i:]) }
	st.Mean = math.Float64frombits(u(0))
	st.SumSq = math.Float64frombits(u(1))
	st.Weight = math.Float64frombits(u(2))
	st.Count = u(3)
	st.Last = time.Time{}
	if last := int64(u(4)); last != 0 {
		st.Last = time.Unix(0, last).UTC()
	}
	return nil
}
