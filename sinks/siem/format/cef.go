package format

import (
	"strconv"
	"strings"

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

// Receivers' limits, in characters as Java counts them (UTF-16 code
// units): ArcSight keeps 4,000 of a custom string (cs1–cs6) and 1,023 of
// msg and reason.
const (
	cefCustomLimit  = 4000
	cefMessageLimit = 1023
)

// cefFormat writes ArcSight Common Event Format version 0:
//
//	CEF:0|Vendor|Product|Version|rule|title|severity|extension
//
// The alert's own values use the custom-string and custom-number keys with
// their labels, which every CEF consumer maps. Lists (tags, evidence ids,
// reasons) and objects (key, fields) are JSON, so that an item holding a
// comma stays one item. A value longer than the receiver keeps is cut, its
// end marked with "…", a JSON value then written as a JSON string of its
// cut text, and the key named in flexString1 (label "truncated").
type cefFormat struct {
	// prefix is the constant start of every line, escaped once.
	prefix []byte
}

func newCEF(p Product) cefFormat {
	return cefFormat{prefix: productHeader("CEF:0|", p, cefHeader)}
}

// productHeader writes the vendor, product and version header fields that
// CEF and LEEF share, each followed by '|'.
func productHeader(start string, p Product, e *escaper) []byte {
	b := []byte(start)
	for _, s := range []string{p.Vendor, p.Name, p.Version} {
		b = e.append(b, s)
		b = append(b, '|')
	}
	return b
}

func (cefFormat) Name() string { return CEF }
func (cefFormat) JSON() bool   { return false }

func (f cefFormat) Append(dst []byte, a *alert.Alert) ([]byte, error) {
	var cut cutKeys
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
	dst = cefValue.append(dst, cut.text("cs1", a.RuleVersion, cefCustomLimit))
	var err error
	if len(a.Key) > 0 {
		dst = append(dst, " cs2Label=key cs2="...)
		start := len(dst)
		if dst, err = appendKey(dst, a.Key, nil); err != nil {
			return dst, err
		}
		dst = cefValue.escapeTail(cut.json(dst, start, "cs2", cefCustomLimit), start)
	}
	if len(a.Tags) > 0 {
		dst = append(dst, " cs3Label=tags cs3="...)
		start := len(dst)
		dst = jsonx.AppendStrings(dst, a.Tags)
		dst = cefValue.escapeTail(cut.json(dst, start, "cs3", cefCustomLimit), start)
	}
	if len(a.Fields) > 0 {
		dst = append(dst, " cs4Label=fields cs4="...)
		start := len(dst)
		if dst, err = jsonx.AppendMap(dst, a.Fields); err != nil {
			return dst, err
		}
		dst = cefValue.escapeTail(cut.json(dst, start, "cs4", cefCustomLimit), start)
	}
	if len(a.Events) > 0 {
		dst = append(dst, " cs5Label=evidence cs5="...)
		start := len(dst)
		dst = appendEvidenceIDs(dst, a.Events)
		dst = cefValue.escapeTail(cut.json(dst, start, "cs5", cefCustomLimit), start)
	}
	if a.Corrects != "" {
		dst = append(dst, " cs6Label=corrects cs6="...)
		dst = cefValue.append(dst, cut.text("cs6", a.Corrects, cefCustomLimit))
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
	if strings.ContainsAny(a.Title, "\r\n") {
		// The header shows the title's line breaks as spaces; msg, which
		// may hold \n, keeps the title as it is.
		dst = append(dst, " msg="...)
		dst = cefValue.append(dst, cut.text("msg", a.Title, cefMessageLimit))
	}
	if len(a.Reasons) > 0 {
		dst = append(dst, " reason="...)
		start := len(dst)
		dst = jsonx.AppendStrings(dst, a.Reasons)
		dst = cefValue.escapeTail(cut.json(dst, start, "reason", cefMessageLimit), start)
	}
	if cut.n > 0 {
		dst = append(dst, " flexString1Label=truncated flexString1="...)
		dst = jsonx.AppendStrings(dst, cut.names[:cut.n])
	}
	return dst, nil
}

// appendEvidenceIDs writes the evidence event ids as a JSON array, null
// for a step without an event.
func appendEvidenceIDs(dst []byte, es []alert.Evidence) []byte {
	dst = append(dst, '[')
	for i, e := range es {
		if i > 0 {
			dst = append(dst, ',')
		}
		if e.Event == nil {
			dst = append(dst, "null"...)
		} else {
			dst = jsonx.AppendString(dst, e.Event.ID)
		}
	}
	return append(dst, ']')
}

// cutKeys records which keys of a message were cut to a receiver's limit.
type cutKeys struct {
	names [8]string
	n     int
}

func (c *cutKeys) add(name string) {
	if c.n < len(c.names) {
		c.names[c.n] = name
		c.n++
	}
}

// text returns s, or, when it is longer than limit characters, its start
// and "…" in limit characters.
func (c *cutKeys) text(name, s string, limit int) string {
	if len(s) <= limit || utf16Len(s) <= limit {
		return s
	}
	c.add(name)
	var b strings.Builder
	units := 1 // the marker
	for _, r := range s {
		u := runeUnits(r)
		if units+u > limit {
			break
		}
		b.WriteRune(r)
		units += u
	}
	b.WriteString("…")
	return b.String()
}

// json cuts the JSON text at dst[start:] when it is longer than limit
// characters: it becomes a JSON string holding the text's start and "…",
// so that the value is still JSON.
func (c *cutKeys) json(dst []byte, start int, name string, limit int) []byte {
	if len(dst)-start <= limit || utf16Len(string(dst[start:])) <= limit {
		return dst
	}
	c.add(name)
	text := string(dst[start:])
	dst = append(dst[:start], '"')
	units := 3 // the quotes and the marker
	var one [16]byte
	for _, r := range text {
		enc := jsonx.AppendString(one[:0], string(r))
		body := enc[1 : len(enc)-1]
		u := utf16Len(string(body))
		if units+u > limit {
			break
		}
		dst = append(dst, body...)
		units += u
	}
	return append(dst, `…"`...)
}

// utf16Len counts the characters of s as Java does.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += runeUnits(r)
	}
	return n
}

func runeUnits(r rune) int {
	if r > 0xFFFF {
		return 2
	}
	return 1
}
