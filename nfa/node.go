package nfa

import (
	"math"
	"math/bits"

	"github.com/cep-project/cep/event"
)

// node is one taken event in the shared buffer. Partial matches that share a
// prefix share its nodes: each node points back to the event taken before it,
// and counts the partial matches and later nodes that point to it, so a
// branch costs one node, never a copy of the evidence.
type node struct {
	ev   *event.Event
	prev *node
	refs int32
	step uint16
	// charge is the memory of its event that this node carries in the
	// matcher's byte count, as a sizeClass (the newest node to take the
	// event in a step carries it); 0 when it carries none. Carrying it here
	// spares a visit to the event when the node is freed.
	charge uint8
}

// sizeClass encodes a memory size in a byte, rounded up to a float with a
// 3-bit mantissa and a 5-bit exponent: within 12.5% above it, up to 30 GiB
// (larger sizes take the largest class). Class 0 is reserved for no charge.
func sizeClass(n int64) uint8 {
	if n <= 8 {
		return 1
	}
	e := max(bits.Len64(uint64(n-1))-4, 0)
	m := (n + 1<<e - 1) >> e // ceil(n / 2^e), in 8..16
	if m == 16 {
		e, m = e+1, 8
	}
	if e > 31 {
		return math.MaxUint8
	}
	return uint8(e<<3 | int(m-8))
}

// classBytes is the size a class stands for; 0 for class 0.
func classBytes(c uint8) int64 {
	if c == 0 {
		return 0
	}
	return (8 + int64(c&7)) << (c >> 3)
}

// before orders events as the engine feeds them (event time, then stream,
// then arrival), which is the order Flink's event ids follow.
func before(a, b *event.Event) bool { return a != b && a.Before(b) }

// addTime adds a window to an event time, saturating below noDeadline so a
// time near the end of int64 cannot wrap into an immediate expiry.
func addTime(t, d int64) int64 {
	if t > noDeadline-1-d {
		return noDeadline - 1
	}
	return t + d
}

// atOrBefore reports a ≤ b in feed order.
func atOrBefore(a, b *event.Event) bool { return a == b || a.Before(b) }
