package event

import (
	"encoding/binary"
	"math/bits"
)

// dictEncoder packs a line into a block of S2's dictionary format, for
// s2.Dict.Decode to unpack. S2's own encoder looks for repeats within
// the line through a 64 KiB table that it clears for every block: for a
// line of 200 bytes that was most of its time. The lines of a stream
// repeat their dictionary (keys, layout, common values) far more than
// they repeat themselves, so dictEncoder looks in the dictionary through
// an index made once and only read, which any number of goroutines
// share, and within the line only through a table of 256 places: it
// packs nearly as small in a fifth of the time.
type dictEncoder struct {
	dict []byte
	// table holds, by the hash of four bytes, the last place in dict they
	// start at.
	table [1 << dictHashBits]uint16
}

const (
	dictHashBits = 14
	ownHashBits  = 8
	// dictMinMatch is the shortest copy worth its three bytes.
	dictMinMatch = 5
	// maxDictOffset is the most output a block may have before a copy from
	// the dictionary (s2.MaxDictSrcOffset).
	maxDictOffset = 65535
	// maxPackDict is the largest dictionary dictEncoder takes: a copy's
	// offset counts back from the output's position through the whole
	// dictionary, and up to a line's first 4 KiB it then fits the two
	// bytes of a three-byte copy.
	maxPackDict = 60 << 10
)

func dictHash(u uint32) uint32 { return (u * 2654435761) >> (32 - dictHashBits) }

func newDictEncoder(dict []byte) *dictEncoder {
	e := &dictEncoder{dict: dict}
	// Later places overwrite earlier ones: the dictionary's last lines
	// are the stream's latest.
	for i := 0; i+4 <= len(dict); i++ {
		e.table[dictHash(binary.LittleEndian.Uint32(dict[i:]))] = uint16(i)
	}
	return e
}

// encode appends src's block to dst. Besides the dictionary it finds
// repeats within the line, through a table small enough to clear for
// every line: a value said twice, or a run of one pattern. Past the
// line's first 64 KiB, where S2's decoder takes no more copies from the
// dictionary, the rest is written as it is.
func (e *dictEncoder) encode(dst, src []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	dict := e.dict
	// own holds, by a hash of four bytes, one more than the last place in
	// src they start at, of the places looked at.
	var own [1 << ownHashBits]uint16
	lit := 0 // the start of the literals not yet written
	for i := 0; i+4 <= len(src) && i <= maxDictOffset; {
		u := binary.LittleEndian.Uint32(src[i:])
		// from is what a copy copies: the dictionary, or src itself.
		from, p, ofDict := dict, int(e.table[dictHash(u)]), true
		if p+4 > len(dict) || binary.LittleEndian.Uint32(dict[p:]) != u {
			h := dictHash(u) >> (dictHashBits - ownHashBits)
			q := int(own[h]) - 1
			own[h] = uint16(i + 1)
			if q < 0 || binary.LittleEndian.Uint32(src[q:]) != u {
				i++
				continue
			}
			from, p, ofDict = src[:i], q, false
		}
		// A copy of src may run on into what it copies, as a run does.
		var n int
		if ofDict {
			n = 4 + commonPrefix(src[i+4:], dict[p+4:])
		} else {
			n = 4 + commonPrefix(src[i+4:], src[p+4:])
		}
		// Back over the literals before it, as far as they match too.
		at := i
		for i > lit && p > 0 && src[i-1] == from[p-1] {
			i, p, n = i-1, p-1, n+1
		}
		// A copy from the dictionary may not end past the place the
		// decoder stops taking them from it.
		if ofDict {
			n = min(n, maxDictOffset+1-i)
		}
		if n < dictMinMatch {
			i = at + 1
			continue
		}
		dst = appendLiteral(dst, src[lit:i])
		for n > 0 {
			// A copy's length is 1 to 64; its offset reaches back to
			// the place in src, or past the output's start into the
			// dictionary's end.
			m := min(n, 64)
			off := i - p
			if ofDict {
				off = len(dict) - p + i
			}
			if off <= 0xffff {
				dst = append(dst, byte(m-1)<<2|2, byte(off), byte(off>>8))
			} else {
				dst = append(dst, byte(m-1)<<2|3, byte(off), byte(off>>8), byte(off>>16), byte(off>>24))
			}
			i, p, n = i+m, p+m, n-m
		}
		lit = i
	}
	return appendLiteral(dst, src[lit:])
}

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := 0
	for len(a) >= 8 && len(b) >= 8 {
		if x := binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b); x != 0 {
			return n + bits.TrailingZeros64(x)/8
		}
		a, b, n = a[8:], b[8:], n+8
	}
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b, n = a[1:], b[1:], n+1
	}
	return n
}

// appendLiteral appends S2's literal element of lit, if any.
func appendLiteral(dst, lit []byte) []byte {
	if len(lit) == 0 {
		return dst
	}
	switch n := uint32(len(lit) - 1); {
	case n < 60:
		dst = append(dst, byte(n)<<2)
	case n < 1<<8:
		dst = append(dst, 60<<2, byte(n))
	case n < 1<<16:
		dst = append(dst, 61<<2, byte(n), byte(n>>8))
	case n < 1<<24:
		dst = append(dst, 62<<2, byte(n), byte(n>>8), byte(n>>16))
	default:
		dst = append(dst, 63<<2, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	}
	return append(dst, lit...)
}
