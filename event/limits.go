package event

import (
	"errors"
	"fmt"
	"unsafe"
)

// Limits bound what one input line may cost, so that a hostile or broken
// producer cannot take the process down with a few lines. A line beyond a
// limit is malformed, with the limit named in its error. A zero field means
// its default.
type Limits struct {
	// MaxLineSize is the longest line decoded, in bytes. Readers of lines
	// use it to stop buffering a longer one (see Decoder.MaxLineSize);
	// Decode refuses one too. Default DefaultMaxLineSize.
	MaxLineSize int
	// MaxDepth bounds the nesting of objects and arrays: the parser
	// recurses once per level. Default DefaultMaxDepth, at most
	// MaxDepthLimit.
	MaxDepth int
	// MaxValues bounds the values of one event: object members and array
	// elements, counted together over every level. Default
	// DefaultMaxValues.
	MaxValues int
	// MaxBytes bounds the memory of one decoded event: its line, ValueSize
	// bytes per value, and the decoded text of strings that cannot point
	// into the line (those with escapes or invalid UTF-8). Default
	// DefaultMaxBytes.
	MaxBytes int
}

// The default limits. A line of real telemetry decodes to two to four
// times its length (a 1.9 KB Sysmon event of 40 values accounts for
// 3.5 KB; a 239-byte payment of 12 values, 0.7 KB), so DefaultMaxBytes,
// four times DefaultMaxLineSize, lets every such line through up to the
// line limit while a line of one-byte values ("[0,0,0,…]", 41 times its
// length before these limits) is refused at four. DefaultMaxValues is far
// above what an event of real telemetry holds (hundreds; an osquery
// snapshot of a few thousand rows), and bounds the work of one line
// whatever MaxBytes is raised to.
const (
	DefaultMaxLineSize = 1 << 20
	DefaultMaxDepth    = 64
	DefaultMaxValues   = 100_000
	DefaultMaxBytes    = 4 << 20
	// MaxDepthLimit is the deepest nesting any configuration may allow,
	// far below what would exhaust a goroutine's stack.
	MaxDepthLimit = 10_000
	// MaxSizeLimit is the largest line, value count and byte budget any
	// configuration may allow: the decoder's scratch holds offsets in 31
	// bits and a string's length in 30 (see nameBit), and no string of a
	// line this long is 2³⁰ bytes.
	MaxSizeLimit = 1 << 30
)

// ValueSize is what one decoded value costs in memory: a Field, its member
// name and its value.
const ValueSize = int(unsafe.Sizeof(Field{}))

// Validate reports limits that cannot be meant: negative ones, nesting
// beyond MaxDepthLimit, and a byte budget smaller than the longest line
// (every line near the limit would be refused).
func (l Limits) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"max_line_size", l.MaxLineSize}, {"max_depth", l.MaxDepth}, {"max_values", l.MaxValues}, {"max_bytes", l.MaxBytes}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", f.name, f.v))
		}
	}
	if l.MaxDepth > MaxDepthLimit {
		errs = append(errs, fmt.Errorf("max_depth %d is above the most allowed, %d", l.MaxDepth, MaxDepthLimit))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max_line_size", l.MaxLineSize}, {"max_values", l.MaxValues}, {"max_bytes", l.MaxBytes}} {
		if f.v > MaxSizeLimit {
			errs = append(errs, fmt.Errorf("%s %d is above the most allowed, %d", f.name, f.v, MaxSizeLimit))
		}
	}
	if d := l.WithDefaults(); d.MaxBytes < d.MaxLineSize {
		errs = append(errs, fmt.Errorf("max_bytes %d is smaller than max_line_size %d: a decoded event holds its line", d.MaxBytes, d.MaxLineSize))
	}
	return errors.Join(errs...)
}

// WithDefaults returns l with every zero or negative field set to its
// default, MaxDepth capped at MaxDepthLimit and the others at
// MaxSizeLimit.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxLineSize, DefaultMaxLineSize)
	def(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxValues, DefaultMaxValues)
	def(&l.MaxBytes, DefaultMaxBytes)
	l.MaxDepth = min(l.MaxDepth, MaxDepthLimit)
	l.MaxLineSize = min(l.MaxLineSize, MaxSizeLimit)
	l.MaxValues = min(l.MaxValues, MaxSizeLimit)
	l.MaxBytes = min(l.MaxBytes, MaxSizeLimit)
	return l
}
