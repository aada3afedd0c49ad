// Package mapping reads field mappings: named files (mappings/NAME.yaml)
// that say where a taxonomy's fields — Sigma's field names per log source,
// or ECS — are found in a stream's raw events, and which events make up a
// log source. A log source may have several variants with their own
// conditions and field names: Sigma's process_creation is Sysmon event 1
// with Sysmon's names, or Security event 4688 with NewProcessName for Image.
//
// The Sigma importer resolves every rule's logsource and fields through a
// mapping; lint reads a mapping's case_insensitive fields.
package mapping

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/mappings"
)

// Mapping is one mapping file.
type Mapping struct {
	Name        string `yaml:"-"`
	Description string `yaml:"description"`
	// Stream is the stream rules read, unless a log source names another.
	Stream string `yaml:"stream"`
	// Fields map taxonomy field names to raw paths for every log source;
	// a log source's or variant's own fields come first.
	Fields Fields `yaml:"fields"`
	// DefaultField places a field no entry names: "{}" stands for the
	// taxonomy name ("Event.EventData.{}"); empty keeps the name as it is.
	DefaultField string `yaml:"default_field"`
	// CaseInsensitive are raw fields whose values the source compares
	// without case (Windows paths, registry keys, channels): lint warns
	// about case-sensitive comparisons of them.
	CaseInsensitive []string `yaml:"case_insensitive"`
	// Unmapped says what happens to a log source no entry matches:
	// passthrough (its own stream, fields as they are) or refuse.
	Unmapped   string      `yaml:"unmapped" yamlx:"oneof=passthrough|refuse"`
	LogSources []LogSource `yaml:"logsources"`
	// ci holds CaseInsensitive lowered, for lookups.
	ci map[string]bool
}

// SetDefaults implements yamlx.Defaulter.
func (m *Mapping) SetDefaults() { m.Unmapped = "passthrough" }

// LogSource is one entry of logsources: which rule log sources it serves
// (every key given must match) and how.
type LogSource struct {
	Product  string    `yaml:"product"`
	Category string    `yaml:"category"`
	Service  string    `yaml:"service"`
	Stream   string    `yaml:"stream"`
	Where    Where     `yaml:"where"`
	Fields   Fields    `yaml:"fields"`
	Variants []Variant `yaml:"variants"`
	Pos      yamlx.Pos `yaml:"-" yamlx:"pos"`
}

// Variant is one kind of event that makes up a log source.
type Variant struct {
	Name   string `yaml:"name" yamlx:"required"`
	Where  Where  `yaml:"where"`
	Fields Fields `yaml:"fields"`
	// OtherFields is keep (fields the variant does not list are found
	// under their own or default names) or absent (they do not exist in
	// this variant's events: a rule testing one leaves the variant out).
	OtherFields string `yaml:"other_fields" yamlx:"oneof=keep|absent"`
}

// SetDefaults implements yamlx.Defaulter.
func (v *Variant) SetDefaults() { v.OtherFields = "keep" }

// Fields map taxonomy names to raw paths. A name may have alternatives,
// tried as one of them (evtx's EventID is a number, or an object whose
// #text is the number when it has attributes).
type Fields map[string][]string

// UnmarshalYAMLX reads name: path or name: [path, path].
func (f *Fields) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	out := Fields{}
	d.Mapping(n, "a mapping of field names to raw paths", func(key string, k, v *yaml.Node) {
		switch v.Kind {
		case yaml.ScalarNode:
			out[key] = []string{v.Value}
		case yaml.SequenceNode:
			var paths []string
			d.Decode(v, &paths)
			if len(paths) == 0 {
				d.Errorf(v, "field %s needs at least one path", key)
			}
			out[key] = paths
		default:
			d.Errorf(v, "field %s must be a path or a list of paths, got %s", key, yamlx.KindName(v))
		}
	})
	*f = out
}

// Where is a condition on the events of a log source: every field must
// equal its value (one of them, for a list); strings compare without case,
// numbers also with a string holding them. Fields are named as in rules
// and placed by the mapping's fields, like a rule's.
type Where map[string]any

