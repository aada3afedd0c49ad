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

// Event time is held as int64 nanoseconds since 1970. Whole seconds from
// minUnix to maxUnix, with any fraction, always fit, so the conversions
// below never overflow; the second or so lost at each end of int64's reach
// does not matter to anyone.
const (
	minUnix = -9223372036 // 1677-09-21T00:12:44Z
	maxUnix = 9223372035  // 2262-04-11T23:47:15.999999999Z is the last instant
)

// MinTime and MaxTime are the first and last instants an event time can
// hold. A time outside them is an error, never a wrapped-around value.
var (
	MinTime = time.Unix(minUnix, 0).UTC()
	MaxTime = time.Unix(maxUnix, 999999999).UTC()
)

// rangeError is a time that int64 nanoseconds cannot hold.
type rangeError struct{ what string }

func (e *rangeError) Error() string {
	return fmt.Sprintf("%s is out of range: event time is held as nanoseconds since 1970 and must lie between %s and %s",
		e.what, MinTime.Format(time.RFC3339), MaxTime.Format(time.RFC3339Nano))
}

// errRange explains why a time does not fit, naming the value as given.
func errRange(what string) error { return &rangeError{what} }

// ParseTime reads an event time: RFC 3339 text (with 'T', 't' or a space
// between date and time), or epoch seconds, milliseconds, microseconds or
// nanoseconds as a number or as a string of digits. It returns Unix
// nanoseconds, or an error for a time int64 nanoseconds cannot hold.
func ParseTime(v Value) (int64, error) { return parseTime(v.kind, v.Str(), v.num()) }

// parseTime is ParseTime of a value of kind k, text s and number n.
func parseTime(k Kind, s string, n float64) (int64, error) {
	switch k {
	case Number:
		return epoch(n, unitAuto)
	case String:
		return ParseTimeString(s)
	}
	return 0, fmt.Errorf("event time must be RFC 3339 text or epoch seconds/milliseconds, got %s", k)
}

// ParseTimeString parses RFC 3339 text or digits of an epoch number.
func ParseTimeString(s string) (int64, error) { return parseAuto(s, nil) }

// parseAuto is ParseTimeString that also reads text without a zone
// (2020-10-18 07:50:06.220) as a time in zone, when zone is not nil.
func parseAuto(s string, zone *time.Location) (int64, error) {
	t, st := parseRFC3339(s, zone)
	switch st {
	case parsed:
		return t, nil
	case outOfRange:
		return 0, errRange(fmt.Sprintf("event time %q", s))
	case noZone:
		return 0, fmt.Errorf("event time %q has no zone: configure the stream's time zone to read it", s)
	}
	if looksNumeric(s) {
		if ns, ok, err := epochString(s, unitAuto); ok {
			return ns, err
		}
	}
	tt, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("invalid event time %q: want RFC 3339 such as 2024-05-01T12:00:00Z, or epoch seconds/milliseconds", s)
	}
	return unixNano(tt, s)
}

// unixNano converts a parsed time, refusing one int64 nanoseconds cannot
// hold (time.Time.UnixNano wraps around silently).
func unixNano(t time.Time, text string) (int64, error) {
	if sec := t.Unix(); sec < minUnix || sec > maxUnix {
		return 0, errRange(fmt.Sprintf("event time %q", text))
	}
	return t.UnixNano(), nil
}

func looksNumeric(s string) bool {
	return len(s) > 0 && (s[0] >= '0' && s[0] <= '9' || s[0] == '-')
}

// unit is the unit of an epoch number; unitAuto tells it by magnitude.
type unit uint8

const (
	unitAuto unit = iota
	unitS
	unitMS
	unitUS
	unitNS
)

var unitNames = [...]string{unitAuto: "epoch", unitS: "epoch seconds", unitMS: "epoch milliseconds", unitUS: "epoch microseconds", unitNS: "epoch nanoseconds"}

// epochString parses a string of digits as an epoch number of unit u.
// Integers are read exactly, so nanoseconds keep every digit; ok is false
// when s is not a number at all.
func epochString(s string, u unit) (ns int64, ok bool, err error) {
	if n, perr := strconv.ParseInt(s, 10, 64); perr == nil {
		if u == unitAuto {
			u = unitOf(float64(n))
		}
		ns, err = epochInt(n, u)
		return ns, true, err
	}
	f, perr := strconv.ParseFloat(s, 64)
	if perr != nil {
		var ne *strconv.NumError
		if errors.As(perr, &ne) && ne.Err == strconv.ErrRange {
			return 0, true, errRange(unitNames[u] + " " + s)
		}
		return 0, false, nil
	}
	ns, err = epoch(f, u)
	return ns, true, err
}

func unitOf(f float64) unit {
	switch a := math.Abs(f); {
	case a < maxSeconds:
		return unitS
	case a < maxMillis:
		return unitMS
	case a < maxMicros:
		return unitUS
	}
	return unitNS
}

