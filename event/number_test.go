package event

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestShortNumber: the fast path reads every number it takes as
// ParseFloat does, bit for bit (the sign of zero included), and leaves
// to ParseFloat those of more than 15 digits.
func TestShortNumber(t *testing.T) {
	cases := []string{
		"0", "-0", "0.0", "-0.0", "0.5", "1.50", "40.4168", "-3.7038", "38.89",
		"123456789012345", "-123456789012345", "1.23456789012345", "0.00000000000001",
		"999999999999999", "9.99999999999999", "0.1", "0.2", "0.3", "2.675", "1.005",
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		digits := 1 + rnd.IntN(15)
		var b strings.Builder
		if rnd.IntN(2) == 0 {
			b.WriteByte('-')
		}
		point := rnd.IntN(digits + 1)
		for i := range digits {
			if i == point && i > 0 {
				b.WriteByte('.')
			}
			d := byte('0' + rnd.IntN(10))
			if i == 0 && point != 1 {
				d = byte('1' + rnd.IntN(9)) // no leading zero before more digits
			}
			b.WriteByte(d)
		}
		cases = append(cases, b.String())
	}
	for _, c := range cases {
		want, err := strconv.ParseFloat(c, 64)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		got, ok := shortNumber([]byte(c))
		if !ok {
			t.Fatalf("%s: not taken", c)
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s: %v (%x), ParseFloat %v (%x)", c, got, math.Float64bits(got), want, math.Float64bits(want))
		}
	}
	for _, c := range []string{"1234567890123456", "0.1234567890123456", "-9999999999999999", "0.000000000000001"} {
		if _, ok := shortNumber([]byte(c)); ok {
			t.Errorf("%s: taken with more than 15 digits", c)
		}
	}
}

// FuzzShortNumber: for any valid JSON number without an exponent that
// the fast path takes, ParseFloat agrees bit for bit.
func FuzzShortNumber(f *testing.F) {
	for _, s := range []string{"0", "-0.0", "40.4168", "123456789012345", "0.000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := parser{line: []byte(s)}
		if len(s) == 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
			return
		}
		if exp, err := p.numberEnd(); err != nil || exp || p.pos != len(s) || len(s) > 17 {
			return
		}
		got, ok := shortNumber([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s: ParseFloat: %v", s, err)
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s: %v, ParseFloat %v", s, got, want)
		}
	})
}

// TestDigitsEnd compares the eight-at-a-time scan with one byte at a
// time, for every byte value after runs of every length up to 17.
func TestDigitsEnd(t *testing.T) {
	for n := range 18 {
		for c := range 256 {
			for tail := range 3 {
				b := []byte(strings.Repeat("7", n) + string(rune(0)) + strings.Repeat("8", tail))
				b[n] = byte(c)
				want := 0
				for want < len(b) && b[want] >= '0' && b[want] <= '9' {
					want++
				}
				if got := digitsEnd(b, 0); got != want {
					t.Fatalf("digitsEnd(%q) = %d, want %d", b, got, want)
				}
			}
		}
	}
}
