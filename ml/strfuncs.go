package ml

import (
	"fmt"
	"math"
	"strings"
)

// substring follows XQuery's fn:substring, on which PMML models its string
// functions: the characters at 1-based positions p with
// round(start) <= p < round(start) + round(length). Positions before the
// string or past its end are clamped rather than refused, so SAS-style
// calls such as substring(x, 0, 3) or substring("ab", 2, 10) give "a" and
// "b"; a negative length gives "".
func substring(s string, start, length float64) string {
	if math.IsNaN(start) || math.IsNaN(length) {
		return ""
	}
	lo := math.Floor(start + 0.5)
	hi := lo + math.Floor(length+0.5)
	if hi <= lo || hi <= 1 {
		return ""
	}
	// Byte offsets of the first and past-the-last character taken.
	from, to := len(s), len(s)
	pos := 1.0
	for i := range s {
		if pos == math.Max(lo, 1) {
			from = i
		}
		if pos >= hi {
			to = i
			break
		}
		pos++
	}
	if from > to {
		return ""
	}
	return s[from:to]
}

// formatNumber renders x with a C printf pattern, as PMML's formatNumber
// specifies: one conversion (d i u o x X e E f F g G, with flags, width,
// precision and an ignored length modifier) amid literal text and %%.
// Integer conversions truncate toward zero; %g without a precision means
// six significant digits as in C (Go's %g alone would print the shortest
// exact form). ok is false for a pattern C would not accept with one
// number.
func formatNumber(pat string, x float64) (string, bool) {
	var b strings.Builder
	used := false
	for i := 0; i < len(pat); i++ {
		ch := pat[i]
		if ch != '%' {
			b.WriteByte(ch)
			continue
		}
		if i+1 < len(pat) && pat[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		j := i + 1
		for j < len(pat) && strings.IndexByte("-+ #0", pat[j]) >= 0 {
			j++
		}
		for j < len(pat) && pat[j] >= '0' && pat[j] <= '9' {
			j++
		}
		hasPrec := false
		if j < len(pat) && pat[j] == '.' {
			hasPrec = true
			j++
			for j < len(pat) && pat[j] >= '0' && pat[j] <= '9' {
				j++
			}
		}
		spec := pat[i:j]
		for j < len(pat) && strings.IndexByte("hlLqjzt", pat[j]) >= 0 {
			j++
		}
		if j >= len(pat) || used {
			return "", false
		}
		used = true
		conv := pat[j]
		switch conv {
		case 'd', 'i', 'u':
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return "", false
			}
			fmt.Fprintf(&b, spec+"d", int64(x))
		case 'o', 'x', 'X':
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return "", false
			}
			fmt.Fprintf(&b, spec+string(conv), int64(x))
		case 'e', 'E', 'f', 'F':
			if conv == 'F' {
				conv = 'f'
			}
			fmt.Fprintf(&b, spec+string(conv), x)
		case 'g', 'G':
			if !hasPrec {
				spec += ".6"
			}
			fmt.Fprintf(&b, spec+string(conv), x)
		default:
			return "", false
		}
		i = j
	}
	if !used {
		return "", false
	}
	return b.String(), true
}
