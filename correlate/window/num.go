package window

import "math"

// numAcc summarises the values of one numeric measure. Sums are
// Neumaier-compensated and the variance is Welford's, both with an exact
// inverse for eviction, so a sliding window that has seen millions of events
// come and go still agrees with a rescan to within a few ulps of its values'
// magnitude. Only the fields of the measure's function are maintained.
type numAcc struct {
	n    int64
	sum  float64 // sum and avg: running sum
	c    float64 // its compensation
	mean float64 // stddev: Welford mean; min and max: the extreme
	m2   float64 // stddev: sum of squared deviations
}

func (a *numAcc) add(f Func, x float64) {
	a.n++
	switch f {
	case Sum, Avg:
		a.sum, a.c = neumaier(a.sum, a.c, x)
	case Stddev:
		d := x - a.mean
		a.mean += d / float64(a.n)
		a.m2 += d * (x - a.mean)
	case Min:
		if a.n == 1 || x < a.mean {
			a.mean = x
		}
	case Max:
		if a.n == 1 || x > a.mean {
			a.mean = x
		}
	}
}

// remove is the inverse of add for sum, avg and stddev; min and max are
// kept by the sliding windows' deques instead.
func (a *numAcc) remove(f Func, x float64) {
	a.n--
	if a.n == 0 {
		// Starting again from exact zeros throws away whatever rounding the
		// window had accumulated.
		*a = numAcc{}
		return
	}
	switch f {
	case Sum, Avg:
		a.sum, a.c = neumaier(a.sum, a.c, -x)
	case Stddev:
		d := x - a.mean
		a.mean -= d / float64(a.n)
		a.m2 -= d * (x - a.mean)
		if a.m2 < 0 {
			a.m2 = 0
		}
	}
}

// merge folds b into a: Chan et al.'s pairwise update for the variance.
func (a *numAcc) merge(f Func, b *numAcc) {
	if b.n == 0 {
		return
	}
	if a.n == 0 {
		*a = *b
		return
	}
	switch f {
	case Sum, Avg:
		a.sum, a.c = neumaier(a.sum, a.c, b.sum)
		a.sum, a.c = neumaier(a.sum, a.c, b.c)
	case Stddev:
		n := float64(a.n + b.n)
		d := b.mean - a.mean
		a.m2 += b.m2 + d*d*float64(a.n)*float64(b.n)/n
		a.mean += d * float64(b.n) / n
	case Min:
		a.mean = math.Min(a.mean, b.mean)
	case Max:
		a.mean = math.Max(a.mean, b.mean)
	}
	a.n += b.n
}

func (a *numAcc) value(f Func) float64 {
	switch f {
	case Sum:
		return a.sum + a.c
	}
	if a.n == 0 {
		return math.NaN()
	}
	switch f {
	case Avg:
		return (a.sum + a.c) / float64(a.n)
	case Stddev:
		return math.Sqrt(a.m2 / float64(a.n))
	}
	return a.mean
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
