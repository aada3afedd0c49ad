// Package sigma converts Sigma rules (github.com/SigmaHQ/sigma-specification)
// into cep rule files: detections into match conditions with Sigma's
// semantics (case-insensitive values, wildcards, every value modifier,
// missing fields not matching), log sources into streams and conditions
// through a field mapping (rules/mapping), and correlation rules into
// aggregate, join and sequence rules. A rule that cannot be translated
// faithfully is refused with a reason.
package sigma

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/mapping"
)

// Rule is one Sigma document: a detection rule or a correlation rule.
type Rule struct {
	File        string
	Line        int
	Title       string
	ID          string
	Name        string
	Status      string
	Description string
	Author      string
	Date        string
	Modified    string
	Level       string
	License     string
	References  []string
	Tags        []string
	// FalsePositives are the rule's false positives, as text.
	FalsePositives []string
	LogSource      mapping.Source
	// Detection holds the search identifiers by name, in file order.
	Detection  []*Search
	Conditions []string
	// Correlation is set for a correlation rule.
	Correlation *Correlation
	// RegressionTests is the regression_tests_path of SigmaHQ rules.
	RegressionTests string
	// Generate asks a correlation's rules to be written on their own too.
	Generate bool
	// Refused is why the document cannot be translated, found while
	// parsing (an unknown modifier, a malformed detection).
	Refused *Refusal
}

// Search is one search identifier of a detection: a disjunction of
// selections (maps of field tests, all of which must hold), or keywords.
type Search struct {
	Name string
	// Any holds the alternatives: a map is one selection, a list of maps
	// is several.
	Any [][]FieldTest
	// Keywords are field-less values: any of them anywhere in the event.
	Keywords []Value
	// KeywordMods are the modifiers of a keyword list ("|all" on a key).
	KeywordMods []string
}

// FieldTest is one field: modifiers: values entry of a selection.
type FieldTest struct {
	Field     string
	Modifiers []string
	Values    []Value
	Line      int
}

// Value is one scalar of a detection.
type Value struct {
	Kind byte // 's' string, 'n' number, 'b' bool, 'z' null
	S    string
	N    float64
	B    bool
	// Int tells a YAML integer from a float, for rendering.
	Int bool
}

// Correlation is the correlation section of a correlation rule.
type Correlation struct {
	Type      string
	Rules     []string
	GroupBy   []string
	Timespan  string
	Condition map[string]any
	Field     string
	Aliases   map[string]map[string]string
}

// Refusal is why a rule is not imported: a short reason that the summary
// counts, and details for the rule.
type Refusal struct {
	Reason string
	Detail string
}

func (r *Refusal) Error() string {
	if r.Detail == "" {
		return r.Reason
	}
	return r.Reason + ": " + r.Detail
}

func refuse(reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Parse reads every document of a Sigma file. Syntax errors stop the file;
// a document that is not a Sigma rule is refused with its reason. Aliases
// are followed within yamlx's limits, so an alias bomb stops early.
func Parse(file string, src []byte) ([]*Rule, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	d := yamlx.NewDecoder(file, src)
	var out []*Rule
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: invalid YAML: %v", file, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		r := parseRule(d, file, doc.Content[0])
		if d.Stopped() {
			return nil, errors.Join(d.List...)
		}
		out = append(out, r)
	}
	return out, nil
}

// node walks a YAML tree with aliases resolved and counted.
type node struct {
	d *yamlx.Decoder
	n *yaml.Node
}

func (x node) get(key string) *yaml.Node {
	n := x.d.Resolve(x.n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return x.d.Resolve(n.Content[i+1])
		}
	}
	return nil
}

func (x node) str(key string) string {
	n := x.get(key)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func (x node) strs(key string) []string {
	n := x.get(key)
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			c = x.d.Resolve(c)
			if c != nil && c.Kind == yaml.ScalarNode {
				out = append(out, c.Value)
			}
		}
		return out
	}
	return nil
}

