package siem

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
}

// DefaultLEEFDelimiter is the attribute delimiter when none is configured:
// the caret, as in IBM's own LEEF 2.0 examples.
const DefaultLEEFDelimiter = "^"

// parseLEEFDelimiter reads a LEEF 2.0 delimiter: one character, or its
// code as xHH or 0xHH.
func parseLEEFDelimiter(s string) (byte, error) {
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
	b := []byte("LEEF:2.0|")
	b = appendCEFHeader(b, p.Vendor)
	b = append(b, '|')
	b = appendCEFHeader(b, p.Name)
	b = append(b, '|')
	b = appendCEFHeader(b, p.Version)
	b = append(b, '|')
	return leefFormat{prefix: b, delim: delim}
}

func (leefFormat) Name() string { return FormatLEEF }
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
	dst = appendCEFHeader(dst, a.Rule)
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
	dst = f.value(dst, a.Rule)
	dst = append(dst, d)
	dst = append(dst, "alertId="...)
	dst = f.value(dst, a.ID)
	dst = append(dst, d)
	dst = append(dst, "title="...)
	dst = f.value(dst, a.Title)
	dst = append(dst, d)
	dst = append(dst, "ruleVersion="...)
	dst = f.value(dst, a.RuleVersion)
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
				dst = f.value(dst, ",")
			}
			dst = f.value(dst, t)
		}
	}
	if len(a.Key) > 0 {
		dst = append(dst, d)
		dst = append(dst, "key="...)
		start := len(dst)
		if dst, err = appendKey(dst, a.Key); err != nil {
			return dst, err
		}
		dst = f.escapeTail(dst, start)
	}
	if len(a.Fields) > 0 {
		dst = append(dst, d)
		dst = append(dst, "fields="...)
		start := len(dst)
		if dst, err = jsonx.AppendMap(dst, a.Fields); err != nil {
			return dst, err
		}
		dst = f.escapeTail(dst, start)
	}
	if len(a.Events) > 0 {
		dst = append(dst, d)
		dst = append(dst, "evidence="...)
		for i, e := range a.Events {
			if i > 0 {
				dst = f.value(dst, ",")
			}
			if e.Event != nil {
				dst = f.value(dst, e.Event.ID)
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
		dst = f.value(dst, a.Corrects)
	}
	if len(a.Reasons) > 0 {
		dst = append(dst, d)
		dst = append(dst, "reason="...)
		for i, r := range a.Reasons {
			if i > 0 {
				dst = append(dst, "; "...)
			}
			dst = f.value(dst, r)
		}
	}
	return dst, nil
}

func (f leefFormat) value(dst []byte, s string) []byte {
	i := ascii.PlainPrefix(s, f.delim, '\\')
	dst = append(dst, s[:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\' || c == f.delim:
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c < utf8.RuneSelf:
			dst = append(dst, c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
			continue
		}
		i++
	}
	return dst
}

// escapeTail escapes the JSON written at dst[start:] as a value.
func (f leefFormat) escapeTail(dst []byte, start int) []byte {
	n := 0
	for _, c := range dst[start:] {
		if c == '\\' || c == f.delim {
			n++
		}
	}
	if n == 0 {
		return dst
	}
	end := len(dst)
	dst = append(dst, make([]byte, n)...)
	w := len(dst)
	for r := end - 1; r >= start; r-- {
		c := dst[r]
		w--
		dst[w] = c
		if c == '\\' || c == f.delim {
			w--
			dst[w] = '\\'
		}
	}
	return dst
}
