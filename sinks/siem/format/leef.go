package format

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/ascii"
	"github.com/cep-project/cep/internal/jsonx"
)

// leefFormat writes IBM QRadar Log Event Extended Format 2.0:
//
//	LEEF:2.0|Vendor|Product|Version|rule|delimiter|key=value<delim>key=value
//
// LEEF defines no escaping; QRadar's guidance is to keep delimiters out of
// values. So that no value can forge an attribute, a value escapes '\', the
// delimiter and, as in CEF, writes CR and LF as \r and \n; a key splits from
// its value at the first '=', so '=' in values is left alone. Header fields
// escape '\' and '|' as in CEF.
type leefFormat struct {
	prefix []byte
	delim  byte
	val    *escaper
}

func init() {
	Register(Kind{Name: LEEF, New: func(o Options) (Formatter, error) {
		d, err := ParseLEEFDelimiter(o.LEEFDelimiter)
		if err != nil {
			return nil, err
		}
		return newLEEF(o.Product, d), nil
	}})
}

// DefaultLEEFDelimiter is the attribute delimiter when none is configured:
// the caret, as in IBM's own LEEF 2.0 examples.
const DefaultLEEFDelimiter = "^"

// ParseLEEFDelimiter reads a LEEF 2.0 delimiter: one character, or its
// code as xHH or 0xHH.
func ParseLEEFDelimiter(s string) (byte, error) {
	if s == "" {
		s = DefaultLEEFDelimiter
	}
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0"), "x")
	if len(s) > 1 && (strings.HasPrefix(s, "x") || strings.HasPrefix(s, "0x")) {
		v, err := strconv.ParseUint(h, 16, 8)
		if err != nil {
			return 0, fmt.Errorf("leef delimiter %q: not a hex byte", s)
		}
		s = string(rune(v))
	}
	if len(s) != 1 {
		return 0, fmt.Errorf("leef delimiter %q: must be one ASCII character or xHH", s)
	}
	switch c := s[0]; c {
	case '=', '\\', '|', '\r', '\n':
		return 0, fmt.Errorf("leef delimiter %q: cannot be '=', '\\', '|' or a line break", s)
	default:
		if c >= utf8.RuneSelf {
			return 0, fmt.Errorf("leef delimiter %q: must be ASCII", s)
		}
		return c, nil
	}
}

func newLEEF(p Product, delim byte) leefFormat {
	val := newEscaper(map[byte]string{'\\': `\\`, delim: `\` + string(delim), '\n': `\n`, '\r': `\r`})
	return leefFormat{prefix: productHeader("LEEF:2.0|", p), delim: delim, val: val}
}

func (leefFormat) Name() string { return LEEF }
func (leefFormat) JSON() bool   { return false }

// leefTimeFormat is the devTime layout, declared in devTimeFormat with
// Java's pattern letters so that QRadar parses it.
const (
	leefTimeLayout = "2006-01-02T15:04:05.000Z0700"
	leefTimeJava   = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
)

func (f leefFormat) Append(dst []byte, a *alert.Alert) ([]byte, error) {
	d := f.delim
	dst = append(dst, f.prefix...)
	dst = cefHeader.append(dst, a.Rule)
	dst = append(dst, '|')
	if d >= 0x21 && d < 0x7f {
		dst = append(dst, d)
	} else {
		dst = append(dst, 'x', ascii.HexDigits[d>>4], ascii.HexDigits[d&0xF])
	}
	dst = append(dst, '|')
	dst = append(dst, "devTimeFormat="+leefTimeJava...)
	dst = append(dst, d)
	dst = append(dst, "devTime="...)
	dst = a.Time.UTC().AppendFormat(dst, leefTimeLayout)
	dst = append(dst, d)
	dst = append(dst, "sev="...)
	dst = strconv.AppendInt(dst, int64(severityNumber(a.Severity)), 10)
	dst = append(dst, d)
	dst = append(dst, "cat="...)
	dst = f.val.append(dst, a.Rule)
	dst = append(dst, d)
	dst = append(dst, "alertId="...)
	dst = f.val.append(dst, a.ID)
	dst = append(dst, d)
	dst = append(dst, "title="...)
	dst = f.val.append(dst, a.Title)
	dst = append(dst, d)
	dst = append(dst, "ruleVersion="...)
	dst = f.val.append(dst, a.RuleVersion)
	dst = append(dst, d)
	dst = append(dst, "priority="...)
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	var err error
	if a.Score != nil {
		dst = append(dst, d)
		dst = append(dst, "score="...)
		if dst, err = jsonx.AppendFloat(dst, *a.Score, 64); err != nil {
			return dst, err
		}
	}
	if len(a.Tags) > 0 {
		dst = append(dst, d)
		dst = append(dst, "tags="...)
		for i, t := range a.Tags {
			if i > 0 {
				dst = f.val.append(dst, ",")
			}
			dst = f.val.append(dst, t)
		}
	}
	if len(a.Key) > 0 {
		dst = append(dst, d)
		dst = append(dst, "key="...)
		start := len(dst)
		if dst, err = appendKey(dst, a.Key); err != nil {
			return dst, err
		}
		dst = f.val.escapeTail(dst, start)
	}
	if len(a.Fields) > 0 {
		dst = append(dst, d)
		dst = append(dst, "fields="...)
		start := len(dst)
		if dst, err = jsonx.AppendMap(dst, a.Fields); err != nil {
			return dst, err
		}
		dst = f.val.escapeTail(dst, start)
	}
	if len(a.Events) > 0 {
		dst = append(dst, d)
		dst = append(dst, "evidence="...)
		for i, e := range a.Events {
			if i > 0 {
				dst = f.val.append(dst, ",")
			}
			if e.Event != nil {
				dst = f.val.append(dst, e.Event.ID)
			}
		}
	}
	if a.Count > 0 {
		dst = append(dst, d)
		dst = append(dst, "count="...)
		dst = strconv.AppendInt(dst, int64(a.Count), 10)
	}
	if a.FirstSeen != nil {
		dst = append(dst, d)
		dst = append(dst, "firstSeen="...)
		dst = a.FirstSeen.UTC().AppendFormat(dst, leefTimeLayout)
	}
	if a.LastSeen != nil {
		dst = append(dst, d)
		dst = append(dst, "lastSeen="...)
		dst = a.LastSeen.UTC().AppendFormat(dst, leefTimeLayout)
	}
	if a.Corrects != "" {
		dst = append(dst, d)
		dst = append(dst, "corrects="...)
		dst = f.val.append(dst, a.Corrects)
	}
	if len(a.Reasons) > 0 {
		dst = append(dst, d)
		dst = append(dst, "reason="...)
		for i, r := range a.Reasons {
			if i > 0 {
				dst = append(dst, "; "...)
			}
			dst = f.val.append(dst, r)
		}
	}
	return dst, nil
}
