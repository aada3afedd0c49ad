package correlate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cep-project/cep/nfa"
)

// Bounds of key tracing: a running engine traces at most this many keys
// per rule, keeping this many lines each; asking about another key stops
// tracing the one asked about longest ago.
const (
	MaxTracedKeys = 8
	MaxTraceLines = 256
)

// KeyTrace is what the engine can tell about one key of a sequence rule:
// its live partial matches now, and what the matcher did with the key
// since it was first asked about (tracing starts with the first question,
// as recording every key all the time would cost every event).
type KeyTrace struct {
	Rule string `json:"rule"`
	// Key is the key as the engine encodes it: a JSON array of its parts.
	Key      string         `json:"key"`
	Partials []PartialTrace `json:"partials"`
	// Held counts completed matches held back by the after-match
	// strategy until earlier partial matches finish.
	Held int `json:"held"`
	// Trace is the matcher's notes about the key since tracing started,
	// oldest first; Dropped counts older ones no longer kept.
	Trace   []string  `json:"trace"`
	Dropped int       `json:"trace_dropped"`
	Since   time.Time `json:"tracing_since_event_time"`
}

// PartialTrace is one live partial match.
type PartialTrace struct {
	ID       uint32      `json:"id"`
	Deadline *time.Time  `json:"deadline,omitempty"`
	Taken    []TakenStep `json:"taken"`
}

// TakenStep is one event a partial match took.
type TakenStep struct {
	Step   string    `json:"step"`
	Event  string    `json:"event"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// traces are the keys of one sequence rule being traced.
type traces struct {
	keys  map[string]*keyTrace
	order []string // oldest question first
}

type keyTrace struct {
	lines   []string
	dropped int
	since   int64
}

// ParseKey turns a key as an operator writes it into the engine's
// encoding: a JSON array of the key's parts (["c-1", 42]), or a single
// string part written bare (c-1).
func ParseKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	var parts []any
	if strings.HasPrefix(s, "[") {
		if err := json.Unmarshal([]byte(s), &parts); err != nil {
			return "", fmt.Errorf("key %q: %w", s, err)
		}
	} else {
		parts = []any{s}
	}
	return string(encodeKey(nil, parts)), nil
}

// TraceKey describes key (in the engine's encoding, see ParseKey) of a
// sequence rule and starts tracing it, or reports what was traced since
// it started. Like every engine method it runs on the goroutine that
// pushes.
func (e *Engine) TraceKey(ruleID, key string) (*KeyTrace, error) {
	var d *sequence
	for _, det := range e.dets {
		if det.rule().ID != ruleID {
			continue
		}
		switch q := det.(type) {
		case *sequence:
			d = q
		case *shardedSequence:
			d = q.shardFor(key)
		default:
			return nil, fmt.Errorf("rule %s is a %s rule: keys are traced for sequence rules", ruleID, det.rule().Kind)
		}
	}
	if d == nil {
		return nil, fmt.Errorf("no rule %q is loaded", ruleID)
	}
	kt := &KeyTrace{Rule: ruleID, Key: key, Partials: []PartialTrace{}, Trace: []string{}}
	ks, _ := d.store.Get(key)
	if ks != nil {
		parts, held := ks.Describe(d.m.NFA())
		kt.Held = held
		for _, p := range parts {
			pt := PartialTrace{ID: p.ID}
			if p.Deadline != 0 {
				t := time.Unix(0, p.Deadline).UTC()
				pt.Deadline = &t
			}
			for _, tk := range p.Taken {
				ts := TakenStep{Step: tk.Step}
				if tk.Event != nil {
					ts.Event, ts.Stream, ts.Time = tk.Event.ID, tk.Event.Stream, tk.Event.Timestamp()
				}
				pt.Taken = append(pt.Taken, ts)
			}
			kt.Partials = append(kt.Partials, pt)
		}
	}
	if d.traces == nil {
		d.traces = &traces{keys: map[string]*keyTrace{}}
	}
	tr := d.traces
	if t := tr.keys[key]; t != nil {
		kt.Trace = append(kt.Trace, t.lines...)
		kt.Dropped, kt.Since = t.dropped, time.Unix(0, t.since).UTC()
		return kt, nil
	}
	if len(tr.order) >= MaxTracedKeys {
		delete(tr.keys, tr.order[0])
		tr.order = tr.order[1:]
	}
	since := e.detWM
	if since < 0 {
		since = 0
	}
	tr.keys[key] = &keyTrace{since: since}
	tr.order = append(tr.order, key)
	kt.Since = time.Unix(0, since).UTC()
	d.m.SetObserver(nfa.ObserverFunc(d.note))
	return kt, nil
}

// note receives the matcher's notes while keys are traced (and --explain
// output, when it is on).
func (d *sequence) note(n nfa.Note) {
	if d.e.explaining(d.r) {
		d.observe(n)
	}
	t := d.traces.keys[n.Key]
	if t == nil {
		return
	}
	if len(t.lines) >= MaxTraceLines {
		t.lines = slices.Delete(t.lines, 0, 1)
		t.dropped++
	}
	t.lines = append(t.lines, noteText(n))
}

// RuleState is the state one rule holds.
type RuleState struct {
	// Keys is the number of keys with state.
	Keys int
	// Bytes estimates its memory where the detector can tell (sequences);
	// -1 where it cannot.
	Bytes int64
	// Partials counts live partial matches (sequences) or buffered events
	// (joins).
	Partials int
}

// RuleStates returns the state each stateful rule holds, by rule id.
func (e *Engine) RuleStates() map[string]RuleState {
	out := map[string]RuleState{}
	for _, d := range e.dets {
		switch q := d.(type) {
		case *sequence:
			s := q.m.Stats()
			out[q.r.ID] = RuleState{Keys: s.Keys, Bytes: s.Bytes, Partials: s.Partials}
		case *shardedSequence:
			s := q.stats()
			out[q.r.ID] = RuleState{Keys: s.Keys, Bytes: s.Bytes, Partials: s.Partials}
		case *aggregate:
			out[q.r.ID] = RuleState{Keys: q.agg.Stats().Keys, Bytes: -1}
		case *shardedAggregate:
			out[q.r.ID] = RuleState{Keys: q.keys(), Bytes: -1}
		case *joinDet:
			s := q.j.Stats()
			out[q.r.ID] = RuleState{Keys: s.Keys, Bytes: -1, Partials: s.Buffered}
		case *shardedJoin:
			s := q.stats()
			out[q.r.ID] = RuleState{Keys: s.Keys, Bytes: -1, Partials: s.Buffered}
		}
	}
	return out
}

// StreamClock is one stream's event time as the engine sees it.
type StreamClock struct {
	// Newest is the time of the stream's newest event; zero before its
	// first.
	Newest time.Time
	// Idle: the stream has been silent past the idle timeout and no
	// longer holds event time back; Ended: it will deliver no more.
	Idle, Ended bool
}

// StreamClocks returns every stream's clock by name.
func (e *Engine) StreamClocks() map[string]StreamClock {
	out := make(map[string]StreamClock, len(e.reorder.streams))
	for name, sc := range e.reorder.streams {
		c := StreamClock{Idle: sc.idle, Ended: sc.done}
		if sc.seen {
			c.Newest = time.Unix(0, sc.max).UTC()
		}
		out[name] = c
	}
	return out
}