// Cond is one test of a Where.
type Cond struct {
	Field  string
	Values []any // strings, float64s or bools
}

// Conds lists the tests in field order.
func (w Where) Conds() []Cond {
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Cond
	for _, k := range keys {
		c := Cond{Field: k}
		switch v := w[k].(type) {
		case []any:
			c.Values = v
		default:
			c.Values = []any{v}
		}
		out = append(out, c)
	}
	return out
}

// ValidateYAMLX implements yamlx.Validator.
func (m *Mapping) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if m.Stream == "" {
		d.Errorf(n, "a mapping needs a stream")
	}
	if m.DefaultField != "" && !strings.Contains(m.DefaultField, "{}") {
		_, v := yamlx.Lookup(n, "default_field")
		d.Errorf(v, "default_field must hold {} where the field name goes")
	}
	_, lss := yamlx.Lookup(n, "logsources")
	for i, ls := range m.LogSources {
		if ls.Product == "" && ls.Category == "" && ls.Service == "" {
			d.Add(ls.Pos.Line, ls.Pos.Col, "logsources[%d] needs product, category or service", i)
		}
		for _, v := range ls.Variants {
			checkWhere(d, lss, v.Where)
		}
		checkWhere(d, lss, ls.Where)
	}
	m.ci = map[string]bool{}
	for _, f := range m.CaseInsensitive {
		m.ci[strings.ToLower(f)] = true
	}
}

func checkWhere(d *yamlx.Decoder, n *yaml.Node, w Where) {
	for _, c := range w.Conds() {
		for _, v := range c.Values {
			switch v.(type) {
			case string, float64, bool:
			default:
				d.Errorf(n, "where: %s must be a string, number or bool, or a list of them", c.Field)
			}
		}
	}
}

// Parse decodes a mapping file.
func Parse(name, file string, src []byte) (*Mapping, []error) {
	doc, err := yamlx.Parse(file, src, "a mapping file holds one mapping")
	if err != nil {
		return nil, []error{err}
	}
	if doc == nil {
		return nil, []error{fmt.Errorf("%s: the mapping file is empty", file)}
	}
	d := yamlx.NewDecoder(file, src)
	d.Root = "mapping"
	m := &Mapping{}
	d.Decode(doc, m)
	if len(d.List) > 0 {
		return nil, d.List
	}
	m.Name = name
	return m, nil
}

// Names lists the shipped mappings.
func Names() []string {
	var out []string
	entries, _ := fs.ReadDir(mappings.FS, ".")
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	return out
}

