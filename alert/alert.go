// Package alert holds the alert value that detectors produce and sinks
// consume, its deterministic id, and its JSON form, which is a contract
// (docs/ARCHITECTURE.md, "Contracts"): fields are added, never changed in meaning.
package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/cep-project/cep/event"
)

// Severity is a rule's severity.
type Severity string

// The severities, in increasing order.
const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Severities lists the valid severities in increasing order.
var Severities = []Severity{Info, Low, Medium, High, Critical}

// Rank orders severities: info 0 … critical 4, and -1 for an unknown one.
func (s Severity) Rank() int { return slices.Index(Severities, s) }

// Valid reports whether s is one of Severities.
func (s Severity) Valid() bool { return s.Rank() >= 0 }

// KeyPart is one component of an alert's partition key: the key expression
// as written in the rule and its value for this alert.
type KeyPart struct {
	Expr  string
	Value any
}

// Key is an alert's partition key. It keeps the rule's order; its JSON form
// is an object from expression to value.
type Key []KeyPart

// MarshalJSON writes the key as an object in the rule's order.
func (k Key) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, p := range k {
		if i > 0 {
			b = append(b, ',')
		}
		q, err := json.Marshal(p.Expr)
		if err != nil {
			return nil, err
		}
		b = append(b, q...)
		b = append(b, ':')
		v, err := json.Marshal(p.Value)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", p.Expr, err)
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads a key object. The order of members is kept.
func (k *Key) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*k = nil
		return nil
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("alert key must be an object")
	}
	var out Key
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		var v any
		if err := d.Decode(&v); err != nil {
			return err
		}
		v, err = normalizeNumbers(v)
		if err != nil {
			return fmt.Errorf("alert key %s: %w", t, err)
		}
		out = append(out, KeyPart{Expr: t.(string), Value: v})
	}
	*k = out
	return nil
}

// String renders the key as expr=value pairs, for logs and dedup.
func (k Key) String() string {
	b := make([]byte, 0, 32)
	for i, p := range k {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p.Expr...)
		b = append(b, '=')
		b = fmt.Append(b, p.Value)
	}
	return string(b)
}

// Evidence is one event that contributed to an alert.
type Evidence struct {
	// Step names the sequence step, join side or "match" for a filter.
	Step string
	// Event is the event itself; its Raw JSON is written verbatim.
	Event *event.Event
}

type evidenceJSON struct {
	Step   string          `json:"step"`
	Stream string          `json:"stream,omitempty"`
	ID     string          `json:"id,omitempty"`
	Event  json.RawMessage `json:"event"`
}

// MarshalJSON writes {"step", "stream", "id", "event"} with the original
// event text.
func (e Evidence) MarshalJSON() ([]byte, error) {
	if e.Event == nil {
		return json.Marshal(evidenceJSON{Step: e.Step, Event: json.RawMessage("null")})
	}
	return json.Marshal(evidenceJSON{Step: e.Step, Stream: e.Event.Stream, ID: e.Event.ID, Event: e.Event.Raw})
}

// UnmarshalJSON reads evidence back; the event is re-decoded from its JSON.
func (e *Evidence) UnmarshalJSON(b []byte) error {
	var j evidenceJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	e.Step = j.Step
	if len(j.Event) == 0 || string(j.Event) == "null" {
		e.Event = nil
		return nil
	}
	d := event.Decoder{Stream: j.Stream}
	ev, err := d.Decode(j.Event)
	if err != nil {
		// Evidence without a usable time is still evidence.
		ev = &event.Event{Stream: j.Stream, Raw: append([]byte(nil), j.Event...)}
	}
	ev.ID = j.ID
	e.Event = ev
	return nil
}

// Alert is one detection. Its JSON form is a contract (docs/ARCHITECTURE.md, "Contracts").
type Alert struct {
	ID          string         `json:"id"`
	Rule        string         `json:"rule"`
	RuleVersion string         `json:"rule_version"`
	Title       string         `json:"title"`
	Severity    Severity       `json:"severity"`
	Tags        []string       `json:"tags"`
	Time        time.Time      `json:"time"`
	Key         Key            `json:"key"`
	Events      []Evidence     `json:"events"`
	Fields      map[string]any `json:"fields"`
	Score       *float64       `json:"score,omitempty"`
	Reasons     []string       `json:"reasons,omitempty"`
	Model       *Model         `json:"model,omitempty"`
	Priority    int            `json:"priority"`

	// Shadow marks alerts of experimental rules: evaluated and recorded, not
	// forwarded to SIEM sinks.
	Shadow bool `json:"shadow,omitempty"`
	// TimedOut marks a partial sequence match emitted at its deadline.
	TimedOut bool `json:"timed_out,omitempty"`
	// Corrects is the id of an earlier alert that this one supersedes.
	Corrects string `json:"corrects,omitempty"`
	// Count, FirstSeen and LastSeen describe folded repeats (alert.group)
	// and throttled summaries.
	Count     int        `json:"count,omitempty"`
	FirstSeen *time.Time `json:"first_seen,omitempty"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
}

// Model names the model that scored an alert.
type Model struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// MakeID returns the deterministic id of an alert: a hash of the rule id,
// the key and the ids of the evidence events, plus any extra parts that tell
// apart alerts with the same evidence (such as a window's bounds). The same
// input always yields the same id, so downstream systems can deduplicate
// replays and retries.
//
// Each part is hashed as its length (8 bytes, little-endian) and its bytes,
// a key's value as fmt.Sprint writes it. The parts are laid out in one
// buffer, on the stack for most alerts, and hashed at once: writing each
// to a sha256 hash.Hash, a string copied to bytes each time, was a fifth
// of building a filter's alert.
func MakeID(rule string, key Key, evidence []Evidence, extra ...string) string {
	var id [IDLen]byte
	PutID(&id, rule, key, evidence, extra...)
	return string(id[:])
}

// IDLen is the length of an alert id: 32 hex digits.
const IDLen = 32

// PutID writes the id MakeID returns into id, for a caller that keeps
// the id's bytes in an allocation it makes anyway (the engine keeps them
// beside the alert).
func PutID(id *[IDLen]byte, rule string, key Key, evidence []Evidence, extra ...string) {
	var stack [512]byte
	b := appendIDPart(stack[:0], rule)
	for _, p := range key {
		b = appendIDPart(b, p.Expr)
		if s, ok := p.Value.(string); ok {
			b = appendIDPart(b, s)
			continue
		}
		at := len(b)
		b = fmt.Append(binary.LittleEndian.AppendUint64(b, 0), p.Value)
		binary.LittleEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	}
	for _, e := range evidence {
		b = appendIDPart(b, e.Step)
		if e.Event != nil {
			b = appendIDPart(b, e.Event.Stream)
			b = appendIDPart(b, e.Event.ID)
		}
	}
	for _, x := range extra {
		b = appendIDPart(b, x)
	}
	sum := sha256.Sum256(b)
	hex.Encode(id[:], sum[:IDLen/2])
}

func appendIDPart(b []byte, s string) []byte {
	return append(binary.LittleEndian.AppendUint64(b, uint64(len(s))), s...)
}

// normalizeNumbers turns json.Number into int64 when integral, else
// float64. A number beyond float64 is an error, not an infinity, which
// no alert could be written with again.
func normalizeNumbers(v any) (any, error) {
	var err error
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s out of range", x)
		}
		return f, nil
	case map[string]any:
		for k, e := range x {
			if x[k], err = normalizeNumbers(e); err != nil {
				return nil, err
			}
		}
	case []any:
		for i, e := range x {
			if x[i], err = normalizeNumbers(e); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}
