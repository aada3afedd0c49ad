package siem

import (
	"strconv"
	"unicode/utf8"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/ascii"
	"github.com/cep-project/cep/internal/jsonx"
)

// cefFormat writes ArcSight Common Event Format version 0:
//
//	CEF:0|Vendor|Product|Version|rule|title|severity|extension
//
// Header fields escape '\' and '|'; a header cannot span lines, so CR and LF
// become spaces. Extension values escape '\' and '=' and write CR and LF as
// \r and \n. The alert's own values use the custom-string and
// custom-number keys with their labels, which every CEF consumer maps.
type cefFormat struct {
	// prefix is the constant start of every line, escaped once.
	prefix []byte
}

func newCEF(p Product) cefFormat {
	b := []byte("CEF:0|")
	b = appendCEFHeader(b, p.Vendor)
	b = append(b, '|')
	b = appendCEFHeader(b, p.Name)
	b = append(b, '|')
	b = appendCEFHeader(b, p.Version)
	b = append(b, '|')
	return cefFormat{prefix: b}
}

func (cefFormat) Name() string { return FormatCEF }
func (cefFormat) JSON() bool   { return false }

func (f cefFormat) Append(dst []byte, a *alert.Alert) ([]byte, error) {
	dst = append(dst, f.prefix...)
	dst = appendCEFHeader(dst, a.Rule)
	dst = append(dst, '|')
	dst = appendCEFHeader(dst, a.Title)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, int64(severityNumber(a.Severity)), 10)
	dst = append(dst, "|rt="...)
	dst = appendMillis(dst, a)
	dst = append(dst, " externalId="...)
	dst = appendCEFValue(dst, a.ID)
	dst = append(dst, " cs1Label=ruleVersion cs1="...)
	dst = appendCEFValue(dst, a.RuleVersion)
	if len(a.Key) > 0 {
		dst = append(dst, " cs2Label=key cs2="...)
		start := len(dst)
		var err error
		if dst, err = appendKey(dst, a.Key); err != nil {
			return dst, err
		}
		dst = escapeCEFTail(dst, start)
	}
	if len(a.Tags) > 0 {
		dst = append(dst, " cs3Label=tags cs3="...)
		for i, t := range a.Tags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendCEFValue(dst, t)
		}
	}
	if len(a.Fields) > 0 {
		dst = append(dst, " cs4Label=fields cs4="...)
		start := len(dst)
		var err error
		if dst, err = jsonx.AppendMap(dst, a.Fields); err != nil {
			return dst, err
		}
		dst = escapeCEFTail(dst, start)
	}
	if len(a.Events) > 0 {
		dst = append(dst, " cs5Label=evidence cs5="...)
		for i, e := range a.Events {
			if i > 0 {
				dst = append(dst, ',')
			}
			if e.Event != nil {
				dst = appendCEFValue(dst, e.Event.ID)
			}
		}
	}
	if a.Corrects != "" {
		dst = append(dst, " cs6Label=corrects cs6="...)
		dst = appendCEFValue(dst, a.Corrects)
	}
	dst = append(dst, " cn1Label=priority cn1="...)
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	if a.Score != nil {
		dst = append(dst, " cfp1Label=score cfp1="...)
		var err error
		if dst, err = jsonx.AppendFloat(dst, *a.Score, 64); err != nil {
			return dst, err
		}
	}
	if a.Count > 0 {
		dst = append(dst, " cnt="...)
		dst = strconv.AppendInt(dst, int64(a.Count), 10)
	}
	if a.FirstSeen != nil {
		dst = append(dst, " start="...)
		dst = strconv.AppendInt(dst, a.FirstSeen.UnixMilli(), 10)
	}
	if a.LastSeen != nil {
		dst = append(dst, " end="...)
		dst = strconv.AppendInt(dst, a.LastSeen.UnixMilli(), 10)
	}
	if len(a.Reasons) > 0 {
		dst = append(dst, " reason="...)
		for i, r := range a.Reasons {
			if i > 0 {
				dst = append(dst, "; "...)
			}
			dst = appendCEFValue(dst, r)
		}
	}
	return dst, nil
}

// appendCEFHeader escapes a header field.
func appendCEFHeader(dst []byte, s string) []byte {
	i := ascii.PlainPrefix(s, '|', '\\')
	dst = append(dst, s[:i]...)
	for i < len(s) {
		c := s[i]
		switch c {
		case '\\', '|':
			dst = append(dst, '\\', c)
		case '\r', '\n':
			dst = append(dst, ' ')
		default:
			if c < utf8.RuneSelf {
				dst = append(dst, c)
			} else {
				r, size := utf8.DecodeRuneInString(s[i:])
				dst = utf8.AppendRune(dst, r) // invalid bytes become U+FFFD
				i += size
				continue
			}
		}
		i++
	}
	return dst
}

// appendCEFValue escapes an extension value.
func appendCEFValue(dst []byte, s string) []byte {
	i := ascii.PlainPrefix(s, '=', '\\')
	dst = append(dst, s[:i]...)
	for i < len(s) {
		c := s[i]
		switch c {
		case '\\', '=':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			if c < utf8.RuneSelf {
				dst = append(dst, c)
			} else {
				r, size := utf8.DecodeRuneInString(s[i:])
				dst = utf8.AppendRune(dst, r)
				i += size
				continue
			}
		}
		i++
	}
	return dst
}

// escapeCEFTail escapes in place the extension value written at
// dst[start:], for values produced by another appender (JSON). JSON has
// already escaped newlines, so only '\' and '=' remain.
func escapeCEFTail(dst []byte, start int) []byte {
	n := 0
	for _, c := range dst[start:] {
		if c == '\\' || c == '=' {
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
		if c == '\\' || c == '=' {
			w--
			dst[w] = '\\'
		}
	}
	return dst
}
