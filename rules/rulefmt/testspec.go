package rulefmt

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// TestFile is a *.test.yaml file: tests of the rules named in it, or of
// every rule loaded with it.
type TestFile struct {
	Path  string
	Rules []string
	Tests []TestSpec
}

// TestSpec is one analyst test: events in, alerts expected.
type TestSpec struct {
	Name string
	Pos  yamlx.Pos
	// Stream is the stream of Events and File; empty means the rule's only
	// stream.
	Stream string
	Events []TestEvent
	File   string
	Inputs []TestInput
	Expect Expect
}

// TestEvent is one inline event as JSON, with where it was written.
type TestEvent struct {
	JSON []byte
	Pos  yamlx.Pos
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
	Count  int
	Alerts []map[string]any
	// Listed is true when Alerts was given as a list.
	Listed bool
	Pos    yamlx.Pos
}

var testKeys = []string{"name", "stream", "events", "file", "inputs", "expect"}

// ParseTestFile reads a *.test.yaml file.
func ParseTestFile(file string, src []byte) (*TestFile, []error) {
	d := newDecoder(file, src)
	doc, err := parseDocument(file, src)
	if err != nil {
		return nil, []error{err}
	}
	tf := &TestFile{Path: file}
	if doc == nil {
		return tf, nil
	}
	d.fields(doc, "test file", []string{"rules", "tests"}, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "rules":
			tf.Rules = d.strList(v, "rules")
		case "tests":
			tf.Tests = parseTests(d, v)
		default:
			return false
		}
		return true
	})
	if d.HasErrors() {
		return nil, d.List
	}
	return tf, d.List
}

func parseTests(d *decoder, n *yaml.Node) []TestSpec {
	if n.Kind != yaml.SequenceNode {
		d.Add(n.Line, n.Column, "tests must be a list, got %s", kindName(n))
		return nil
	}
	var out []TestSpec
	for i, tn := range n.Content {
		t := TestSpec{Pos: yamlx.Pos{File: d.File, Line: tn.Line, Col: tn.Column}, Name: "test " + strconv.Itoa(i+1)}
		haveExpect := false
		d.fields(tn, "test", testKeys, func(key string, k, v *yaml.Node) bool {
			switch key {
			case "name":
				t.Name = d.str(v, "test name")
			case "stream":
				t.Stream = d.str(v, "stream")
			case "events":
				t.Events = d.testEvents(v)
			case "file":
				t.File = d.str(v, "file")
			case "inputs":
				if v.Kind != yaml.MappingNode {
					d.Add(v.Line, v.Column, "inputs must map stream names to a file or a list of events")
					return true
				}
				for j := 0; j+1 < len(v.Content); j += 2 {
					sk, sv := v.Content[j], v.Content[j+1]
					in := TestInput{Stream: sk.Value, Pos: yamlx.Pos{File: d.File, Line: sk.Line, Col: sk.Column}}
					if sv.Kind == yaml.ScalarNode {
						in.File = sv.Value
					} else {
						in.Events = d.testEvents(sv)
					}
					t.Inputs = append(t.Inputs, in)
				}
			case "expect":
				haveExpect = true
				t.Expect = d.expect(v)
			default:
				return false
			}
			return true
		})
		if tn.Kind == yaml.MappingNode {
			if !haveExpect {
				d.Add(tn.Line, tn.Column, "test %q needs expect", t.Name)
			}
			if len(t.Events) == 0 && t.File == "" && len(t.Inputs) == 0 {
				d.Add(tn.Line, tn.Column, "test %q needs events, file or inputs", t.Name)
			}
		}
		out = append(out, t)
	}
	return out
}

func (d *decoder) testEvents(n *yaml.Node) []TestEvent {
	if n.Kind != yaml.SequenceNode {
		d.Add(n.Line, n.Column, "events must be a list of events, got %s", kindName(n))
		return nil
	}
	var out []TestEvent
	for _, en := range n.Content {
		if en.Kind != yaml.MappingNode {
			d.Add(en.Line, en.Column, "an event must be a mapping of fields, got %s", kindName(en))
			continue
		}
		b, err := nodeJSON(nil, en)
		if err != nil {
			d.Add(en.Line, en.Column, "event: %v", err)
			continue
		}
		out = append(out, TestEvent{JSON: b, Pos: yamlx.Pos{File: d.File, Line: en.Line, Col: en.Column}})
	}
	return out
}

func (d *decoder) expect(n *yaml.Node) Expect {
	e := Expect{Pos: yamlx.Pos{File: d.File, Line: n.Line, Col: n.Column}}
	have := false
	d.fields(n, "expect", []string{"alerts"}, func(key string, k, v *yaml.Node) bool {
		if key != "alerts" {
			return false
		}
		have = true
		switch v.Kind {
		case yaml.ScalarNode:
			e.Count = d.integer(v, "expect.alerts", 0)
		case yaml.SequenceNode:
			e.Listed = true
			for _, an := range v.Content {
				if an.Kind != yaml.MappingNode {
					d.Add(an.Line, an.Column, "an expected alert must be a mapping (of key, fields, events, time, …), got %s", kindName(an))
					continue
				}
				b, err := nodeJSON(nil, an)
				if err != nil {
					d.Add(an.Line, an.Column, "expected alert: %v", err)
					continue
				}
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					d.Add(an.Line, an.Column, "expected alert: %v", err)
					continue
				}
				for k := range m {
					if !expectKeys[k] {
						d.Add(an.Line, an.Column, "expected alert has unknown key %q (use id, rule, severity, time, key, fields, events, score, priority, timed_out, corrects, count)", k)
					}
				}
				e.Alerts = append(e.Alerts, m)
			}
			e.Count = len(e.Alerts)
		default:
			d.Add(v.Line, v.Column, "expect.alerts must be a count or a list of alerts")
		}
		return true
	})
	if !have && n.Kind == yaml.MappingNode {
		d.Add(n.Line, n.Column, "expect needs alerts: a count, or a list of partial alerts")
	}
	return e
}

var expectKeys = map[string]bool{
	"id": true, "rule": true, "rule_version": true, "title": true, "severity": true, "tags": true,
	"time": true, "key": true, "events": true, "fields": true, "score": true, "reasons": true,
	"priority": true, "shadow": true, "timed_out": true, "corrects": true, "count": true,
	"first_seen": true, "last_seen": true, "model": true,
}

// nodeJSON writes a YAML node as JSON, keeping the order of mappings so an
// inline test event reads back as written.
func nodeJSON(b []byte, n *yaml.Node) ([]byte, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return nodeJSON(b, n.Alias)
	case yaml.MappingNode:
		b = append(b, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, n.Content[i].Value)
			b = append(b, ':')
			var err error
			if b, err = nodeJSON(b, n.Content[i+1]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case yaml.SequenceNode:
		b = append(b, '[')
		for i, c := range n.Content {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = nodeJSON(b, c); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return append(b, "null"...), nil
		case "!!bool":
			v, _ := strconv.ParseBool(n.Value)
			return strconv.AppendBool(b, v), nil
		case "!!int", "!!float":
			v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
			if err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
				return strconv.AppendFloat(b, v, 'f', -1, 64), nil
			}
			if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				return strconv.AppendInt(b, i, 10), nil
			}
		}
		q, _ := json.Marshal(n.Value)
		return append(b, q...), nil
	}
	return b, nil
}
