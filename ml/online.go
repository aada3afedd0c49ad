package ml

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Feature is one input of an online model: a numeric value under a name.
// Encode a categorical value as its own name with value 1, e.g.
// {"country=FR", 1}.
type Feature struct {
	Name  string
	Value float64
}

// OnlineLogisticConfig configures an OnlineLogistic.
type OnlineLogisticConfig struct {
	// HashBits sets the weight table to 2^HashBits entries; feature names
	// are hashed into it, so memory stays bounded whatever the stream
	// holds. Default 18.
	HashBits uint
	// Alpha and Beta set the per-coordinate learning rate of FTRL-proximal
	// (McMahan et al., 2013). Defaults 0.1 and 1.
	Alpha, Beta float64
	// L1 and L2 are regularisation strengths; L2 defaults to 1.
	L1, L2 float64
	// MinLabels is how many labelled examples the model must learn from
	// before Ready reports true; until then callers use their fallback
	// (a PMML model).
	MinLabels uint64
}

func (c *OnlineLogisticConfig) defaults() error {
	if c.HashBits == 0 {
		c.HashBits = 18
	}
	if c.HashBits > 26 {
		return fmt.Errorf("online logistic: HashBits %d above 26", c.HashBits)
	}
	if c.Alpha == 0 {
		c.Alpha = 0.1
	}
	if c.Beta == 0 {
		c.Beta = 1
	}
	if c.L2 == 0 {
		c.L2 = 1
	}
	for _, x := range []float64{c.Alpha, c.Beta, c.L1, c.L2} {
		// NaN passes a test for a negative number; a model learning
		// with it would score NaN from then on.
		if x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			return errors.New("online logistic: a rate or regularisation that is negative or not a finite number")
		}
	}
	return nil
}

// Validate reports what NewOnlineLogistic would refuse in c, without
// making the weight table: 2^HashBits entries, a gibibyte at 26 bits.
func (c OnlineLogisticConfig) Validate() error { return c.defaults() }

// OnlineLogistic is a logistic regression that keeps learning from labelled
// feedback (chargebacks, analyst verdicts) with FTRL-proximal. It is not
// safe for concurrent use.
type OnlineLogistic struct {
	cfg       OnlineLogisticConfig
	mask      uint64
	z, n      []float64
	labels    uint64
	positives uint64
}

// NewOnlineLogistic returns an untrained model.
func NewOnlineLogistic(cfg OnlineLogisticConfig) (*OnlineLogistic, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	size := 1 << cfg.HashBits
	return &OnlineLogistic{cfg: cfg, mask: uint64(size - 1), z: make([]float64, size), n: make([]float64, size)}, nil
}

// biasName is hashed like a feature for the intercept; no real name holds
// a NUL byte.
const biasName = "\x00bias"

func (m *OnlineLogistic) index(name string) int {
	// FNV-1a, inline so that hashing a string does not allocate.
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return int(h & m.mask)
}

func (m *OnlineLogistic) weight(i int) float64 {
	z := m.z[i]
	if math.Abs(z) <= m.cfg.L1 {
		return 0
	}
	sign := 1.0
	if z < 0 {
		sign = -1
	}
	return -(z - sign*m.cfg.L1) / ((m.cfg.Beta+math.Sqrt(m.n[i]))/m.cfg.Alpha + m.cfg.L2)
}

func sigmoid(x float64) float64 {
	x = math.Max(-35, math.Min(35, x))
	return 1 / (1 + math.Exp(-x))
}

// Predict returns the probability of the positive label.
func (m *OnlineLogistic) Predict(features []Feature) float64 {
	s := m.weight(m.index(biasName))
	for _, f := range features {
		if f.Value != 0 && !math.IsNaN(f.Value) {
			s += m.weight(m.index(f.Name)) * f.Value
		}
	}
	return sigmoid(s)
}

// Update learns from one labelled example and returns the probability the
// model gave it before learning, which is what progressive validation
// measures.
func (m *OnlineLogistic) Update(features []Feature, positive bool) float64 {
	p := m.Predict(features)
	y := 0.0
	if positive {
		y = 1
		m.positives++
	}
	m.labels++
	m.step(m.index(biasName), 1, p-y)
	for _, f := range features {
		if f.Value != 0 && !math.IsNaN(f.Value) {
			m.step(m.index(f.Name), f.Value, p-y)
		}
	}
	return p
}