func parseRule(d *yamlx.Decoder, file string, root *yaml.Node) *Rule {
	x := node{d, root}
	r := &Rule{File: file, Line: root.Line}
	if root.Kind != yaml.MappingNode {
		r.Refused = refuse("not a Sigma rule", "the document is %s, not a mapping", yamlx.KindName(root))
		return r
	}
	r.Title = x.str("title")
	r.ID = x.str("id")
	r.Name = x.str("name")
	r.Status = x.str("status")
	r.Description = x.str("description")
	r.Author = x.str("author")
	r.Date = x.str("date")
	r.Modified = x.str("modified")
	r.Level = x.str("level")
	r.License = x.str("license")
	r.References = x.strs("references")
	r.Tags = x.strs("tags")
	r.FalsePositives = x.strs("falsepositives")
	r.RegressionTests = x.str("regression_tests_path")
	r.Generate = x.str("generate") == "true"
	if ls := x.get("logsource"); ls != nil {
		l := node{d, ls}
		r.LogSource = mapping.Source{Product: l.str("product"), Category: l.str("category"), Service: l.str("service")}
	}
	if a := x.str("action"); a != "" {
		r.Refused = refuse("rule collection (action: "+a+")", "Sigma 1.0 collections with action: are not supported; expand the collection into single rules")
		return r
	}
	if c := x.get("correlation"); c != nil {
		r.Correlation, r.Refused = parseCorrelation(d, c)
		return r
	}
	det := x.get("detection")
	if det == nil || det.Kind != yaml.MappingNode {
		r.Refused = refuse("no detection", "the rule has no detection mapping")
		return r
	}
	for i := 0; i+1 < len(det.Content); i += 2 {
		k, v := det.Content[i], d.Resolve(det.Content[i+1])
		if v == nil {
			continue
		}
		switch k.Value {
		case "condition":
			switch v.Kind {
			case yaml.ScalarNode:
				r.Conditions = []string{v.Value}
			case yaml.SequenceNode:
				r.Conditions = node{d, det}.strs("condition")
			}
			continue
		case "timeframe":
			r.Refused = refuse("timeframe (Sigma 1.0 aggregation)", "detection.timeframe belongs to the deprecated aggregation syntax; write a correlation rule")
			return r
		}
		s, ref := parseSearch(d, k.Value, v)
		if ref != nil {
			r.Refused = ref
			return r
		}
		r.Detection = append(r.Detection, s)
	}
	if len(r.Conditions) == 0 {
		r.Refused = refuse("no condition", "detection has no condition")
	}
	return r
}

func parseSearch(d *yamlx.Decoder, name string, v *yaml.Node) (*Search, *Refusal) {
	s := &Search{Name: name}
	switch v.Kind {
	case yaml.MappingNode:
		sel, ref := parseSelection(d, v)
		if ref != nil {
			return nil, ref
		}
		// A selection with a single field-less key is keywords with
		// modifiers ("|contains|all: [...]").
		s.Any = [][]FieldTest{sel}
	case yaml.SequenceNode:
		var maps, scalars int
		for _, c := range v.Content {
			c = d.Resolve(c)
			if c == nil {
				continue
			}
			switch c.Kind {
			case yaml.MappingNode:
				maps++
				sel, ref := parseSelection(d, c)
				if ref != nil {
					return nil, ref
				}
				s.Any = append(s.Any, sel)
			case yaml.ScalarNode:
				scalars++
				s.Keywords = append(s.Keywords, scalarValue(c))
			default:
				return nil, refuse("malformed detection", "%s holds a nested list", name)
			}
		}
		if maps > 0 && scalars > 0 {
			return nil, refuse("malformed detection", "%s mixes keywords and selections", name)
		}
	case yaml.ScalarNode:
		s.Keywords = []Value{scalarValue(v)}
	default:
		return nil, refuse("malformed detection", "%s is %s", name, yamlx.KindName(v))
	}
	return s, nil
}

