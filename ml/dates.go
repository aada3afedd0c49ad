package ml

import (
	"math"
	"strings"
	"time"
)

// Dates and times. A date, time or dateTime value is held as its text
// (ISO 8601: 2024-02-29, 19:30:00, 2024-02-29T19:30:00), validated when it
// enters a field, so that equal values compare equal and ISO order is
// time order. The counting types (dateDaysSince[1970], timeSeconds,
// dateTimeSecondsSince[1970] and their other epochs) are numbers: a date
// text given to such a field is converted.

// dateEpochs are the epoch years of the counting types, by type.
var dateEpochs = map[DataType]int{
	TypeDateDaysSince0: 0, TypeDateDaysSince1960: 1960, TypeDateDaysSince1970: 1970, TypeDateDaysSince1980: 1980,
	TypeDateTimeSecondsSince0: 0, TypeDateTimeSecondsSince1960: 1960, TypeDateTimeSecondsSince1970: 1970, TypeDateTimeSecondsSince1980: 1980,
}

var dateTypeNames = map[string]DataType{
	"date": TypeDate, "time": TypeTime, "dateTime": TypeDateTime,
	"dateDaysSince[0]": TypeDateDaysSince0, "dateDaysSince[1960]": TypeDateDaysSince1960,
	"dateDaysSince[1970]": TypeDateDaysSince1970, "dateDaysSince[1980]": TypeDateDaysSince1980,
	"timeSeconds":                TypeTimeSeconds,
	"dateTimeSecondsSince[0]":    TypeDateTimeSecondsSince0,
	"dateTimeSecondsSince[1960]": TypeDateTimeSecondsSince1960,
	"dateTimeSecondsSince[1970]": TypeDateTimeSecondsSince1970,
	"dateTimeSecondsSince[1980]": TypeDateTimeSecondsSince1980,
}

func (d DataType) isDateText() bool { return d == TypeDate || d == TypeTime || d == TypeDateTime }

func (d DataType) dateName() string {
	for k, v := range dateTypeNames {
		if v == d {
			return k
		}
	}
	return "date"
}

// parseDateTime reads an ISO 8601 date, dateTime or time (a time alone is
// on day 0001-01-01). A zone, when given, is converted to UTC.
func parseDateTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", time.RFC3339Nano, "2006-01-02 15:04:05", "15:04:05", "15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			if strings.HasPrefix(layout, "15") {
				t = t.AddDate(1, 0, 0) // time.Parse puts a bare time in year 0
			}
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseDateAs converts an input to a date type: the text validated for
// date, time and dateTime, a count from the epoch for the counting types.
func parseDateAs(v Value, dt DataType) (Value, bool) {
	if dt.isDateText() {
		if v.kind != KindString {
			return Value{}, false
		}
		if _, ok := parseDateTime(v.str); !ok {
			return Value{}, false
		}
		return v, true
	}
	if v.kind == KindNumber || v.kind == KindBool {
		return v, true
	}
	if f, ok := v.Float(); ok {
		return Num(f), true
	}
	t, ok := parseDateTime(v.str)
	if !ok {
		return Value{}, false
	}
	switch dt {
	case TypeTimeSeconds:
		return Num(secondsSinceMidnight(t)), true
	case TypeDateDaysSince0, TypeDateDaysSince1960, TypeDateDaysSince1970, TypeDateDaysSince1980:
		return Num(math.Floor(sinceYear(t, dateEpochs[dt]) / 86400)), true
	}
	return Num(sinceYear(t, dateEpochs[dt])), true
}

// sinceYear is the number of seconds from January 1st of year to t.
func sinceYear(t time.Time, year int) float64 {
	epoch := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	// Durations overflow beyond 292 years: count days, then seconds.
	days := float64(civilDays(t) - civilDays(epoch))
	secs := float64(t.Hour()*3600+t.Minute()*60+t.Second()) + float64(t.Nanosecond())/1e9
	return days*86400 + secs
}

// civilDays counts days from 0001-01-01 in the proleptic Gregorian calendar.
func civilDays(t time.Time) int64 {
	// Days before the year, then the day of the year.
	yy := int64(t.Year()) - 1
	days := yy*365 + floorDiv(yy, 4) - floorDiv(yy, 100) + floorDiv(yy, 400)
	return days + int64(t.YearDay()) - 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func secondsSinceMidnight(t time.Time) float64 {
	return float64(t.Hour()*3600+t.Minute()*60+t.Second()) + float64(t.Nanosecond())/1e9
}

// dateArg reads a date function's argument, which is date text.
func dateArg(v Value) (time.Time, bool) {
	if v.kind != KindString {
		return time.Time{}, false
	}
	return parseDateTime(v.str)
}

// registerDateFunctions adds the date built-ins; functions.go's init calls it
// once the table exists.
func registerDateFunctions() {
	builtins["dateDaysSinceYear"] = builtin{2, 2, func(_ *Scorer, a []Value) Value {
		t, ok := dateArg(a[0])
		y, oky := a[1].Float()
		if !ok || !oky {
			return nanValue
		}
		return Num(math.Floor(sinceYear(t, int(y)) / 86400))
	}}
	builtins["dateSecondsSinceYear"] = builtin{2, 2, func(_ *Scorer, a []Value) Value {
		t, ok := dateArg(a[0])
		y, oky := a[1].Float()
		if !ok || !oky {
			return nanValue
		}
		return Num(sinceYear(t, int(y)))
	}}
	builtins["dateSecondsSinceMidnight"] = builtin{1, 1, func(_ *Scorer, a []Value) Value {
		t, ok := dateArg(a[0])
		if !ok {
			return nanValue
		}
		return Num(secondsSinceMidnight(t))
	}}
}