func (m *OnlineLogistic) step(i int, x, residual float64) {
	g := residual * x
	w := m.weight(i)
	sigma := (math.Sqrt(m.n[i]+g*g) - math.Sqrt(m.n[i])) / m.cfg.Alpha
	m.z[i] += g - sigma*w
	m.n[i] += g * g
}

// Labels is how many labelled examples the model has learnt from.
func (m *OnlineLogistic) Labels() uint64 { return m.labels }

// Positives is how many of them were positive.
func (m *OnlineLogistic) Positives() uint64 { return m.positives }

// Ready reports whether the model has seen MinLabels labels and can stand in
// for its fallback.
func (m *OnlineLogistic) Ready() bool { return m.labels >= m.cfg.MinLabels }

// Config returns the model's settings, defaults filled in.
func (m *OnlineLogistic) Config() OnlineLogisticConfig { return m.cfg }

// Reconfigure has a model that has learnt go on under cfg's rates,
// regularisation and MinLabels, as when its file changed since the
// checkpoint it was restored from. HashBits must stay: the weights are
// indexed by it.
func (m *OnlineLogistic) Reconfigure(cfg OnlineLogisticConfig) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if cfg.HashBits != m.cfg.HashBits {
		return fmt.Errorf("online logistic: a table of %d hash bits learnt, %d asked for", m.cfg.HashBits, cfg.HashBits)
	}
	m.cfg = cfg
	return nil
}

const onlineLogisticVersion = 1

// MarshalBinary encodes the configuration and the learnt state: a version
// byte, the configuration, the counters and the non-zero table entries.
func (m *OnlineLogistic) MarshalBinary() ([]byte, error) {
	b := []byte{onlineLogisticVersion, byte(m.cfg.HashBits)}
	f := func(x float64) { b = binary.BigEndian.AppendUint64(b, math.Float64bits(x)) }
	f(m.cfg.Alpha)
	f(m.cfg.Beta)
	f(m.cfg.L1)
	f(m.cfg.L2)
	b = binary.BigEndian.AppendUint64(b, m.cfg.MinLabels)
	b = binary.BigEndian.AppendUint64(b, m.labels)
	b = binary.BigEndian.AppendUint64(b, m.positives)
	count := 0
	for i := range m.z {
		if m.z[i] != 0 || m.n[i] != 0 {
			count++
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(count))
	for i := range m.z {
		if m.z[i] != 0 || m.n[i] != 0 {
			b = binary.BigEndian.AppendUint32(b, uint32(i))
			f(m.z[i])
			f(m.n[i])
		}
	}
	return b, nil
}

// UnmarshalBinary restores a model written by MarshalBinary.
func (m *OnlineLogistic) UnmarshalBinary(b []byte) error {
	const head = 2 + 8*4 + 8*3 + 4
	if len(b) == 0 || b[0] != onlineLogisticVersion {
		return fmt.Errorf("online logistic state: unknown version (want %d)", onlineLogisticVersion)
	}
	if len(b) < head {
		return errors.New("online logistic state: truncated")
	}
	f := func(i int) float64 { return math.Float64frombits(binary.BigEndian.Uint64(b[i:])) }
	cfg := OnlineLogisticConfig{HashBits: uint(b[1]), Alpha: f(2), Beta: f(10), L1: f(18), L2: f(26), MinLabels: binary.BigEndian.Uint64(b[34:])}
	// The table is made once the bytes are known to hold the state
	// whole: a damaged header must not cost a gibibyte.
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("online logistic state: %w", err)
	}
	count := int(binary.BigEndian.Uint32(b[58:]))
	if len(b) != head+count*20 {
		return fmt.Errorf("online logistic state: %d bytes, want %d", len(b), head+count*20)
	}
	fresh, err := NewOnlineLogistic(cfg)
	if err != nil {
		return err
	}
	fresh.labels = binary.BigEndian.Uint64(b[42:])
	fresh.positives = binary.BigEndian.Uint64(b[50:])
	for k := 0; k < count; k++ {
		off := head + k*20
		i := int(binary.BigEndian.Uint32(b[off:]))
		if i >= len(fresh.z) {
			return fmt.Errorf("online logistic state: index %d out of range", i)
		}
		fresh.z[i], fresh.n[i] = f(off+4), f(off+12)
	}
	*m = *fresh
	return nil
}
