// Package ascii holds word-at-a-time (SWAR) tests over ASCII bytes that the
// JSON, CEF and LEEF writers share: most values need no escaping, and
// checking eight bytes at once finds that out cheaply.
package ascii

import "encoding/binary"

// HexDigits are the lower-case hexadecimal digits.
const HexDigits = "0123456789abcdef"

// Lo and Hi are the low and high bit of every byte of a word.
const (
	Lo = 0x0101010101010101
	Hi = 0x8080808080808080
)

// HasByte reports whether any byte of x equals c.
func HasByte(x uint64, c byte) bool {
	y := x ^ (Lo * uint64(c))
	return (y-Lo)&^y&Hi != 0
}

// PlainPrefix returns the length of a prefix of s, in steps of eight
// bytes, that holds only ASCII without control bytes, a, b and c: the part
// a CEF or LEEF escaper can copy as it is. Pass a byte twice to stop at
// fewer.
func PlainPrefix(s string, a, b, c byte) int {
	plain := func(x uint64) bool {
		return x&Hi == 0 && (x-Lo*0x20)&^x&Hi == 0 && !HasByte(x, a) && !HasByte(x, b) && !HasByte(x, c)
	}
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !plain(binary.LittleEndian.Uint64([]byte(s[i : i+8]))) {
			return i
		}
	}
	// The last partial word is checked as the overlapping final eight.
	if i < len(s) && len(s) >= 8 && plain(binary.LittleEndian.Uint64([]byte(s[len(s)-8:]))) {
		return len(s)
	}
	return i
}

// UnescapedPrefix returns the length of a prefix of b, in steps of eight
// bytes, that holds no control byte and none of a, b and c; bytes at and
// above 0x80 may be there. It finds where text written by another
// appender (JSON, already valid UTF-8) first needs a CEF or LEEF escape.
func UnescapedPrefix(s []byte, a, b, c byte) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		// A control byte is below 0x20 with its high bit clear.
		if (x-Lo*0x20)&^x&Hi != 0 || HasByte(x, a) || HasByte(x, b) || HasByte(x, c) {
			return i
		}
	}
	return i
}
