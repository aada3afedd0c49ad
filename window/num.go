package window

import "math"

// numAcc summarises the values of one numeric measure as compensated sums:
// Σx, and for stddev Σx² taken from exact squares (x*x plus its FMA
// rounding error). Neumaier summation captures every addition's rounding
// error, so removing a value subtracts exactly what adding it added, and a
// sliding window that has seen millions of values of any magnitude come and
// go agrees with a rescan. The variance is then evaluated in double-double
// arithmetic, which removes the cancellation of the textbook Σx²/n - mean²
// formula; Welford's update, by contrast, cannot undo an addition exactly.
type numAcc struct {
	n      int64
	s1, c1 float64 // Σx and its compensation; the extreme for min and max
	s2, c2 float64 // Σx² and its compensation (stddev only)
}

func (a *numAcc) add(f Func, x float64) {
	a.n++
	switch f {
	case Sum, Avg:
		a.s1, a.c1 = neumaier(a.s1, a.c1, x)
	case Stddev:
		a.s1, a.c1 = neumaier(a.s1, a.c1, x)
		hi := x * x
		a.s2, a.c2 = neumaier(a.s2, a.c2, hi)
		a.s2, a.c2 = neumaier(a.s2, a.c2, math.FMA(x, x, -hi))
	case Min:
		if a.n == 1 || x < a.s1 {
			a.s1 = x
		}
	case Max:
		if a.n == 1 || x > a.s1 {
			a.s1 = x
		}
	}
}

// remove is the inverse of add for sum, avg and stddev; min and max are
// kept by the sliding windows' deques instead.
func (a *numAcc) remove(f Func, x float64) {
	a.n--
	if a.n == 0 {
		// Exact zeros drop whatever the compensation still carries.
		*a = numAcc{}
		return
	}
	switch f {
	case Sum, Avg:
		a.s1, a.c1 = neumaier(a.s1, a.c1, -x)
	case Stddev:
		a.s1, a.c1 = neumaier(a.s1, a.c1, -x)
		hi := x * x
		a.s2, a.c2 = neumaier(a.s2, a.c2, -hi)
		a.s2, a.c2 = neumaier(a.s2, a.c2, -math.FMA(x, x, -hi))
	}
}

func (a *numAcc) merge(f Func, b *numAcc) {
	if b.n == 0 {
		return
	}
	if a.n == 0 {
		*a = *b
		return
	}
	switch f {
	case Sum, Avg, Stddev:
		a.s1, a.c1 = neumaier(a.s1, a.c1, b.s1)
		a.s1, a.c1 = neumaier(a.s1, a.c1, b.c1)
		a.s2, a.c2 = neumaier(a.s2, a.c2, b.s2)
		a.s2, a.c2 = neumaier(a.s2, a.c2, b.c2)
	case Min:
		a.s1 = math.Min(a.s1, b.s1)
	case Max:
		a.s1 = math.Max(a.s1, b.s1)
	}
	a.n += b.n
}

func (a *numAcc) value(f Func) float64 {
	if f == Sum {
		return a.s1 + a.c1
	}
	if a.n == 0 {
		return math.NaN()
	}
	n := float64(a.n)
	switch f {
	case Avg:
		return (a.s1 + a.c1) / n
	case Stddev:
		// n²·var = n·Σx² - (Σx)², each side as hi + lo.
		hi2 := n * a.s2
		lo2 := math.FMA(n, a.s2, -hi2) + n*a.c2
		hi1 := a.s1 * a.s1
		lo1 := math.FMA(a.s1, a.s1, -hi1) + 2*a.s1*a.c1 + a.c1*a.c1
		d := (hi2 - hi1) + (lo2 - lo1)
		if d <= 0 {
			return 0
		}
		return math.Sqrt(d) / n
	}
	return a.s1
}

// neumaier adds x to the compensated sum (s, c).
func neumaier(s, c, x float64) (float64, float64) {
	t := s + x
	if math.Abs(s) >= math.Abs(x) {
		c += (s - t) + x
	} else {
		c += (x - t) + s
	}
	return t, c
}