// Load reads a mapping: a file path (ending in .yaml or .yml, or holding a
// path separator), else a shipped mapping by name.
func Load(nameOrPath string) (*Mapping, error) {
	if strings.ContainsAny(nameOrPath, `/\`) || strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") {
		src, err := os.ReadFile(nameOrPath)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(filepath.Base(nameOrPath), filepath.Ext(nameOrPath))
		return parseOrJoin(name, nameOrPath, src)
	}
	src, err := fs.ReadFile(mappings.FS, nameOrPath+".yaml")
	if err != nil {
		return nil, fmt.Errorf("no mapping named %q (shipped: %s; or give a file path)", nameOrPath, strings.Join(Names(), ", "))
	}
	return parseOrJoin(nameOrPath, "mappings/"+nameOrPath+".yaml", src)
}

func parseOrJoin(name, file string, src []byte) (*Mapping, error) {
	m, errs := Parse(name, file, src)
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("%s", strings.Join(msgs, "\n"))
	}
	return m, nil
}

// Source is a rule's log source as Sigma writes it.
type Source struct {
	Product, Category, Service string
}

// String renders the log source as product/category/service.
func (s Source) String() string {
	var parts []string
	for _, p := range []string{s.Product, s.Category, s.Service} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "/")
}

// Target is where a log source's events are and how to read them.
type Target struct {
	Stream string
	// Mapped is false for a log source no entry matched (passthrough).
	Mapped   bool
	Variants []Resolved
}

// Resolved is a variant with the fields of its log source and mapping
// folded in.
type Resolved struct {
	Name  string
	Where []Cond
	// fields are looked up in order: the variant's, the log source's,
	// the mapping's.
	fields      []Fields
	otherAbsent bool
	defaultTpl  string
}

// Field returns the raw paths of a taxonomy field (alternatives, each a
// dotted path), or false when the variant's events do not have it.
func (r *Resolved) Field(name string) ([]string, bool) { return r.field(name, r.otherAbsent) }

// WhereField places a field of the variant's own conditions: through the
// fields the mapping lists, else as written (a raw path such as
// event.category), never through default_field.
func (r *Resolved) WhereField(name string) []string {
	for _, f := range r.fields {
		if p, ok := f[name]; ok {
			return p
		}
	}
	return []string{name}
}

func (r *Resolved) field(name string, otherAbsent bool) ([]string, bool) {
	for _, f := range r.fields {
		if p, ok := f[name]; ok {
			return p, true
		}
	}
	if otherAbsent {
		return nil, false
	}
	if r.defaultTpl != "" {
		return []string{strings.ReplaceAll(r.defaultTpl, "{}", name)}, true
	}
	return []string{name}, true
}

// Resolve finds how to read a log source. The most specific entry whose
// keys all match wins.
func (m *Mapping) Resolve(src Source) (*Target, error) {
	best, bestScore := -1, 0
	for i, ls := range m.LogSources {
		score, ok := 0, true
		for _, kv := range [][2]string{{ls.Product, src.Product}, {ls.Category, src.Category}, {ls.Service, src.Service}} {
			if kv[0] == "" {
				continue
			}
			if !strings.EqualFold(kv[0], kv[1]) {
				ok = false
				break
			}
			score++
		}
		if ok && score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		if m.Unmapped == "refuse" {
			return nil, fmt.Errorf("mapping %s has no log source %s", m.Name, src)
		}
		stream := strings.ReplaceAll(strings.ToLower(src.String()), "/", "_")
		if stream == "" {
			stream = m.Stream
		}
		return &Target{Stream: stream, Variants: []Resolved{{Name: "", defaultTpl: m.DefaultField, fields: []Fields{m.Fields}}}}, nil
	}
	ls := m.LogSources[best]
	t := &Target{Stream: m.Stream, Mapped: true}
	if ls.Stream != "" {
		t.Stream = ls.Stream
	}
	base := ls.Where.Conds()
	variants := ls.Variants
	if len(variants) == 0 {
		variants = []Variant{{OtherFields: "keep"}}
	}
	for _, v := range variants {
		t.Variants = append(t.Variants, Resolved{
			Name:        v.Name,
			Where:       append(slices.Clone(base), v.Where.Conds()...),
			fields:      []Fields{v.Fields, ls.Fields, m.Fields},
			otherAbsent: v.OtherFields == "absent",
			defaultTpl:  m.DefaultField,
		})
	}
	return t, nil
}

// IsCaseInsensitive reports whether the mapping marks a raw field (a
// dotted path) as compared without case by its source. A field marked
// with a trailing .* covers everything under it.
func (m *Mapping) IsCaseInsensitive(path string) bool {
	p := strings.ToLower(path)
	if m.ci[p] {
		return true
	}
	for i := strings.LastIndexByte(p, '.'); i >= 0; i = strings.LastIndexByte(p[:i], '.') {
		if m.ci[p[:i]+".*"] {
			return true
		}
	}
	return false
}

func mappingsFS(name string) ([]byte, error) { return fs.ReadFile(mappings.FS, name+".yaml") }

// Streams lists the streams the mapping's log sources are read from.
func (m *Mapping) Streams() []string {
	out := []string{m.Stream}
	for _, ls := range m.LogSources {
		if ls.Stream != "" && !slices.Contains(out, ls.Stream) {
			out = append(out, ls.Stream)
		}
	}
	return out
}

// MappingName returns the mapping's name.
func (m *Mapping) MappingName() string { return m.Name }
