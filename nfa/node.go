package nfa

import "github.com/cep-project/cep/event"

// node is one taken event in the shared buffer. Partial matches that share a
// prefix share its nodes: each node points back to the event taken before it,
// and counts the partial matches and later nodes that point to it, so a
// branch costs one node, never a copy of the evidence.
type node struct {
	ev   *event.Event
	prev *node
	refs int32
	step uint16
	// charged: this node carries the memory of its event in the matcher's
	// byte count (the newest node to take the event in a step does).
	charged bool
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
