package correlate

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// keyValues reads back a key encodedKey or encodeKey wrote, in its common
// form (an array of strings without escapes, numbers, booleans and
// nulls), into what json.Unmarshal gives for it, without its reflection:
// every alert of a keyed rule decodes its key, and through encoding/json
// that was a sixtieth of a sequence's CPU. It reports false for any other
// text, which decodeKey leaves to encoding/json. The values are appended
// to dst[:0], whose room the caller may give from its stack.
func keyValues(dst []any, k string) ([]any, bool) {
	if len(k) < 2 || k[0] != '[' || k[len(k)-1] != ']' {
		return nil, false
	}
	vals := dst[:0]
	if len(k) == 2 {
		return vals, true
	}
	for i := 1; ; {
		var v any
		switch c := k[i]; {
		case c == '"':
			j := strings.IndexByte(k[i+1:], '"')
			if j < 0 {
				return nil, false
			}
			s := k[i+1 : i+1+j]
			if !plainString(s) {
				return nil, false
			}
			v, i = s, i+j+2
		case c == '-' || c >= '0' && c <= '9':
			j := numberEnd(k, i)
			if j < 0 {
				return nil, false
			}
			f, err := strconv.ParseFloat(k[i:j], 64)
			if err != nil {
				return nil, false
			}
			v, i = f, j
		case strings.HasPrefix(k[i:], "true"):
			v, i = true, i+4
		case strings.HasPrefix(k[i:], "false"):
			v, i = false, i+5
		case strings.HasPrefix(k[i:], "null"):
			v, i = nil, i+4
		default:
			return nil, false
		}
		vals = append(vals, v)
		switch {
		case i == len(k)-1: // the closing bracket
			return vals, true
		case k[i] != ',' || i+1 >= len(k)-1:
			return nil, false
		}
		i++
	}
}

// plainString reports whether s is the text of a JSON string as it is:
// valid UTF-8 without escapes or control characters.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(s)
}

// numberEnd returns the end of the JSON number at k[i:], or -1 when the
// text there is not one (strconv.ParseFloat takes more: "Inf", hex, "+1").
func numberEnd(k string, i int) int {
	digits := func() bool {
		start := i
		for i < len(k) && k[i] >= '0' && k[i] <= '9' {
			i++
		}
		return i > start
	}
	if k[i] == '-' {
		i++
	}
	switch {
	case i < len(k) && k[i] == '0':
		i++
	case !digits():
		return -1
	}
	if i < len(k) && k[i] == '.' {
		i++
		if !digits() {
			return -1
		}
	}
	if i < len(k) && (k[i] == 'e' || k[i] == 'E') {
		i++
		if i < len(k) && (k[i] == '+' || k[i] == '-') {
			i++
		}
		if !digits() {
			return -1
		}
	}
	return i
}
