// Package jsonx writes JSON without reflection: the one toolkit that alert
// keys, sinks and snapshots share, so that escaping is right in one place.
//
// Strings are written with encoding/json's HTML-safe escaping, and bytes
// that are not valid UTF-8 become U+FFFD, so every document is valid
// UTF-8 JSON (RFC 8259 §8.1) whatever the input held.
package jsonx

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/ascii"
)

// The appenders write JSON exactly as encoding/json does
// (HTML-safe escaping, the same float and time forms, sorted map keys), so
// that the JSON format is byte-for-byte the alert contract (docs/ARCHITECTURE.md, "Contracts"),
// but without reflection: formatting is the hot path of every sink.

// safeJSON marks the ASCII bytes that need no escaping in a JSON string
// under encoding/json's HTML-safe rules.
var safeJSON = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s as a quoted JSON string.
func AppendString(dst []byte, s string) []byte {
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
				dst = append(dst, '\\', 'u', '0', '0', ascii.HexDigits[b>>4], ascii.HexDigits[b&0xF])
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
			dst = append(dst, '\\', 'u', '2', '0', '2', ascii.HexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// safe8 reports whether eight bytes are all printable ASCII that a JSON
// string carries unescaped: no control bytes, no '"', '\\', '<', '>', '&',
// and nothing at or above 0x80 (which needs UTF-8 checks).
func safe8(x uint64) bool {
	bad := x | (x-ascii.Lo*0x20)&^x
	for _, c := range [...]byte{'"', '\\', '<', '>', '&'} {
		y := x ^ (ascii.Lo * uint64(c))
		bad |= (y - ascii.Lo) &^ y
	}
	return bad&ascii.Hi == 0
}

// AppendFloat appends f as encoding/json does: shortest form, exponent only
// outside [1e-6, 1e21).
func AppendFloat(dst []byte, f float64, bits int) ([]byte, error) {
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

// AppendTime appends t in the form of time.Time.MarshalJSON. UTC times,
// which are what alerts carry, are written by hand; time.AppendFormat is a
// tenth of the JSON format's budget.
func AppendTime(dst []byte, t time.Time) []byte {
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

// Names rewrites the object member names a destination would reject (see
// AppendAnyNames); nil keeps every name as it is.
type Names func(name string) string

func (n Names) apply(dst []byte, name string) []byte {
	if n != nil {
		name = n(name)
	}
	return AppendString(dst, name)
}

// AppendAny appends a value from an alert's fields or key. The types that
// CEL results and decoded JSON produce are written directly; anything else
// goes through encoding/json, off the hot path.
func AppendAny(dst []byte, v any) ([]byte, error) { return appendAny(dst, v, nil) }

// AppendAnyNames is AppendAny with the member name of every object inside v
// passed through names.
func AppendAnyNames(dst []byte, v any, names Names) ([]byte, error) {
	return appendAny(dst, v, names)
}

func appendAny(dst []byte, v any, names Names) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendString(dst, x), nil
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
		return AppendFloat(dst, x, 64)
	case float32:
		return AppendFloat(dst, float64(x), 32)
	case json.Number:
		if x == "" {
			return append(dst, '0'), nil
		}
		// encoding/json refuses a Number that is not a JSON number rather
		// than copying its text, and so must we: it could be anything.
		if !isNumber(string(x)) {
			return dst, fmt.Errorf("invalid number literal %q", string(x))
		}
		return append(dst, x...), nil
	case time.Time:
		return AppendTime(dst, x), nil
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
			if dst, err = appendAny(dst, e, names); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case []string:
		return AppendStrings(dst, x), nil
	case map[string]any:
		return appendMap(dst, x, names)
	case event.Value:
		return appendValue(dst, x, names)
	}
	if names != nil {
		// Off the hot path: re-read what encoding/json wrote, so that the
		// names inside structs and other maps are rewritten too.
		b, err := json.Marshal(v)
		if err != nil {
			return dst, err
		}
		return AppendRawNames(dst, b, names)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// AppendStrings writes a string array; nil is null.
func AppendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, s)
	}
	return append(dst, ']')
}

// AppendMap writes m with sorted keys, like encoding/json. Small maps
// sort their members in a stack array so that the common case does not
// allocate, and values are not looked up twice.
func AppendMap(dst []byte, m map[string]any) ([]byte, error) { return appendMap(dst, m, nil) }

// AppendMapNames is AppendMap with every member name, at any depth, passed
// through names.
func AppendMapNames(dst []byte, m map[string]any, names Names) ([]byte, error) {
	return appendMap(dst, m, names)
}

func appendMap(dst []byte, m map[string]any, names Names) ([]byte, error) {
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
		dst = names.apply(dst, ms[i].key)
		dst = append(dst, ':')
		if dst, err = appendAny(dst, ms[i].val, names); err != nil {
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

// AppendValue writes an event value, keeping object member order.
func AppendValue(dst []byte, v event.Value) ([]byte, error) { return appendValue(dst, v, nil) }

func appendValue(dst []byte, v event.Value, names Names) ([]byte, error) {
	switch v.Kind() {
	case event.Null:
		return append(dst, "null"...), nil
	case event.Bool:
		return strconv.AppendBool(dst, v.Bool()), nil
	case event.Number:
		return AppendFloat(dst, v.Num(), 64)
	case event.String:
		return AppendString(dst, v.Str()), nil
	case event.Object:
		return appendFields(dst, v.Fields(), names)
	case event.Array:
		dst = append(dst, '[')
		var err error
		for i := range v.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendValue(dst, v.Index(i), names); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	return dst, fmt.Errorf("unknown value kind %v", v.Kind())
}

// AppendFields writes an event object's members in their order.
func AppendFields(dst []byte, fs []event.Field) ([]byte, error) { return appendFields(dst, fs, nil) }

func appendFields(dst []byte, fs []event.Field, names Names) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for i, f := range fs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = names.apply(dst, f.Key)
		dst = append(dst, ':')
		if dst, err = appendValue(dst, f.Value, names); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// AppendRaw appends JSON text as encoding/json writes a json.RawMessage:
// compacted and HTML-escaped, escapes inside strings kept as written. It
// also makes the text valid UTF-8, which encoding/json does not: a byte
// that is not UTF-8 becomes \ufffd, so an event line carrying one does not
// make the document around it invalid (RFC 8259 §8.1). Event lines are
// usually compact already, so a scan decides whether the slow path is
// needed.
func AppendRaw(dst []byte, raw []byte) ([]byte, error) { return AppendRawNames(dst, raw, nil) }

// AppendRawNames is AppendRaw with every object member name passed through
// names; a name it changes is written afresh, the others as they were.
func AppendRawNames(dst []byte, raw []byte, names Names) ([]byte, error) {
	if len(raw) == 0 {
		return append(dst, "null"...), nil
	}
	if names == nil && rawIsClean(raw) {
		return append(dst, raw...), nil
	}
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return dst, fmt.Errorf("evidence event: %w", err)
	}
	return rewriteRaw(dst, raw, names), nil
}

// rewriteRaw copies valid JSON text without white space between tokens,
// escaping in strings what HTML-safe JSON escapes and replacing bytes that
// are not UTF-8, and passes member names through names.
func rewriteRaw(dst, raw []byte, names Names) []byte {
	var stack []byte // the open containers, '{' or '['
	expectName := false
	for i := 0; i < len(raw); {
		c := raw[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		case '{', '[':
			stack = append(stack, c)
			expectName = c == '{'
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectName = false
		case ',':
			expectName = stack[len(stack)-1] == '{'
		case ':':
			expectName = false
		case '"':
			end := stringEnd(raw, i)
			body := raw[i+1 : end]
			if expectName && names != nil {
				var name string
				_ = json.Unmarshal(raw[i:end+1], &name) // valid: checked by the caller
				if renamed := names(name); renamed != name {
					dst = AppendString(dst, renamed)
					i = end + 1
					continue
				}
			}
			dst = appendStringBody(dst, body)
			i = end + 1
			continue
		default:
			// A number or a literal: copy up to the next delimiter.
			j := i
			for j < len(raw) && !isDelimiter(raw[j]) {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		dst = append(dst, c)
		i++
	}
	return dst
}

func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ':', '{', '}', '[', ']', '"':
		return true
	}
	return false
}

// stringEnd returns the index of the quote that closes the string opening
// at raw[i].
func stringEnd(raw []byte, i int) int {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(raw) - 1
}

// appendStringBody writes a string's text quoted, keeping its escapes, as
// json.HTMLEscape would, and writing \ufffd for bytes that are not UTF-8.
func appendStringBody(dst, body []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(body); {
		c := body[i]
		if c < utf8.RuneSelf {
			switch c {
			case '<', '>', '&':
				dst = append(dst, body[start:i]...)
				dst = append(dst, '\\', 'u', '0', '0', ascii.HexDigits[c>>4], ascii.HexDigits[c&0xF])
				i++
				start = i
			case '\\':
				i += 2 // an escape is copied as written
			default:
				i++
			}
			continue
		}
		r, size := utf8.DecodeRune(body[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, body[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, body[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', ascii.HexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, body[start:]...)
	return append(dst, '"')
}

// rawIsClean reports whether raw needs neither compaction nor escaping and
// is valid UTF-8. It is conservative: any space, even inside a string,
// takes the slow path, which is correct either way. Eight bytes are
// checked at a time; UTF-8 is validated only when a byte is not ASCII.
func rawIsClean(raw []byte) bool {
	i := 0
	high := uint64(0)
	for ; i+8 <= len(raw); i += 8 {
		x := binary.LittleEndian.Uint64(raw[i:])
		high |= x
		if (x-ascii.Lo*0x21)&^x&ascii.Hi != 0 || ascii.HasByte(x, '<') || ascii.HasByte(x, '>') || ascii.HasByte(x, '&') || ascii.HasByte(x, 0xE2) {
			return false
		}
	}
	for _, c := range raw[i:] {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xE2:
			return false
		}
		high |= uint64(c)
	}
	return high&ascii.Hi == 0 || utf8.Valid(raw)
}

// isNumber reports whether s is a JSON number.
func isNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
