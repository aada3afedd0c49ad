package siem

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
)

// The appenders in this file write JSON exactly as encoding/json does
// (HTML-safe escaping, the same float and time forms, sorted map keys), so
// that the JSON format is byte-for-byte the alert contract of DESIGN.md §4,
// but without reflection: formatting is the hot path of every sink.

const hexDigits = "0123456789abcdef"

// safeJSON marks the ASCII bytes that need no escaping in a JSON string
// under encoding/json's HTML-safe rules.
var safeJSON = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a quoted JSON string.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	i := 0
	// Skip eight safe bytes at a time: most values need no escaping.
	for i+8 <= len(s) && safe8(binary.LittleEndian.Uint64([]byte(s[i:i+8]))) {
		i += 8
	}
	// The last partial word is checked as the overlapping final eight.
	if i < len(s) && i+8 > len(s) && len(s) >= 8 && safe8(binary.LittleEndian.Uint64([]byte(s[len(s)-8:]))) {
		i = len(s)
	}
	for i < len(s) {
		if b := s[i]; b < utf8.RuneSelf {
			if safeJSON[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 break JavaScript string literals; encoding/json
		// escapes them and so must we.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// hasByte reports whether any byte of x equals c.
func hasByte(x uint64, c byte) bool {
	y := x ^ (swarLo * uint64(c))
	return (y-swarLo)&^y&swarHi != 0
}

// safe8 reports whether eight bytes are all printable ASCII that a JSON
// string carries unescaped: no control bytes, no '"', '\\', '<', '>', '&',
// and nothing at or above 0x80 (which needs UTF-8 checks).
func safe8(x uint64) bool {
	bad := x | (x-swarLo*0x20)&^x
	for _, c := range [...]byte{'"', '\\', '<', '>', '&'} {
		y := x ^ (swarLo * uint64(c))
		bad |= (y - swarLo) &^ y
	}
	return bad&swarHi == 0
}

// appendFloat appends f as encoding/json does: shortest form, exponent only
// outside [1e-6, 1e21).
func appendFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("unsupported float value %v", f)
	}
	// Integral values, common in alert fields, skip the shortest-digits
	// search; below 2^53 the integer form is what 'f' would print.
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 && !(f == 0 && math.Signbit(f)) {
		return strconv.AppendInt(dst, int64(f), 10), nil
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// appendTime appends t in the form of time.Time.MarshalJSON. UTC times,
// which are what alerts carry, are written by hand; time.AppendFormat is a
// tenth of the JSON format's budget.
func appendTime(dst []byte, t time.Time) []byte {
	if t.Location() != time.UTC || t.Year() < 0 || t.Year() > 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"')
	}
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	dst = append(dst, '"',
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z', '"')
}

// appendAny appends a value from an alert's fields or key. The types that
// CEL results and decoded JSON produce are written directly; anything else
// goes through encoding/json, off the hot path.
func appendAny(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendString(dst, x), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case float64:
		return appendFloat(dst, x, 64)
	case float32:
		return appendFloat(dst, float64(x), 32)
	case json.Number:
		if x == "" {
			return append(dst, '0'), nil
		}
		return append(dst, x...), nil
	case time.Time:
		return appendTime(dst, x), nil
	case []any:
		if x == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		var err error
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendAny(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case []string:
		return appendStrings(dst, x), nil
	case map[string]any:
		return appendMap(dst, x)
	case event.Value:
		return appendValue(dst, x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendMap writes m with sorted keys, like encoding/json. Small maps
// sort their members in a stack array so that the common case does not
// allocate, and values are not looked up twice.
func appendMap(dst []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	var buf [16]member
	ms := buf[:0]
	for k, v := range m {
		ms = append(ms, member{k, v})
	}
	sortMembers(ms)
	dst = append(dst, '{')
	var err error
	for i := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, ms[i].key)
		dst = append(dst, ':')
		if dst, err = appendAny(dst, ms[i].val); err != nil {
			return dst, fmt.Errorf("%s: %w", ms[i].key, err)
		}
	}
	return append(dst, '}'), nil
}

type member struct {
	key string
	val any
}

// sortMembers is an insertion sort: fields maps are small, and a generic
// sort with a closure would make the stack array escape.
func sortMembers(ms []member) {
	if len(ms) > 12 {
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
		return
	}
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].key < ms[j-1].key; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// appendValue writes an event value, keeping object member order.
func appendValue(dst []byte, v event.Value) ([]byte, error) {
	switch v.Kind() {
	case event.Null:
		return append(dst, "null"...), nil
	case event.Bool:
		return strconv.AppendBool(dst, v.Bool()), nil
	case event.Number:
		return appendFloat(dst, v.Num(), 64)
	case event.String:
		return appendString(dst, v.Str()), nil
	case event.Object:
		return appendFields(dst, v.Fields())
	case event.Array:
		dst = append(dst, '[')
		var err error
		for i := range v.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendValue(dst, v.Index(i)); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	return dst, fmt.Errorf("unknown value kind %v", v.Kind())
}

func appendFields(dst []byte, fs []event.Field) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for i, f := range fs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, f.Key)
		dst = append(dst, ':')
		if dst, err = appendValue(dst, f.Value); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendRaw appends JSON text as encoding/json writes a json.RawMessage:
// compacted and HTML-escaped. Event lines are usually compact already, so a
// scan decides whether the slow path is needed.
func appendRaw(dst []byte, raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return append(dst, "null"...), nil
	}
	if rawIsClean(raw) {
		return append(dst, raw...), nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return dst, fmt.Errorf("evidence event: %w", err)
	}
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, compact.Bytes())
	return append(dst, escaped.Bytes()...), nil
}

// rawIsClean reports whether raw needs neither compaction nor escaping.
// It is conservative: any space, even inside a string, takes the slow path,
// which is correct either way. Eight bytes are checked at a time.
func rawIsClean(raw []byte) bool {
	i := 0
	for ; i+8 <= len(raw); i += 8 {
		x := binary.LittleEndian.Uint64(raw[i:])
		if (x-swarLo*0x21)&^x&swarHi != 0 || hasByte(x, '<') || hasByte(x, '>') || hasByte(x, '&') || hasByte(x, 0xE2) {
			return false
		}
	}
	for _, c := range raw[i:] {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xE2:
			return false
		}
	}
	return true
}

// appendKey writes an alert key as an object from expression to value, in
// the rule's order.
func appendKey(dst []byte, k alert.Key) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for i, p := range k {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, p.Expr)
		dst = append(dst, ':')
		if dst, err = appendAny(dst, p.Value); err != nil {
			return dst, fmt.Errorf("key %s: %w", p.Expr, err)
		}
	}
	return append(dst, '}'), nil
}

// appendEvidence writes one evidence entry in the form of
// alert.Evidence.MarshalJSON.
func appendEvidence(dst []byte, e alert.Evidence) ([]byte, error) {
	dst = append(dst, `{"step":`...)
	dst = appendString(dst, e.Step)
	if e.Event == nil {
		return append(dst, `,"event":null}`...), nil
	}
	if e.Event.Stream != "" {
		dst = append(dst, `,"stream":`...)
		dst = appendString(dst, e.Event.Stream)
	}
	if e.Event.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = appendString(dst, e.Event.ID)
	}
	dst = append(dst, `,"event":`...)
	dst, err := appendRaw(dst, e.Event.Raw)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

func appendEvidenceList(dst []byte, es []alert.Evidence) ([]byte, error) {
	if es == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '[')
	var err error
	for i, e := range es {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendEvidence(dst, e); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}
