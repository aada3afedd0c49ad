package nfa

import (
	"fmt"
	"strconv"
	"strings"
)

// Unbounded is the Max of a quantifier without an upper bound.
const Unbounded = -1

// maxTimes bounds Min and Max: each occurrence below the bound is a state of
// the compiled automaton, and a rule asking for thousands is a mistake.
const maxTimes = 1000

// Quantifier is how many events a step takes. The zero value means exactly
// one. Min 0 is the same as Optional with Min 1, as in Flink's times(0, n).
type Quantifier struct {
	Min int
	// Max is the upper bound, or Unbounded.
	Max int
	// Optional lets the step take no event at all.
	Optional bool
}

// Once is the quantifier of a step that takes exactly one event.
func Once() Quantifier { return Quantifier{Min: 1, Max: 1} }

// Times is the quantifier of exactly n events.
func Times(n int) Quantifier { return Quantifier{Min: n, Max: n} }

// Between is the quantifier of n to m events.
func Between(n, m int) Quantifier { return Quantifier{Min: n, Max: m} }

// AtLeast is the quantifier of n or more events.
func AtLeast(n int) Quantifier { return Quantifier{Min: n, Max: Unbounded} }

// ZeroOrMore is the quantifier of any number of events, none included.
func ZeroOrMore() Quantifier { return Quantifier{Min: 1, Max: Unbounded, Optional: true} }

// OptionalOnce is the quantifier of at most one event.
func OptionalOnce() Quantifier { return Quantifier{Min: 1, Max: 1, Optional: true} }

// norm resolves the zero value and Min 0 into the form the compiler uses:
// Min ≥ 1 and optionality as a flag.
func (q Quantifier) norm() Quantifier {
	if q == (Quantifier{}) {
		return Once()
	}
	if q.Min == 0 {
		q.Optional = true
		q.Min = 1
		if q.Max == 0 {
			q.Max = 1
		}
	}
	return q
}

// multi reports whether the step may take more than one event.
func (q Quantifier) multi() bool {
	n := q.norm()
	return n.Max == Unbounded || n.Max > 1
}

func (q Quantifier) validate() error {
	n := q.norm()
	switch {
	case q.Min < 0:
		return fmt.Errorf("times: minimum %d is negative", q.Min)
	case n.Max != Unbounded && n.Max < 1:
		return fmt.Errorf("times: maximum %d must be at least 1 or unbounded", q.Max)
	case n.Max != Unbounded && n.Max < n.Min:
		return fmt.Errorf("times: maximum %d is below minimum %d", n.Max, n.Min)
	case n.Min > maxTimes || n.Max > maxTimes:
		return fmt.Errorf("times: at most %d occurrences can be counted", maxTimes)
	}
	return nil
}

// String renders q in the rule syntax accepted by ParseQuantifier.
func (q Quantifier) String() string {
	n := q.norm()
	switch {
	case n.Max == Unbounded && n.Optional && n.Min == 1:
		return "0+"
	case n.Max == Unbounded && !n.Optional:
		return strconv.Itoa(n.Min) + "+"
	case n.Min == 1 && n.Max == 1 && n.Optional:
		return "?"
	case n.Min == n.Max && !n.Optional:
		return strconv.Itoa(n.Min)
	case n.Optional && n.Min == 1:
		return "0.." + strconv.Itoa(n.Max)
	case !n.Optional && n.Max != Unbounded:
		return strconv.Itoa(n.Min) + ".." + strconv.Itoa(n.Max)
	}
	// Optional with a minimum above one (Flink times(4).optional()) has no
	// short form in the rule syntax.
	return fmt.Sprintf("{min: %d, max: %s, optional}", n.Min, maxText(n.Max))
}

func maxText(m int) string {
	if m == Unbounded {
		return "unbounded"
	}
	return strconv.Itoa(m)
}

// ParseQuantifier parses the rule syntax of `times`: "3" (exactly), "2..4"
// (a range, "0..n" being optional), "3+" (at least), "0+" (any number) and
// "?" (optional). The empty string means exactly once.
func ParseQuantifier(s string) (Quantifier, error) {
	t := strings.TrimSpace(s)
	bad := func(why string) (Quantifier, error) {
		return Quantifier{}, fmt.Errorf("times %q: %s; use \"3\", \"2..4\", \"3+\", \"0+\" or \"?\"", s, why)
	}
	num := func(x string) (int, bool) {
		if x == "" || len(x) > 4 {
			return 0, false
		}
		for i := 0; i < len(x); i++ {
			if x[i] < '0' || x[i] > '9' {
				return 0, false
			}
		}
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	var q Quantifier
	switch {
	case t == "":
		return Once(), nil
	case t == "?":
		return OptionalOnce(), nil
	case strings.HasSuffix(t, "+"):
		n, ok := num(t[:len(t)-1])
		if !ok {
			return bad("not a count before +")
		}
		q = AtLeast(n)
	case strings.Contains(t, ".."):
		lo, hi, _ := strings.Cut(t, "..")
		n, ok1 := num(lo)
		m, ok2 := num(hi)
		if !ok1 || !ok2 {
			return bad("not a range of counts")
		}
		q = Between(n, m)
	default:
		n, ok := num(t)
		if !ok {
			return bad("not a count")
		}
		if n == 0 {
			return bad("a step must take at least one event")
		}
		q = Times(n)
	}
	if err := q.validate(); err != nil {
		return bad(strings.TrimPrefix(err.Error(), "times: "))
	}
	return q.norm(), nil
}
