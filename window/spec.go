package window

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the shape of a window.
type Kind uint8

// The window kinds of an `aggregate:` rule.
const (
	// Tumbling windows are [k*size, (k+1)*size): fixed, aligned to the Unix
	// epoch, not overlapping.
	Tumbling Kind = iota + 1
	// Hopping windows are [k*slide, k*slide+size): aligned to the epoch, one
	// starting every slide, so an event is in size/slide of them.
	Hopping
	// Sliding windows are (t-size, t] for the time t of each event of the key;
	// they are evaluated at every event.
	Sliding
	// Length windows are the key's last N events, evaluated at every event.
	Length
	// Session windows group a key's events separated by at most the gap
	// (events exactly gap apart are one session, as in Kafka Streams and
	// Flink); a session [first, last+gap) closes once the watermark has
	// passed last+gap.
	Session
)

var kindNames = [...]string{Tumbling: "tumbling", Hopping: "hopping", Sliding: "sliding", Length: "length", Session: "session"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind maps the `type:` of a rule's window to a Kind.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n != "" && n == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown window type %q (want tumbling, hopping, sliding, length or session)", s)
}

// closes reports whether windows of this kind are emitted when they close,
// as opposed to being evaluated at every event.
func (k Kind) closes() bool { return k == Tumbling || k == Hopping || k == Session }

// Spec describes a window.
type Spec struct {
	Kind Kind
	// Size is the length of tumbling, hopping and sliding windows.
	Size time.Duration
	// Slide is the distance between the starts of hopping windows.
	Slide time.Duration
	// Gap is the silence that closes a session.
	Gap time.Duration
	// Length is the number of events of a length window.
	Length int
	// Expire drops a length window of a key that has had no event for this
	// long. A length window has no end of its own, so without Expire a key's
	// last events are held until the key limit is reached.
	Expire time.Duration
}

// Validate reports the first problem with the spec, phrased for a rule
// author.
func (s Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s window: %s", s.Kind, fmt.Sprintf(format, args...))
	}
	switch s.Kind {
	case Tumbling:
		if s.Size <= 0 {
			return bad("size must be positive, got %v", s.Size)
		}
		if s.Slide != 0 || s.Gap != 0 || s.Length != 0 || s.Expire != 0 {
			return bad("only size applies")
		}
	case Hopping:
		if s.Size <= 0 {
			return bad("size must be positive, got %v", s.Size)
		}
		if s.Slide <= 0 {
			return bad("slide must be positive, got %v", s.Slide)
		}
		if s.Slide > s.Size {
			return bad("slide %v is longer than size %v, so some events would be in no window", s.Slide, s.Size)
		}
		if s.Size/gcd(s.Size, s.Slide) > maxPanesPerWindow {
			return bad("size %v and slide %v split each window into more than %d panes; choose a slide that divides the size more coarsely", s.Size, s.Slide, maxPanesPerWindow)
		}
		if s.Gap != 0 || s.Length != 0 || s.Expire != 0 {
			return bad("only size and slide apply")
		}
	case Sliding:
		if s.Size <= 0 {
			return bad("size must be positive, got %v", s.Size)
		}
		if s.Slide != 0 || s.Gap != 0 || s.Length != 0 || s.Expire != 0 {
			return bad("only size applies")
		}
	case Length:
		if s.Length <= 0 {
			return bad("size must be a positive number of events, got %d", s.Length)
		}
		if s.Expire < 0 {
			return bad("expire must not be negative, got %v", s.Expire)
		}
		if s.Size != 0 || s.Slide != 0 || s.Gap != 0 {
			return bad("only size (a number of events) and expire apply")
		}
	case Session:
		if s.Gap <= 0 {
			return bad("gap must be positive, got %v", s.Gap)
		}
		if s.Size != 0 || s.Slide != 0 || s.Length != 0 || s.Expire != 0 {
			return bad("only gap applies")
		}
	default:
		return errors.New("window: type must be tumbling, hopping, sliding, length or session")
	}
	return nil
}

// maxPanesPerWindow bounds the work of closing one hopping window, which
// merges the panes (of gcd(size, slide)) that make it up.
const maxPanesPerWindow = 10000

func gcd(a, b time.Duration) time.Duration {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// floorDiv is division rounding toward minus infinity, so that windows stay
// aligned to the epoch for times before 1970 too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func alignDown(t, step int64) int64 { return floorDiv(t, step) * step }
