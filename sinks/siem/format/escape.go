package format

import (
	"unicode/utf8"

	"github.com/cep-project/cep/internal/ascii"
)

// escaper rewrites the ASCII bytes a text format cannot carry as they are.
// CEF header fields, CEF extension values, LEEF header fields and LEEF
// values each have their own table; the walk over the text is this one.
// Bytes at and above 0x80 are copied rune by rune, and invalid UTF-8
// becomes U+FFFD.
type escaper struct {
	// repl[c], when not empty, replaces the byte c.
	repl [utf8.RuneSelf]string
	// stop are the printable bytes that need rewriting; control bytes are
	// always checked. They let ascii.PlainPrefix skip the plain start of a
	// value eight bytes at a time.
	stop [3]byte
}

// newEscaper builds an escaper from a replacement per byte. At most three
// printable bytes may be replaced.
func newEscaper(repl map[byte]string) *escaper {
	e := &escaper{}
	var printable []byte
	for c, r := range repl {
		e.repl[c] = r
		if c >= 0x20 {
			printable = append(printable, c)
		}
	}
	if len(printable) > len(e.stop) {
		panic("format: an escaper rewrites at most three printable bytes")
	}
	for i := range e.stop {
		// Unused stops repeat a used one (or NUL, a control byte).
		if len(printable) > 0 {
			e.stop[i] = printable[min(i, len(printable)-1)]
		}
	}
	return e
}

// append writes s escaped.
func (e *escaper) append(dst []byte, s string) []byte {
	i := ascii.PlainPrefix(s, e.stop[0], e.stop[1], e.stop[2])
	dst = append(dst, s[:i]...)
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if r := e.repl[c]; r != "" {
				dst = append(dst, r...)
			} else {
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		dst = utf8.AppendRune(dst, r)
		i += size
	}
	return dst
}

// escapeTail escapes in place the text written at dst[start:] by another
// appender (the JSON of a key or fields), which is valid UTF-8.
func (e *escaper) escapeTail(dst []byte, start int) []byte {
	// Most tails need nothing: skip their plain start a word at a time.
	start += ascii.UnescapedPrefix(dst[start:], e.stop[0], e.stop[1], e.stop[2])
	grow := 0
	for _, c := range dst[start:] {
		if c < utf8.RuneSelf && e.repl[c] != "" {
			grow += len(e.repl[c]) - 1
		}
	}
	if grow == 0 {
		return dst
	}
	end := len(dst)
	dst = append(dst, make([]byte, grow)...)
	w := len(dst)
	for r := end - 1; r >= start; r-- {
		c := dst[r]
		if c < utf8.RuneSelf && e.repl[c] != "" {
			w -= len(e.repl[c])
			copy(dst[w:], e.repl[c])
			continue
		}
		w--
		dst[w] = c
	}
	return dst
}
