package event

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Epoch numbers are told apart by magnitude: below 1e11 they are seconds
// (until the year 5138), below 1e14 milliseconds, below 1e17 microseconds,
// and nanoseconds above.
const (
	maxSeconds = 1e11
	maxMillis  = 1e14
	maxMicros  = 1e17
)

// ParseTime reads an event time: RFC 3339 text (with 'T', 't' or a space
// between date and time), or epoch seconds, milliseconds, microseconds or
// nanoseconds as a number or as a string of digits. It returns Unix
// nanoseconds.
func ParseTime(v Value) (int64, error) {
	switch v.kind {
	case Number:
		return epoch(v.num)
	case String:
		return ParseTimeString(v.str)
	}
	return 0, fmt.Errorf("event time must be RFC 3339 text or epoch seconds/milliseconds, got %s", v.kind)
}

// ParseTimeString parses RFC 3339 text or digits of an epoch number.
func ParseTimeString(s string) (int64, error) {
	if t, ok := parseRFC3339(s); ok {
		return t, nil
	}
	if len(s) > 0 && (s[0] >= '0' && s[0] <= '9' || s[0] == '-') {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return epoch(f)
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("invalid event time %q: want RFC 3339 such as 2024-05-01T12:00:00Z, or epoch seconds/milliseconds", s)
	}
	return t.UnixNano(), nil
}

func epoch(f float64) (int64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("invalid epoch time")
	}
	// A float64 holds about 16 significant digits, so fractions are kept
	// to the microsecond: beyond that the digits are noise.
	a := math.Abs(f)
	switch {
	case a < maxSeconds:
		sec := math.Floor(f)
		return int64(sec)*1e9 + int64(math.Round((f-sec)*1e6))*1e3, nil
	case a < maxMillis:
		ms := math.Floor(f)
		return int64(ms)*1e6 + int64(math.Round((f-ms)*1e3))*1e3, nil
	case a < maxMicros:
		return int64(math.Round(f)) * 1e3, nil
	case a < math.MaxInt64:
		return int64(math.Round(f/1e3)) * 1e3, nil
	}
	return 0, fmt.Errorf("epoch time %g out of range", f)
}

// parseRFC3339 is the fast path for the common form
// 2006-01-02T15:04:05[.frac](Z|±hh:mm); anything else falls back to
// time.Parse, which is ten times slower.
func parseRFC3339(s string) (int64, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	i := 19
	var nanos int64
	if s[i] == '.' || s[i] == ',' {
		i++
		start := i
		scale := int64(1e8)
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			nanos += int64(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return 0, false
		}
	}
	if i >= len(s) {
		return 0, false
	}
	var offset int64
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(s)-i != 6 || s[i+3] != ':' {
			return 0, false
		}
		oh, ok1 := digits(s[i+1 : i+3])
		om, ok2 := digits(s[i+4 : i+6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if s[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return 0, false
	}
	if i != len(s) {
		return 0, false
	}
	days := daysFromCivil(year, month, day)
	secs := days*86400 + int64(hour*3600+minute*60+sec) - offset
	return secs*1e9 + nanos, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil counts days since 1970-01-01 in the proleptic Gregorian
// calendar (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
