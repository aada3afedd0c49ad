package rulefmt

import (
	"encoding/json"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// TestFile is a *.test.yaml file: tests of the rules named in it, or of
// every rule loaded with it.
type TestFile struct {
	Path  string   `yaml:"-"`
	Rules []string `yaml:"rules"`
	Tests Tests    `yaml:"tests"`
}

// TestSpec is one analyst test: events in, alerts expected.
type TestSpec struct {
	// Name defaults to "test N", N counting from 1 in its list.
	Name string    `yaml:"name"`
	Pos  yamlx.Pos `yaml:"-" yamlx:"pos"`
	// Stream is the stream of Events and File; empty means the rule's only
	// stream.
	Stream string      `yaml:"stream"`
	Events []TestEvent `yaml:"events"`
	// File is a JSON-lines file of events, relative to the test's file.
	File   string      `yaml:"file"`
	Inputs []TestInput `yaml:"inputs" yamlx:"custom"`
	// Order is how the events reach the engine: "time" (the default)
	// sorts them by event time, as a replay does; "listed" keeps the
	// order they are written in, to test late events.
	Order  string `yaml:"order" yamlx:"oneof=time|listed"`
	Expect Expect `yaml:"expect"`
}

// DecodeKeyYAMLX decodes inputs: a mapping of stream names to a file or a
// list of events.
func (t *TestSpec) DecodeKeyYAMLX(d *yamlx.Decoder, key string, v *yaml.Node) {
	d.Mapping(v, "a mapping of stream names to a file or a list of events", func(stream string, k, sv *yaml.Node) {
		in := TestInput{Stream: stream, Pos: d.Pos(k)}
		if r := d.Resolve(sv); r != nil && r.Kind == yaml.ScalarNode {
			d.Decode(r, &in.File)
		} else {
			d.Decode(sv, &in.Events)
		}
		t.Inputs = append(t.Inputs, in)
	})
}

// ValidateYAMLX implements yamlx.Validator.
func (t *TestSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if k, _ := yamlx.Lookup(n, "expect"); k == nil {
		d.Errorf(n, "test %q needs expect", t.Name)
	}
	if len(t.Events) == 0 && t.File == "" && len(t.Inputs) == 0 {
		d.Errorf(n, "test %q needs events, file or inputs", t.Name)
	}
}

// Tests are the tests of a rule or test file, in the order written.
type Tests []TestSpec

// UnmarshalYAMLX names unnamed tests by their place in the list.
func (ts *Tests) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	d.Sequence(n, func(i int, item *yaml.Node) {
		t := TestSpec{Name: "test " + strconv.Itoa(i+1)}
		d.Decode(item, &t)
		*ts = append(*ts, t)
	})
}

// TestEvent is one inline event as JSON, with where it was written.
type TestEvent struct {
	JSON []byte
	Pos  yamlx.Pos
}

// UnmarshalYAMLX writes the event's mapping as JSON, in the order written.
func (e *TestEvent) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "an event must be a mapping of fields, got %s", yamlx.KindName(n))
		return
	}
	b, err := d.JSON(nil, n)
	if err != nil {
		return // the limits stopped decoding, and said so
	}
	*e = TestEvent{JSON: b, Pos: d.Pos(n)}
}

// TestInput is the events of one stream: a JSONL file or inline events.
type TestInput struct {
	Stream string
	File   string
	Events []TestEvent
	Pos    yamlx.Pos
}

// Expect is what a test expects: a number of alerts, or a list of partial
// alerts that must each match one alert.
type Expect struct {
	Count  int              `yaml:"-"`
	Alerts []map[string]any `yaml:"alerts" yamlx:"custom,required"`
	// Listed is true when Alerts was given as a list.
	Listed bool      `yaml:"-"`
	Pos    yamlx.Pos `yaml:"-" yamlx:"pos"`
}

// DecodeKeyYAMLX decodes alerts: a count or a list of partial alerts.
func (e *Expect) DecodeKeyYAMLX(d *yamlx.Decoder, key string, v *yaml.Node) {
	switch v.Kind {
	case yaml.ScalarNode:
		n, err := strconv.Atoi(v.Value)
		if err != nil || n < 0 || v.Tag == "!!null" {
			d.Errorf(v, "%s must be an integer of at least 0, got %q", d.Path(), v.Value)
			return
		}
		e.Count = n
	case yaml.SequenceNode:
		e.Listed = true
		d.Sequence(v, func(i int, item *yaml.Node) {
			an := d.Resolve(item)
			if an == nil {
				return
			}
			if an.Kind != yaml.MappingNode {
				d.Errorf(an, "an expected alert must be a mapping (of key, fields, events, time, …), got %s", yamlx.KindName(an))
				return
			}
			b, err := d.JSON(nil, an)
			if err != nil {
				return
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				d.Errorf(an, "expected alert: %v", err)
				return
			}
			for i := 0; i+1 < len(an.Content); i += 2 {
				if k := an.Content[i]; !expectKeys[k.Value] {
					d.Errorf(k, "unknown key %q in an expected alert (allowed: id, rule, rule_version, title, severity, tags, time, key, events, fields, score, reasons, priority, shadow, timed_out, corrects, count, first_seen, last_seen, model)", k.Value)
				}
			}
			e.Alerts = append(e.Alerts, m)
		})
		e.Count = len(e.Alerts)
	default:
		d.Errorf(v, "expect.alerts must be a count or a list of alerts")
	}
}

var expectKeys = map[string]bool{
	"id": true, "rule": true, "rule_version": true, "title": true, "severity": true, "tags": true,
	"time": true, "key": true, "events": true, "fields": true, "score": true, "reasons": true,
	"priority": true, "shadow": true, "timed_out": true, "corrects": true, "count": true,
	"first_seen": true, "last_seen": true, "model": true,
}

// ParseTestFile decodes a *.test.yaml file. It returns nil when the file
// has errors, and every problem found.
func ParseTestFile(file string, src []byte) (*TestFile, []error) {
	d := yamlx.NewDecoder(file, src)
	d.Root = "test file"
	doc, err := yamlx.Parse(file, src, "a test file holds one document; put more tests in its tests list")
	if err != nil {
		return nil, []error{err}
	}
	tf := &TestFile{Path: file}
	if doc == nil {
		return tf, nil
	}
	d.Decode(doc, tf)
	if d.HasErrors() {
		return nil, d.List
	}
	return tf, d.List
}
