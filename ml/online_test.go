package ml

import (
	"bytes"
	"math"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
)

func TestBaseline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// With alpha 0.5, or a half-life equal to the gap, the first point
	// keeps weight 0.5: mean 10 + 10/1.5, variance (0.5*100/1.5)/1.5.
	mean := 10 + 10/1.5
	variance := (0.5 * 100 / 1.5) / 1.5
	tests := []struct {
		name string
		cfg  Baseline
		at   []time.Time
	}{
		{"alpha", Baseline{Alpha: 0.5}, []time.Time{t0, t0}},
		{"half-life", Baseline{HalfLife: time.Hour}, []time.Time{t0, t0.Add(time.Hour)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			var st BaselineState
			tc.cfg.Update(&st, 10, tc.at[0])
			tc.cfg.Update(&st, 20, tc.at[1])
			if !approx(st.Mean, mean) || !approx(st.Variance(), variance) {
				t.Errorf("mean %v variance %v, want %v %v", st.Mean, st.Variance(), mean, variance)
			}
			z, ok := tc.cfg.Observe(&st, 30, tc.at[1])
			if !ok || !approx(z, 40/math.Sqrt(200)) {
				t.Errorf("z = %v %v, want %v", z, ok, 40/math.Sqrt(200))
			}
			if st.Count != 3 {
				t.Errorf("Observe did not add the value: count %d", st.Count)
			}
		})
	}
}

func TestBaselineEventTime(t *testing.T) {
	b := Baseline{HalfLife: time.Hour, MinCount: 3}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var st BaselineState
	b.Update(&st, 10, t0.Add(time.Hour))
	b.Update(&st, 20, t0) // late: no decay, Last stays
	if !approx(st.Mean, 15) || !st.Last.Equal(t0.Add(time.Hour)) {
		t.Errorf("mean %v last %v", st.Mean, st.Last)
	}
	if _, ok := b.ZScore(&st, 1); ok {
		t.Error("z-score before MinCount")
	}
	b.Update(&st, 15, t0.Add(time.Hour))
	if _, ok := b.ZScore(&st, 1); !ok {
		t.Error("no z-score after MinCount")
	}
	// After many half-lives the old history no longer matters.
	b.Update(&st, 100, t0.Add(100*time.Hour))
	if math.Abs(st.Mean-100) > 1e-9 {
		t.Errorf("mean %v after long gap, want about 100", st.Mean)
	}
	for _, bad := range []Baseline{{}, {Alpha: 2}, {HalfLife: -1}, {Alpha: 0.1, MinStdDev: -1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	b := Baseline{HalfLife: 24 * time.Hour, MinStdDev: 1}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var st BaselineState
	for i := 0; i < 50; i++ {
		b.Update(&st, float64(i%7)*3.5, t0.Add(time.Duration(i)*time.Hour))
	}
	data, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back BaselineState
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	z1, _ := b.ZScore(&st, 12)
	z2, _ := b.ZScore(&back, 12)
	if z1 != z2 || back != st {
		t.Errorf("round trip changed state: %+v vs %+v", back, st)
	}
	data[0] = 99
	if back.UnmarshalBinary(data) == nil {
		t.Error("unknown version accepted")
	}
}

func TestOnlineLogisticLearns(t *testing.T) {
	m, err := NewOnlineLogistic(OnlineLogisticConfig{HashBits: 10, MinLabels: 100})
	if err != nil {
		t.Fatal(err)
	}
	r := lcg(3)
	feats := make([]Feature, 2)
	for i := 0; i < 2000; i++ {
		x := r.next()*2 - 1
		country := "country=FR"
		if r.next() < 0.5 {
			country = "country=US"
		}
		feats[0], feats[1] = Feature{"amount_z", x}, Feature{country, 1}
		if i == 99 && m.Ready() {
			t.Error("ready before MinLabels")
		}
		m.Update(feats, x > 0)
	}
	if !m.Ready() || m.Labels() != 2000 {
		t.Errorf("ready %v labels %d", m.Ready(), m.Labels())
	}
	hi := m.Predict([]Feature{{"amount_z", 0.9}, {"country=FR", 1}})
	lo := m.Predict([]Feature{{"amount_z", -0.9}, {"country=FR", 1}})
	if hi < 0.8 || lo > 0.2 {
		t.Errorf("p(high) %v p(low) %v", hi, lo)
	}
	allocs := testing.AllocsPerRun(100, func() { m.Predict(feats) })
	if allocs != 0 {
		t.Errorf("%v allocations per prediction", allocs)
	}
}

func TestOnlineLogisticRoundTrip(t *testing.T) {
	m, _ := NewOnlineLogistic(OnlineLogisticConfig{HashBits: 12, L1: 0.01, MinLabels: 10})
	r := lcg(5)
	for i := 0; i < 300; i++ {
		x := r.next()
		m.Update([]Feature{{"a", x}, {"b", 1 - x}}, x > 0.7)
	}
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back OnlineLogistic
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	for _, x := range []float64{0, 0.3, 0.71, 1} {
		in := []Feature{{"a", x}, {"b", 1 - x}}
		if p, q := m.Predict(in), back.Predict(in); p != q {
			t.Errorf("x=%v: %v before, %v after round trip", x, p, q)
		}
	}
	// Both keep learning identically.
	m.Update([]Feature{{"a", 0.9}}, true)
	back.Update([]Feature{{"a", 0.9}}, true)
	d1, _ := m.MarshalBinary()
	d2, _ := back.MarshalBinary()
	if !bytes.Equal(d1, d2) || back.Labels() != 301 || back.Positives() != m.Positives() {
		t.Error("states diverge after the round trip")
	}
	for _, bad := range [][]byte{nil, {2}, data[:20], append(append([]byte{}, data...), 0)} {
		if back.UnmarshalBinary(bad) == nil {
			t.Errorf("accepted %d bad bytes", len(bad))
		}
	}
	if _, err := NewOnlineLogistic(OnlineLogisticConfig{HashBits: 40}); err == nil {
		t.Error("HashBits 40 accepted")
	}
}

// TestOnlineStateRefusedBeforeItsTable checks that a state whose length
// does not match its header is refused before the weight table its
// header asks for is made: at 26 bits, a gibibyte.
func TestOnlineStateRefusedBeforeItsTable(t *testing.T) {
	m, err := NewOnlineLogistic(OnlineLogisticConfig{HashBits: 4})
	if err != nil {
		t.Fatal(err)
	}
	m.Update([]Feature{{"a", 1}}, true)
	b, _ := m.MarshalBinary()
	b[1] = 26
	b = b[:len(b)-1]
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	var back OnlineLogistic
	if err := back.UnmarshalBinary(b); err == nil || !strings.Contains(err.Error(), "bytes, want") {
		t.Fatalf("a truncated state: %v", err)
	}
	goruntime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing it allocated %d bytes", n)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		if err := (OnlineLogisticConfig{Alpha: bad}).Validate(); err == nil {
			t.Errorf("alpha %v accepted", bad)
		}
		if _, err := NewOnlineLogistic(OnlineLogisticConfig{L1: bad}); err == nil {
			t.Errorf("l1 %v accepted", bad)
		}
	}
}