func parseSelection(d *yamlx.Decoder, m *yaml.Node) ([]FieldTest, *Refusal) {
	var out []FieldTest
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], d.Resolve(m.Content[i+1])
		parts := strings.Split(k.Value, "|")
		ft := FieldTest{Field: parts[0], Modifiers: parts[1:], Line: k.Line}
		if v == nil {
			continue
		}
		switch v.Kind {
		case yaml.ScalarNode:
			ft.Values = []Value{scalarValue(v)}
		case yaml.SequenceNode:
			for _, c := range v.Content {
				c = d.Resolve(c)
				if c == nil {
					continue
				}
				if c.Kind != yaml.ScalarNode {
					return nil, refuse("malformed detection", "field %s holds a %s value", k.Value, yamlx.KindName(c))
				}
				ft.Values = append(ft.Values, scalarValue(c))
			}
		default:
			return nil, refuse("malformed detection", "field %s holds %s", k.Value, yamlx.KindName(v))
		}
		out = append(out, ft)
	}
	return out, nil
}

func scalarValue(n *yaml.Node) Value {
	switch n.Tag {
	case "!!null":
		return Value{Kind: 'z'}
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return Value{Kind: 'n', N: float64(i), Int: true, S: n.Value}
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return Value{Kind: 'n', N: f, S: n.Value}
		}
	case "!!bool":
		return Value{Kind: 'b', B: strings.EqualFold(n.Value, "true"), S: n.Value}
	}
	return Value{Kind: 's', S: n.Value}
}

// Text is the value as Sigma compares it: a string as written, a number in
// its YAML text.
func (v Value) Text() string {
	switch v.Kind {
	case 'z':
		return ""
	case 'b':
		return strconv.FormatBool(v.B)
	case 'n':
		if v.Int {
			return strconv.FormatInt(int64(v.N), 10)
		}
		return strconv.FormatFloat(v.N, 'f', -1, 64)
	}
	return v.S
}

func parseCorrelation(d *yamlx.Decoder, c *yaml.Node) (*Correlation, *Refusal) {
	x := node{d, c}
	co := &Correlation{Type: x.str("type"), Rules: x.strs("rules"), GroupBy: x.strs("group-by"), Timespan: x.str("timespan")}
	if cond := x.get("condition"); cond != nil && cond.Kind == yaml.MappingNode {
		co.Condition = map[string]any{}
		for i := 0; i+1 < len(cond.Content); i += 2 {
			k, v := cond.Content[i].Value, d.Resolve(cond.Content[i+1])
			if v == nil || v.Kind != yaml.ScalarNode {
				return nil, refuse("malformed correlation", "condition.%s must be a scalar", k)
			}
			if k == "field" {
				co.Field = v.Value
				continue
			}
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil {
				return nil, refuse("malformed correlation", "condition.%s must be a number, got %q", k, v.Value)
			}
			co.Condition[k] = f
		}
	}
	if al := x.get("aliases"); al != nil && al.Kind == yaml.MappingNode {
		co.Aliases = map[string]map[string]string{}
		for i := 0; i+1 < len(al.Content); i += 2 {
			name := al.Content[i].Value
			m := d.Resolve(al.Content[i+1])
			if m == nil || m.Kind != yaml.MappingNode {
				return nil, refuse("malformed correlation", "aliases.%s must map rule names to fields", name)
			}
			co.Aliases[name] = map[string]string{}
			for j := 0; j+1 < len(m.Content); j += 2 {
				co.Aliases[name][m.Content[j].Value] = m.Content[j+1].Value
			}
		}
	}
	switch co.Type {
	case "event_count", "value_count", "temporal", "temporal_ordered":
	case "":
		return nil, refuse("malformed correlation", "correlation.type is missing")
	default:
		return nil, refuse("unsupported correlation type", "correlation type %q (cep imports event_count, value_count, temporal and temporal_ordered)", co.Type)
	}
	if len(co.Rules) == 0 {
		return nil, refuse("malformed correlation", "correlation.rules is empty")
	}
	if co.Timespan == "" {
		return nil, refuse("malformed correlation", "correlation.timespan is missing")
	}
	return co, nil
}
