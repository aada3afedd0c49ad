package event

import (
	"fmt"
	"strings"
	"time"
)

// TimeFormat is one way an event-time field may be written. Build one with
// ParseTimeFormat; the zero value is AutoTime.
type TimeFormat struct {
	name   string
	kind   formatKind
	unit   unit   // for epoch formats
	layout string // for layouts
	// civil is set for layouts of the form 2006-01-02 15:04:05[.000…]
	// (space or T), which the fast RFC 3339 path reads: fraction digits
	// the layout wants, or -1 for none.
	civil    bool
	sep      byte
	fracDigs int
}

type formatKind uint8

const (
	formatAuto formatKind = iota
	formatRFC3339
	formatEpoch
	formatLayout
)

// AutoTime is the default format: RFC 3339 text, or an epoch number (as a
// number or digits) whose unit is told by its magnitude; text without a
// zone is read in the decoder's TimeZone when one is set.
var AutoTime = TimeFormat{name: "auto"}

// The named formats. Anything else given to ParseTimeFormat is a Go
// layout (see time.Layout).
var namedFormats = map[string]TimeFormat{
	"auto":     AutoTime,
	"rfc3339":  {name: "rfc3339", kind: formatRFC3339},
	"epoch_s":  {name: "epoch_s", kind: formatEpoch, unit: unitS},
	"epoch_ms": {name: "epoch_ms", kind: formatEpoch, unit: unitMS},
	"epoch_us": {name: "epoch_us", kind: formatEpoch, unit: unitUS},
	"epoch_ns": {name: "epoch_ns", kind: formatEpoch, unit: unitNS},
}

// layoutProbe has a distinct value in every field a layout must hold, on
// the 24-hour clock, so a layout that drops one does not read it back.
var layoutProbe = time.Date(2009, time.November, 17, 20, 34, 58, 0, time.UTC)

// ParseTimeFormat reads a time format: one of the names auto, rfc3339,
// epoch_s, epoch_ms, epoch_us and epoch_ns, or a Go layout holding year,
// month, day, hour (24-hour, or 12-hour with AM/PM), minute and second,
// such as Sysmon's "2006-01-02 15:04:05.000". A layout without a zone is
// read in the decoder's TimeZone (UTC unless set).
func ParseTimeFormat(s string) (TimeFormat, error) {
	if f, ok := namedFormats[strings.ToLower(s)]; ok {
		return f, nil
	}
	if strings.HasPrefix(strings.ToLower(s), "epoch") || s == "" {
		return TimeFormat{}, fmt.Errorf("unknown time format %q: want auto, rfc3339, epoch_s, epoch_ms, epoch_us, epoch_ns or a Go layout", s)
	}
	back, err := time.Parse(s, layoutProbe.Format(s))
	if err != nil || back.Year() != layoutProbe.Year() || back.YearDay() != layoutProbe.YearDay() ||
		back.Hour() != layoutProbe.Hour() || back.Minute() != layoutProbe.Minute() || back.Second() != layoutProbe.Second() {
		return TimeFormat{}, fmt.Errorf("time format %q is neither a named format (auto, rfc3339, epoch_s, epoch_ms, epoch_us, epoch_ns) "+
			"nor a Go layout with year, month, day, hour, minute and second such as \"2006-01-02 15:04:05.000\"", s)
	}
	f := TimeFormat{name: s, kind: formatLayout, layout: s}
	if len(s) >= 19 && (s[10] == ' ' || s[10] == 'T') && s[:10] == "2006-01-02" && s[11:19] == "15:04:05" {
		switch frac := s[19:]; {
		case frac == "":
			f.civil, f.sep, f.fracDigs = true, s[10], -1
		case len(frac) > 1 && len(frac) <= 10 && frac[0] == '.' && strings.Count(frac, "0") == len(frac)-1:
			f.civil, f.sep, f.fracDigs = true, s[10], len(frac)-1
		}
	}
	return f, nil
}

// String returns the format as it was given.
func (f TimeFormat) String() string {
	if f.name == "" {
		return "auto"
	}
	return f.name
}

// Parse reads v in format f, in Unix nanoseconds. zone is the zone of text
// without one: for a layout, nil means UTC; for auto, nil means such text
// is an error. A time int64 nanoseconds cannot hold is an error.
func (f TimeFormat) Parse(v Value, zone *time.Location) (int64, error) {
	return f.parse(v.kind, v.Str(), v.num(), zone)
}

// parse is Parse of a value of kind k whose text is s and number n:
// the decoder passes the three read from its member in place (see
// Decoder.stamp), not a copy of the whole Value.
func (f *TimeFormat) parse(k Kind, s string, n float64, zone *time.Location) (int64, error) {
	switch f.kind {
	case formatAuto:
		if k == String {
			return parseAuto(s, zone)
		}
		return parseTime(k, s, n)
	case formatEpoch:
		switch k {
		case Number:
			return epoch(n, f.unit)
		case String:
			if looksNumeric(s) {
				if ns, ok, err := epochString(s, f.unit); ok {
					return ns, err
				}
			}
			return 0, fmt.Errorf("%q is not %s", s, unitNames[f.unit])
		}
		return 0, fmt.Errorf("%s must be a number or digits, got %s", unitNames[f.unit], k)
	}
	if k != String {
		return 0, fmt.Errorf("a time in format %s must be a string, got %s", f, k)
	}
	if f.kind == formatRFC3339 {
		t, st := parseRFC3339(s, nil)
		switch st {
		case parsed:
			return t, nil
		case outOfRange:
			return 0, errRange(fmt.Sprintf("event time %q", s))
		}
		tt, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("%q is not RFC 3339 text such as 2024-05-01T12:00:00Z", s)
		}
		return unixNano(tt, s)
	}
	if zone == nil {
		zone = time.UTC
	}
	if f.civil && f.civilShape(s) {
		switch t, st := parseRFC3339(s, zone); st {
		case parsed:
			return t, nil
		case outOfRange:
			return 0, errRange(fmt.Sprintf("event time %q", s))
		}
	}
	tt, err := time.ParseInLocation(f.layout, s, zone)
	if err != nil {
		return 0, fmt.Errorf("%q does not match the layout %q", s, f.layout)
	}
	return unixNano(tt, s)
}

// civilShape reports whether s has exactly the shape of a civil layout,
// so that the fast path takes nothing time.ParseInLocation would refuse;
// anything else goes to time.ParseInLocation.
func (f TimeFormat) civilShape(s string) bool {
	want := 19
	if f.fracDigs > 0 {
		want += 1 + f.fracDigs
	}
	if len(s) != want || s[10] != f.sep {
		return false
	}
	if f.fracDigs > 0 {
		if s[19] != '.' && s[19] != ',' {
			return false
		}
		for i := 20; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
	}
	return true
}