var perSecond = [...]int64{unitS: 1, unitMS: 1e3, unitUS: 1e6, unitNS: 1e9}

// epochInt converts an integer epoch exactly.
func epochInt(n int64, u unit) (int64, error) {
	per := perSecond[u]
	sec, frac := n/per, n%per
	if frac < 0 {
		sec, frac = sec-1, frac+per
	}
	if sec < minUnix || sec > maxUnix {
		return 0, errRange(unitNames[u] + " " + strconv.FormatInt(n, 10))
	}
	return sec*1e9 + frac*(1e9/per), nil
}

func epoch(f float64, u unit) (int64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("invalid epoch time")
	}
	if u == unitAuto {
		u = unitOf(f)
	}
	// Most epoch times are whole seconds or milliseconds: exact in int64,
	// and well inside the range, they need none of the rounding below
	// (a twentieth of a screened decode). The bounds keep to whole
	// seconds of the range, as the check below does.
	if n := int64(f); float64(n) == f {
		switch u {
		case unitS:
			if n >= minUnix && n <= maxUnix {
				return n * 1e9, nil
			}
		case unitMS:
			if n >= minUnix*1e3 && n < (maxUnix+1)*1e3 {
				return n * 1e6, nil
			}
		}
	}
	// Checked in seconds first, so that the integer arithmetic below
	// cannot overflow.
	if s := math.Floor(f / float64(perSecond[u])); s < minUnix || s > maxUnix {
		return 0, errRange(unitNames[u] + " " + strconv.FormatFloat(f, 'f', -1, 64))
	}
	// A float64 holds about 16 significant digits, so fractions are kept
	// to the microsecond: beyond that the digits are noise.
	switch u {
	case unitS:
		sec := math.Floor(f)
		return int64(sec)*1e9 + int64(math.Round((f-sec)*1e6))*1e3, nil
	case unitMS:
		ms := math.Floor(f)
		return int64(ms)*1e6 + int64(math.Round((f-ms)*1e3))*1e3, nil
	case unitUS:
		return int64(math.Round(f)) * 1e3, nil
	}
	return int64(math.Round(f/1e3)) * 1e3, nil
}

// parseStatus tells a time that does not fit from text that is not in the
// form at all, so that the caller can say which.
type parseStatus uint8

const (
	notMatched parseStatus = iota
	parsed
	outOfRange
	noZone // the form, but without a zone, and none configured
)

// inZone is a civil time read in zone.
func inZone(year, month, day, hour, minute, sec int, nanos int64, zone *time.Location) (int64, parseStatus) {
	if zone == nil {
		return 0, noZone
	}
	var secs int64
	if zone == time.UTC {
		secs = daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	} else {
		secs = time.Date(year, time.Month(month), day, hour, minute, sec, 0, zone).Unix()
	}
	if secs < minUnix || secs > maxUnix {
		return 0, outOfRange
	}
	return secs*1e9 + nanos, parsed
}

// parseRFC3339 is the fast path for the common form
// 2006-01-02T15:04:05[.frac](Z|±hh:mm); anything else falls back to
// time.Parse, which is ten times slower. Without a zone designator the
// text is read in zone, or is noZone when zone is nil.
func parseRFC3339(s string, zone *time.Location) (int64, parseStatus) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return 0, notMatched
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return 0, notMatched
	}
	century, ok0 := pair(s, 0)
	year, ok1 := pair(s, 2)
	year += century * 100
	month, ok2 := pair(s, 5)
	day, ok3 := pair(s, 8)
	hour, ok4 := pair(s, 11)
	minute, ok5 := pair(s, 14)
	sec, ok6 := pair(s, 17)
	if !ok0 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, notMatched
	}
	i := 19
	var nanos int64
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		start := i
		scale := int64(1e8)
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			nanos += int64(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return 0, notMatched
		}
	}
	if i == len(s) {
		return inZone(year, month, day, hour, minute, sec, nanos, zone)
	}
	var offset int64
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(s)-i != 6 || s[i+3] != ':' {
			return 0, notMatched
		}
		oh, ok1 := pair(s, i+1)
		om, ok2 := pair(s, i+4)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, notMatched
		}
		offset = int64(oh*3600 + om*60)
		if s[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return 0, notMatched
	}
	if i != len(s) {
		return 0, notMatched
	}
	days := daysFromCivil(year, month, day)
	secs := days*86400 + int64(hour*3600+minute*60+sec) - offset
	if secs < minUnix || secs > maxUnix {
		return 0, outOfRange
	}
	return secs*1e9 + nanos, parsed
}

// pair reads the two decimal digits at s[i:]: straight-line code, where a
// loop over each field's digits was a fifth of a timestamp's parse.
func pair(s string, i int) (int, bool) {
	a, b := s[i]-'0', s[i+1]-'0'
	return int(a)*10 + int(b), a <= 9 && b <= 9
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
