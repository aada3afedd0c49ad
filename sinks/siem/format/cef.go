package format

import (
	"strconv"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/jsonx"
)

func init() {
	Register(Kind{Name: CEF, New: func(o Options) (Formatter, error) { return newCEF(o.Product), nil }})
}

// The CEF escapers: header fields escape '\' and '|' and, since a header
// cannot span lines, write CR and LF as spaces; extension values escape
// '\' and '=' and write CR and LF as \r and \n.
var (
	cefHeader = newEscaper(map[byte]string{'\\': `\\`, '|': `\|`, '\r': " ", '\n': " "})
	cefValue  = newEscaper(map[byte]string{'\\': `\\`, '=': `\=`, '\r': `\r`, '\n': `\n`})
)

// cefFormat writes ArcSight Common Event Format version 0:
//
//	CEF:0|Vendor|Product|Version|rule|title|severity|extension
//
// The alert's own values use the custom-string and custom-number keys with
// their labels, which every CEF consumer maps.
type cefFormat struct {
	// prefix is the constant start of every line, escaped once.
	prefix []byte
}

func newCEF(p Product) cefFormat {
	return cefFormat{prefix: productHeader("CEF:0|", p)}
}

// productHeader writes the vendor, product and version header fields that
// CEF and LEEF share, each followed by '|'.
func productHeader(start string, p Product) []byte {
	b := []byte(start)
	for _, s := range []string{p.Vendor, p.Name, p.Version} {
		b = cefHeader.append(b, s)
		b = append(b, '|')
	}
	return b
}

func (cefFormat) Name() string { return CEF }
func (cefFormat) JSON() bool   { return false }

func (f cefFormat) Append(dst []byte, a *alert.Alert) ([]byte, error) {
	dst = append(dst, f.prefix...)
	dst = cefHeader.append(dst, a.Rule)
	dst = append(dst, '|')
	dst = cefHeader.append(dst, a.Title)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, int64(severityNumber(a.Severity)), 10)
	dst = append(dst, "|rt="...)
	dst = appendMillis(dst, a)
	dst = append(dst, " externalId="...)
	dst = cefValue.append(dst, a.ID)
	dst = append(dst, " cs1Label=ruleVersion cs1="...)
	dst = cefValue.append(dst, a.RuleVersion)
	var err error
	if len(a.Key) > 0 {
		dst = append(dst, " cs2Label=key cs2="...)
		start := len(dst)
		if dst, err = appendKey(dst, a.Key); err != nil {
			return dst, err
		}
		dst = cefValue.escapeTail(dst, start)
	}
	if len(a.Tags) > 0 {
		dst = append(dst, " cs3Label=tags cs3="...)
		for i, t := range a.Tags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = cefValue.append(dst, t)
		}
	}
	if len(a.Fields) > 0 {
		dst = append(dst, " cs4Label=fields cs4="...)
		start := len(dst)
		if dst, err = jsonx.AppendMap(dst, a.Fields); err != nil {
			return dst, err
		}
		dst = cefValue.escapeTail(dst, start)
	}
	if len(a.Events) > 0 {
		dst = append(dst, " cs5Label=evidence cs5="...)
		for i, e := range a.Events {
			if i > 0 {
				dst = append(dst, ',')
			}
			if e.Event != nil {
				dst = cefValue.append(dst, e.Event.ID)
			}
		}
	}
	if a.Corrects != "" {
		dst = append(dst, " cs6Label=corrects cs6="...)
		dst = cefValue.append(dst, a.Corrects)
	}
	dst = append(dst, " cn1Label=priority cn1="...)
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	if a.Score != nil {
		dst = append(dst, " cfp1Label=score cfp1="...)
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
			dst = cefValue.append(dst, r)
		}
	}
	return dst, nil
}
