package format

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/ascii"
	"github.com/cep-project/cep/internal/jsonx"
)

// leefFormat writes IBM QRadar Log Event Extended Format 2.0:
//
//	LEEF:2.0|Vendor|Product|Version|rule|delimiter|key=value<delim>key=value
//
// LEEF defines no escaping, and IBM's guide asks to keep tab, '|' and '^'
// out of keys and values. So cep writes no backslash escapes; instead a
// value never holds the delimiter, a tab, '|', '^' or a line break: a
// printable one is written as its fullwidth form (U+FF01–U+FF5E: '^' →
// '＾', '|' → '｜'), a control one (tab, CR, LF, or a control delimiter) as
// its Control Pictures symbol (U+2400–U+2421: tab → '␉', LF → '␊'). Header
// fields do the same for '|', CR and LF. A key splits from its value at
// the first '=', so '=' in values is left alone. Lists and objects are
// JSON, whose strings are rewritten the same way and stay valid JSON.
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

// leefForbidden are the characters a delimiter cannot be: what keys,
// numbers, times and JSON values are made of, and '=', '\' and '|'.
const leefForbidden = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789=\\|\"',:{}[].+-_'"

// ParseLEEFDelimiter reads a LEEF 2.0 delimiter: one character, or its
// code as xHH or 0xHH. Letters, digits and the characters of keys, numbers,
// times and JSON cannot be delimiters, so that no attribute or JSON value
// is ever rewritten around one.
func ParseLEEFDelimiter(s string) (byte, error) {
	if s == "" {
		s = DefaultLEEFDelimiter
	}
	if len(s) > 1 && (strings.HasPrefix(s, "x") || strings.HasPrefix(s, "0x")) {
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "0"), "x"), 16, 8)
		if err != nil {
			return 0, fmt.Errorf("leef delimiter %q: not a hex byte", s)
		}
		s = string([]byte{byte(v)})
	}
	if len(s) != 1 {
		return 0, fmt.Errorf("leef delimiter %q: must be one ASCII character or xHH", s)
	}
	switch c := s[0]; {
	case c >= utf8.RuneSelf:
		return 0, fmt.Errorf("leef delimiter %q: must be ASCII", s)
	case c == 0 || c == '\r' || c == '\n' || c == 0x7f:
		return 0, fmt.Errorf("leef delimiter %q: cannot be NUL, DEL or a line break", s)
	case strings.IndexByte(leefForbidden, c) >= 0:
		return 0, fmt.Errorf("leef delimiter %q: cannot be a letter, a digit or one of %s, which keys, numbers and JSON values hold", s, leefForbidden[62:])
	default:
		return c, nil
	}
}

// leefReplacement is what stands for c inside a LEEF value.
func leefReplacement(c byte) string {
	switch {
	case c <= ' ':
		return string(rune(0x2400 + int(c)))
	case c == 0x7f:
		return "\u2421"
	default:
		return string(rune(0xFF01 + int(c) - 0x21))
	}
}

// leefHeader escapes header fields; leefValue builds a delimiter's value
// escaper.
var leefHeader = newEscaper(map[byte]string{'|': leefReplacement('|'), '\r': leefReplacement('\r'), '\n': leefReplacement('\n')})

func leefValue(delim byte) *escaper {
	repl := map[byte]string{}
	for _, c := range []byte{'|', '^', '\t', '\r', '\n', delim} {
		repl[c] = leefReplacement(c)
	}
	return newEscaper(repl)
}

func newLEEF(p Product, delim byte) leefFormat {
	return leefFormat{prefix: productHeader("LEEF:2.0|", p, leefHeader), delim: delim, val: leefValue(delim)}
}

func (leefFormat) Name() string { return LEEF }
func (leefFormat) JSON() bool   { return false }

