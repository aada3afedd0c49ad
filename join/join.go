package join

import (
	"fmt"
	"slices"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/timerq"
)

// Type is the kind of join.
type Type uint8

// The join types of a `join:` rule.
const (
	Inner Type = iota + 1
	Left       // the first side is preserved
	Full       // every side is preserved
)

var typeNames = [...]string{Inner: "inner", Left: "left", Full: "full"}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType maps a rule's `type:` to a Type; "" is inner.
func ParseType(s string) (Type, error) {
	if s == "" {
		return Inner, nil
	}
	for t, n := range typeNames {
		if n != "" && n == s {
			return Type(t), nil
		}
	}
	return 0, fmt.Errorf("join: unknown type %q (want inner, left or full)", s)
}

// Config is a join rule's configuration.
type Config struct {
	Within time.Duration
	Type   Type
	// Sides are the side names in rule order; Add takes an index into it.
	Sides []string
	// AllowedLateness is how far behind the watermark an event may be and
	// still join (Kafka Streams' grace): buffered events are kept that much
	// longer, until the watermark has passed their time + Within +
	// AllowedLateness, so an event up to AllowedLateness behind the
	// watermark meets every partner it would have met in order. An outer
	// join's unmatched event is emitted when it is forgotten. 0 (the
	// default) makes every event behind the watermark late, as in Flink's
	// interval join.
	AllowedLateness time.Duration
	// Bounds; 0 means unbounded. MaxPerSide is the number of events buffered
	// per key and side: an event beyond it still joins with what is
	// buffered, but is not kept for later partners.
	MaxPerSide int
	MaxKeys    int
	// MaxMatchesPerEvent bounds the complete combinations one event can
	// emit: one payment meeting a million buffered logins must not become
	// a million alerts. Beyond it, combinations are counted in
	// Stats.FanoutDropped, not emitted (an outer join still counts their
	// events as matched). The ones emitted come first in the join's fixed
	// order: sides in rule order, each side's events oldest first. 0 means
	// unbounded.
	MaxMatchesPerEvent int
	// Hold, when set, is what the buffer keeps of an event: the event, or
	// a smaller copy (see event.Event.Hold) that whoever reads the matches
	// thaws. The event's own combinations, made as it arrives, hold the
	// event itself.
	Hold func(*event.Event) *event.Event
}

// Match is one emitted combination.
type Match struct {
	Key string
	// Time is when the match completed: the time of its latest event for a
	// complete match, the window's close (first event + within) for a
	// partial one. It is the alert time.
	Time int64
	// Events has one entry per side, in rule order; nil where a side is
	// missing (outer joins only).
	Events []*event.Event
}

// Complete reports whether every side has an event.
func (m *Match) Complete() bool { return !slices.Contains(m.Events, nil) }

// Status tells what Add did with an event.
type Status uint8

// The outcomes of Add; all but Joined are counted in Stats.
const (
	// Joined: matched what it could and buffered for later partners.
	Joined Status = iota
	// Late: behind the watermark by more than AllowedLateness; not joined,
	// as partners it should meet may already be forgotten.
	Late
	// Unbuffered: joined with the buffered events, but the side's buffer for
	// the key was full, so later events will not meet it.
	Unbuffered
	// DroppedKey: a new key beyond MaxKeys; nothing was buffered for it,
	// so there was nothing to join with either.
	DroppedKey
)

var statusNames = [...]string{"joined", "late", "unbuffered: side buffer full", "dropped: key limit"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(?)"
}

// Stats are the joiner's counters.
type Stats struct {
	Keys     int // keys holding events now
	Buffered int // events buffered now
	// Bytes is the estimated memory of the buffers (Joiner.Bytes).
	Bytes int64
	// Events not joined or not buffered, by cause (see Status).
	Late, Unbuffered, DroppedKeys uint64
	// FanoutDropped counts complete combinations not emitted at
	// MaxMatchesPerEvent.
	FanoutDropped uint64
	// ShedEvents counts buffered events dropped by Shed for the memory
	// budget, and ShedBytes the memory that freed.
	ShedEvents, ShedBytes uint64
}

// Joiner holds one join rule's buffers for every key. It is not safe for
// concurrent use.
type Joiner struct {
	cfg    Config
	within int64
	// lateness is Config.AllowedLateness; keep, within + lateness, is how
	// long after its time an event stays buffered.
	lateness, keep int64
	wm             int64
	keys           map[string]*keyState
	tq             timerq.Queue[string]
	stats          Stats
	// bytes is the estimated memory of every key's buffers (memory.go).
	bytes int64
	// emitted and excess count the combinations of the event being added,
	// for MaxMatchesPerEvent.
	emitted, excess uint64

	// scratch for the enumeration of combinations
	pick []*entry
	out  []*Match
}

type keyState struct {
	// key is the key as the joiner's map holds it: Add looks a key up by
	// its caller's string, which it does not keep, and goes on with this
	// one.
	key   string
	at    int64 // the deadline of the key's live timer entry
	timed bool
	sides [][]*entry // per side, in event order
	// bytes is the estimated memory of the key's buffers.
	bytes int64
}

type entry struct {
	ev *event.Event
	// matched: part of a complete combination; covered: shown in a partial
	// one. Either keeps an outer join from reporting it again at expiry.
	matched, covered bool
}

// MinTime is the watermark before any Advance.
const MinTime = int64(-1 << 63)

// New validates cfg and returns an empty joiner.
func New(cfg Config) (*Joiner, error) {
	switch {
	case cfg.Within <= 0:
		return nil, fmt.Errorf("join: within must be positive, got %v", cfg.Within)
	case cfg.Type < Inner || cfg.Type > Full:
		return nil, fmt.Errorf("join: type must be inner, left or full")
	case len(cfg.Sides) < 2:
		return nil, fmt.Errorf("join: at least two sides are needed, got %d", len(cfg.Sides))
	case cfg.MaxPerSide < 0 || cfg.MaxKeys < 0 || cfg.MaxMatchesPerEvent < 0:
		return nil, fmt.Errorf("join: limits must not be negative")
	case cfg.AllowedLateness < 0:
		return nil, fmt.Errorf("join: allowed lateness must not be negative, got %v", cfg.AllowedLateness)
	case cfg.Within+cfg.AllowedLateness < cfg.Within:
		return nil, fmt.Errorf("join: within %v plus allowed lateness %v is too long", cfg.Within, cfg.AllowedLateness)
	}
	seen := map[string]bool{}
	for i, s := range cfg.Sides {
		if s == "" {
			return nil, fmt.Errorf("join: side %d needs a name", i+1)
		}
		if seen[s] {
			return nil, fmt.Errorf("join: side %q appears twice", s)
		}
		seen[s] = true
	}
	cfg.Sides = slices.Clone(cfg.Sides)
	return &Joiner{cfg: cfg, within: int64(cfg.Within), lateness: int64(cfg.AllowedLateness), keep: int64(cfg.Within + cfg.AllowedLateness),
		wm: MinTime, keys: map[string]*keyState{}, pick: make([]*entry, len(cfg.Sides))}, nil
}

// Stats returns the counters.
func (j *Joiner) Stats() Stats {
	s := j.stats
	s.Keys = len(j.keys)
	s.Bytes = j.bytes
	for _, k := range j.keys {
		for _, es := range k.sides {
			s.Buffered += len(es)
		}
	}
	return s
}

// Watermark is the latest watermark given to Advance, or MinTime.
func (j *Joiner) Watermark() int64 { return j.wm }