// leefTimeLayout is the devTime layout, declared in devTimeFormat with the
// pattern letters of Java's SimpleDateFormat, which QRadar parses it with:
// there Z is an RFC 822 zone, "+0000", never the letter Z.
const (
	leefTimeLayout = "2006-01-02T15:04:05.000-0700"
	leefTimeJava   = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
)

func (f leefFormat) Append(dst []byte, a *alert.Alert) ([]byte, error) {
	d := f.delim
	dst = append(dst, f.prefix...)
	dst = leefHeader.append(dst, a.Rule)
	dst = append(dst, '|')
	if d >= 0x21 && d < 0x7f {
		dst = append(dst, d)
	} else {
		dst = append(dst, 'x', ascii.HexDigits[d>>4], ascii.HexDigits[d&0xF])
	}
	dst = append(dst, "|devTimeFormat="+leefTimeJava...)
	dst = f.time(dst, "devTime=", a.Time)
	dst = f.key(dst, "sev=")
	dst = strconv.AppendInt(dst, int64(severityNumber(a.Severity)), 10)
	dst = f.text(dst, "cat=", a.Rule)
	dst = f.text(dst, "alertId=", a.ID)
	dst = f.text(dst, "title=", a.Title)
	dst = f.text(dst, "ruleVersion=", a.RuleVersion)
	dst = f.key(dst, "priority=")
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	var err error
	if a.Score != nil {
		if dst, err = jsonx.AppendFloat(f.key(dst, "score="), *a.Score, 64); err != nil {
			return dst, err
		}
	}
	if len(a.Tags) > 0 {
		dst, _ = f.json(dst, "tags=", func(b []byte) ([]byte, error) { return jsonx.AppendStrings(b, a.Tags), nil })
	}
	if len(a.Key) > 0 {
		if dst, err = f.json(dst, "key=", func(b []byte) ([]byte, error) { return appendKey(b, a.Key, nil) }); err != nil {
			return dst, err
		}
	}
	if len(a.Fields) > 0 {
		if dst, err = f.json(dst, "fields=", func(b []byte) ([]byte, error) { return jsonx.AppendMap(b, a.Fields) }); err != nil {
			return dst, err
		}
	}
	if len(a.Events) > 0 {
		dst, _ = f.json(dst, "evidence=", func(b []byte) ([]byte, error) { return appendEvidenceIDs(b, a.Events), nil })
	}
	if a.Count > 0 {
		dst = strconv.AppendInt(f.key(dst, "count="), int64(a.Count), 10)
	}
	if a.FirstSeen != nil {
		dst = f.time(dst, "firstSeen=", *a.FirstSeen)
	}
	if a.LastSeen != nil {
		dst = f.time(dst, "lastSeen=", *a.LastSeen)
	}
	if a.Corrects != "" {
		dst = f.text(dst, "corrects=", a.Corrects)
	}
	if len(a.Reasons) > 0 {
		dst, _ = f.json(dst, "reason=", func(b []byte) ([]byte, error) { return jsonx.AppendStrings(b, a.Reasons), nil })
	}
	return dst, nil
}

// key starts an attribute: the delimiter and "name=".
func (f leefFormat) key(dst []byte, key string) []byte {
	dst = append(dst, f.delim)
	return append(dst, key...)
}

// text writes a text attribute.
func (f leefFormat) text(dst []byte, key, s string) []byte {
	return f.val.append(f.key(dst, key), s)
}

// time writes a time attribute in the devTimeFormat layout.
func (f leefFormat) time(dst []byte, key string, t time.Time) []byte {
	return t.UTC().AppendFormat(f.key(dst, key), leefTimeLayout)
}

// json writes an attribute whose value is JSON, rewritten so that it holds
// no separator.
func (f leefFormat) json(dst []byte, key string, write func([]byte) ([]byte, error)) ([]byte, error) {
	dst = f.key(dst, key)
	start := len(dst)
	dst, err := write(dst)
	if err != nil {
		return dst, err
	}
	return f.val.escapeTail(dst, start), nil
}
