package yamlx

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits bound what expanding aliases may cost. A file's own nodes are
// bounded by its size; aliases are not: nine levels of ten aliases each
// make a billion nodes out of 617 bytes. So what is reached through
// aliases is counted, and decoding stops with an error at the bound.
type Limits struct {
	// Aliases is the number of aliases that may be followed.
	Aliases int
	// Nodes is the number of nodes that may be reached through aliases.
	Nodes int
	// Bytes is the size of the scalar text that may be reached through
	// aliases.
	Bytes int
}

// DefaultLimits are generous for anchors that share a block of settings
// or a test event, and stop an alias bomb within milliseconds.
var DefaultLimits = Limits{Aliases: 10_000, Nodes: 100_000, Bytes: 16 << 20}

// Unmarshaler is implemented by types that decode themselves from a node,
// reporting problems to d and going on. n has its aliases resolved.
type Unmarshaler interface {
	UnmarshalYAMLX(d *Decoder, n *yaml.Node)
}

// Defaulter is implemented by structs with defaults; SetDefaults is called
// on a struct before its keys are decoded.
type Defaulter interface {
	SetDefaults()
}

// Validator is implemented by structs that check themselves once their
// keys are decoded; n is their mapping node, for positions (see Lookup).
type Validator interface {
	ValidateYAMLX(d *Decoder, n *yaml.Node)
}

// KeyDecoder is implemented by structs with a key that no single field
// decodes (one key filling two fields, a value that is a count or a
// duration). Such a key's field is tagged `yamlx:"custom"`; DecodeKeyYAMLX
// gets the key's name and its value node.
type KeyDecoder interface {
	DecodeKeyYAMLX(d *Decoder, key string, v *yaml.Node)
}

// A Decoder decodes YAML nodes into Go values strictly: unknown keys
// (reported with the keys allowed), repeated keys, wrong types and missing
// required keys are errors with positions, and decoding goes on after an
// error so that every problem of a file is reported at once.
//
// Values are decoded by their Go type: structs from mappings (keys from
// `yaml` tags, else the lower-cased field name; `yaml:",inline"` merges an
// embedded struct), slices from sequences (a single scalar is a list of
// one), string-keyed maps, strings (from any scalar), booleans, integers,
// floats and time.Duration (ParseDuration's forms). Null is an error for
// every type. Types implementing Unmarshaler or yaml.v3's Unmarshaler
// decode themselves. Struct tags `yamlx:"..."` add, comma-separated:
// required, pos (a Pos field receives the mapping's position), min=N
// (integers), positive (durations), oneof=a|b|c (strings), custom (see
// KeyDecoder).
type Decoder struct {
	Errors
	// Root names the document in messages about its top level, such as
	// "unknown key "x" in rule".
	Root string
	// Limits bound alias expansion; the zero value means DefaultLimits.
	Limits Limits

	lines     []string
	path      []string
	aliases   int
	nodes     int
	bytes     int
	depth     int // > 0 while inside an alias
	stopped   bool
	expanding map[*yaml.Node]bool
}

// NewDecoder returns a decoder for the nodes of one file.
func NewDecoder(file string, src []byte) *Decoder {
	return &Decoder{Errors: Errors{File: file, Src: src}}
}

// Lines returns the source split into lines, for mapping positions inside
// block scalars.
func (d *Decoder) Lines() []string {
	if d.lines == nil {
		d.lines = strings.Split(string(d.Src), "\n")
	}
	return d.lines
}

// Pos returns the position of n in the file.
func (d *Decoder) Pos(n *yaml.Node) Pos { return Pos{File: d.File, Line: n.Line, Col: n.Column} }

// Errorf records an error at n.
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) {
	d.Add(n.Line, n.Column, format, args...)
}

// Path names the value being decoded, such as sequence.steps[1].times, or
// Root at the top.
func (d *Decoder) Path() string {
	if len(d.path) == 0 {
		return d.Root
	}
	var b strings.Builder
	for _, p := range d.path {
		if b.Len() > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// PathOf names key of the mapping being decoded, for messages of
// validators.
func (d *Decoder) PathOf(key string) string {
	if len(d.path) == 0 {
		return key
	}
	return d.Path() + "." + key
}

// Stopped reports whether decoding stopped at the alias limits.
func (d *Decoder) Stopped() bool { return d.stopped }

func (d *Decoder) limits() Limits {
	if d.Limits == (Limits{}) {
		return DefaultLimits
	}
	return d.Limits
}

// Resolve follows n if it is an alias and counts n against the limits. It
// returns nil, after reporting it once, when the limits are reached or an
// alias refers to its own anchor; decoding then stops.
func (d *Decoder) Resolve(n *yaml.Node) *yaml.Node {
	if d.stopped || n == nil {
		return nil
	}
	lim := d.limits()
	through := d.depth > 0
	for n.Kind == yaml.AliasNode {
		through = true
		d.aliases++
		if d.aliases > lim.Aliases {
			d.stop(n, fmt.Sprintf("more than %d aliases followed", lim.Aliases))
			return nil
		}
		if n.Alias == nil {
			d.Errorf(n, "alias *%s refers to no anchor", n.Value)
			return nil
		}
		n = n.Alias
	}
	if through {
		d.nodes++
		d.bytes += len(n.Value)
		if d.nodes > lim.Nodes || d.bytes > lim.Bytes {
			d.stop(n, fmt.Sprintf("more than %d nodes or %d bytes reached through aliases", lim.Nodes, lim.Bytes))
			return nil
		}
	}
	return n
}

func (d *Decoder) stop(n *yaml.Node, what string) {
	d.stopped = true
	d.Errorf(n, "alias expansion stopped: %s (is this an alias bomb?)", what)
}

// enter resolves n and, when it was an alias, marks the expansion, so
// that nodes reached through it count against the limits and an alias
// that refers to its own anchor is caught. leave undoes it.
func (d *Decoder) enter(n *yaml.Node) (*yaml.Node, bool) {
	if n == nil || d.stopped {
		return nil, false
	}
	if n.Kind != yaml.AliasNode {
		return d.Resolve(n), false
	}
	r := d.Resolve(n)
	if r == nil {
		return nil, false
	}
	if d.expanding[r] {
		d.Errorf(n, "alias *%s refers to its own anchor", n.Value)
		return nil, false
	}
	if d.expanding == nil {
		d.expanding = map[*yaml.Node]bool{}
	}
	d.expanding[r] = true
	d.depth++
	return r, true
}

func (d *Decoder) leave(r *yaml.Node, alias bool) {
	if alias {
		d.depth--
		delete(d.expanding, r)
	}
}

// Decode decodes n into the value v points to, reporting problems to d.
func (d *Decoder) Decode(n *yaml.Node, v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("yamlx: Decode needs a non-nil pointer")
	}
	d.decode(n, rv.Elem())
}

// Mapping calls f for each key of a mapping node, in order, with the
// value under the key's path; repeated keys are reported and skipped. It
// reports a node that is not a mapping, saying what it should map.
func (d *Decoder) Mapping(n *yaml.Node, what string, f func(key string, k, v *yaml.Node)) {
	r, alias := d.enter(n)
	if r == nil {
		return
	}
	defer d.leave(r, alias)
	if r.Kind != yaml.MappingNode {
		d.Errorf(r, "%s must be %s, got %s", d.Path(), what, KindName(r))
		return
	}
	seen := map[string]int{}
	content := d.pairs(r)
	for i := 0; i+1 < len(content) && !d.stopped; i += 2 {
		k, v := d.Resolve(content[i]), content[i+1]
		if k == nil {
			return
		}
		if line, dup := seen[k.Value]; dup {
			d.Errorf(k, "key %q repeats (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		d.path = append(d.path, k.Value)
		f(k.Value, k, v)
		d.path = d.path[:len(d.path)-1]
	}
}

// Sequence calls f for each item of a sequence node under the item's
// path, reporting a node that is not a sequence.
func (d *Decoder) Sequence(n *yaml.Node, f func(i int, item *yaml.Node)) {
	r, alias := d.enter(n)
	if r == nil {
		return
	}
	defer d.leave(r, alias)
	if r.Kind != yaml.SequenceNode {
		d.Errorf(r, "%s must be a list, got %s", d.Path(), KindName(r))
		return
	}
	for i, c := range r.Content {
		if d.stopped {
			return
		}
		d.path = append(d.path, "["+strconv.Itoa(i)+"]")
		f(i, c)
		d.path = d.path[:len(d.path)-1]
	}
}

// pairs lists the key and value nodes of mapping r with merge keys
// (<<: *base, or a list of them) expanded in place: a merged key is left
// out when the mapping sets it itself or an earlier merge gave it.
func (d *Decoder) pairs(r *yaml.Node) []*yaml.Node {
	merge := false
	for i := 0; i+1 < len(r.Content); i += 2 {
		if isMerge(r.Content[i]) {
			merge = true
		}
	}
	if !merge {
		return r.Content
	}
	explicit := map[string]bool{}
	for i := 0; i+1 < len(r.Content); i += 2 {
		if !isMerge(r.Content[i]) {
			explicit[r.Content[i].Value] = true
		}
	}
	var out []*yaml.Node
	given := map[string]bool{}
	for i := 0; i+1 < len(r.Content); i += 2 {
		k, v := r.Content[i], r.Content[i+1]
		if !isMerge(k) {
			out = append(out, k, v)
			continue
		}
		src := d.Resolve(v)
		if src == nil {
			return out
		}
		bases := []*yaml.Node{src}
		if src.Kind == yaml.SequenceNode {
			bases = src.Content
		}
		for _, b := range bases {
			b = d.Resolve(b)
			if b == nil {
				return out
			}
			if b.Kind != yaml.MappingNode {
				d.Errorf(b, "a merge key (<<) takes a mapping or a list of mappings, got %s", KindName(b))
				continue
			}
			for j := 0; j+1 < len(b.Content); j += 2 {
				bk := b.Content[j]
				if explicit[bk.Value] || given[bk.Value] {
					continue
				}
				given[bk.Value] = true
				out = append(out, bk, b.Content[j+1])
			}
		}
	}
	return out
}

func isMerge(k *yaml.Node) bool { return k.Kind == yaml.ScalarNode && k.Tag == "!!merge" }

// Lookup returns the key and value nodes of key in mapping n, or nils.
func Lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

// KindName describes a node for messages: a mapping, a list, null, or a
// scalar's text.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

var (
	unmarshalerType   = reflect.TypeFor[Unmarshaler]()
	v3UnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	durationType      = reflect.TypeFor[time.Duration]()
	posType           = reflect.TypeFor[Pos]()
)

func (d *Decoder) decode(n *yaml.Node, v reflect.Value) {
	if v.CanAddr() {
		if u, ok := v.Addr().Interface().(Unmarshaler); ok {
			r, alias := d.enter(n)
			if r != nil {
				u.UnmarshalYAMLX(d, r)
			}
			d.leave(r, alias)
			return
		}
		if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
			r, alias := d.enter(n)
			if r != nil {
				if err := u.UnmarshalYAML(r); err != nil {
					d.Errorf(r, "%s: %v", d.Path(), err)
				}
			}
			d.leave(r, alias)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		r, alias := d.enter(n)
		defer d.leave(r, alias)
		if r == nil {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(r, v.Elem())
		return
	case reflect.Struct:
		d.decodeStruct(n, v)
		return
	case reflect.Slice:
		d.decodeSlice(n, v)
		return
	case reflect.Map:
		d.decodeMap(n, v)
		return
	case reflect.Interface:
		if v.NumMethod() == 0 {
			d.decodeAny(n, v)
			return
		}
	}
	r, alias := d.enter(n)
	defer d.leave(r, alias)
	if r == nil {
		return
	}
	if r.Kind != yaml.ScalarNode || r.Tag == "!!null" {
		d.Errorf(r, "%s must be %s, got %s", d.Path(), scalarWant(v.Type()), KindName(r))
		return
	}
	d.scalar(r, v, fieldOpts{})
}

// decodeAny decodes n into an empty interface as encoding/json would
// decode its JSON form.
func (d *Decoder) decodeAny(n *yaml.Node, v reflect.Value) {
	b, err := d.JSON(nil, n)
	if err != nil {
		return // the limits stopped decoding, and said so
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		d.Errorf(n, "%s: %v", d.Path(), err)
		return
	}
	if x != nil {
		v.Set(reflect.ValueOf(x))
	}
}

func scalarWant(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "an integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	}
	return "a scalar"
}

// scalar decodes a non-null scalar node into v.
func (d *Decoder) scalar(n *yaml.Node, v reflect.Value, o fieldOpts) {
	what := d.Path()
	switch {
	case v.Type() == durationType:
		dur, err := ParseDuration(n.Value)
		if err != nil {
			d.Errorf(n, "%s: %v", what, err)
			return
		}
		if o.positive && dur <= 0 {
			d.Errorf(n, "%s must be positive, got %q", what, n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if len(o.oneOf) > 0 && !contains(o.oneOf, n.Value) {
			d.Errorf(n, "%s must be one of %s, got %q", what, strings.Join(o.oneOf, ", "), n.Value)
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Tag != "!!bool" {
			d.Errorf(n, "%s must be true or false, got %q", what, n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, v.Type().Bits())
		if err != nil || (o.hasMin && i < o.min) {
			if o.hasMin && err == nil {
				d.Errorf(n, "%s must be an integer of at least %d, got %q", what, o.min, n.Value)
			} else {
				d.Errorf(n, "%s must be an integer, got %q", what, n.Value)
			}
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, v.Type().Bits())
		if err != nil || (o.hasMin && u < uint64(max(o.min, 0))) {
			d.Errorf(n, "%s must be an integer from %d to %d, got %q", what, max(o.min, 0), uint64(1)<<v.Type().Bits()-1, n.Value)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.Errorf(n, "%s must be a number, got %q", what, n.Value)
			return
		}
		v.SetFloat(f)
	default:
		d.Errorf(n, "%s: cannot decode into %s", what, v.Type())
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (d *Decoder) decodeSlice(n *yaml.Node, v reflect.Value) {
	r, alias := d.enter(n)
	defer d.leave(r, alias)
	if r == nil {
		return
	}
	et := v.Type().Elem()
	// A single scalar is a list of one, as in tags: fraud.
	if r.Kind == yaml.ScalarNode && r.Tag != "!!null" && scalarElem(et) {
		e := reflect.New(et).Elem()
		d.decode(r, e)
		v.Set(reflect.Append(v.Slice(0, 0), e))
		return
	}
	if r.Kind != yaml.SequenceNode {
		d.Errorf(r, "%s must be a list, got %s", d.Path(), KindName(r))
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(r.Content))
	d.Sequence(r, func(i int, item *yaml.Node) {
		e := reflect.New(et).Elem()
		d.decode(item, e)
		out = reflect.Append(out, e)
	})
	v.Set(out)
}

// scalarElem reports whether a list of t may be written as one scalar.
func scalarElem(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(v3UnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface:
		return false
	}
	return true
}

func (d *Decoder) decodeMap(n *yaml.Node, v reflect.Value) {
	if v.Type().Key().Kind() != reflect.String {
		panic("yamlx: maps need string keys")
	}
	m := reflect.MakeMap(v.Type())
	d.Mapping(n, "a mapping", func(key string, k, val *yaml.Node) {
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, e)
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), e)
	})
	v.Set(m)
}

// fieldOpts are a field's `yamlx` options.
type fieldOpts struct {
	required, pos, positive, custom bool
	hasMin                          bool
	min                             int64
	oneOf                           []string
}

type field struct {
	key   string
	index []int
	opts  fieldOpts
}

type structInfo struct {
	fields  []field
	byKey   map[string]int
	allowed string
	pos     [][]int
}

var infos sync.Map // reflect.Type → *structInfo

func infoOf(t reflect.Type) *structInfo {
	if si, ok := infos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byKey: map[string]int{}}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			idx := append(append([]int(nil), index...), i)
			tag := sf.Tag.Get("yaml")
			name, flags, _ := strings.Cut(tag, ",")
			o := parseOpts(sf.Tag.Get("yamlx"))
			if o.pos && sf.Type == posType {
				si.pos = append(si.pos, idx)
				continue
			}
			if strings.Contains(flags, "inline") && sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, idx)
				continue
			}
			if !sf.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(sf.Name)
			}
			si.byKey[name] = len(si.fields)
			si.fields = append(si.fields, field{key: name, index: idx, opts: o})
		}
	}
	walk(t, nil)
	keys := make([]string, len(si.fields))
	for i, f := range si.fields {
		keys[i] = f.key
	}
	si.allowed = strings.Join(keys, ", ")
	infos.Store(t, si)
	return si
}

func parseOpts(tag string) fieldOpts {
	var o fieldOpts
	for _, opt := range strings.Split(tag, ",") {
		switch k, val, _ := strings.Cut(opt, "="); k {
		case "required":
			o.required = true
		case "pos":
			o.pos = true
		case "positive":
			o.positive = true
		case "custom":
			o.custom = true
		case "min":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				panic("yamlx: bad min option " + opt)
			}
			o.hasMin, o.min = true, n
		case "oneof":
			o.oneOf = strings.Split(val, "|")
		}
	}
	return o
}

func (d *Decoder) decodeStruct(n *yaml.Node, v reflect.Value) {
	r, alias := d.enter(n)
	defer d.leave(r, alias)
	if r == nil {
		return
	}
	si := infoOf(v.Type())
	if df, ok := v.Addr().Interface().(Defaulter); ok {
		df.SetDefaults()
	}
	for _, idx := range si.pos {
		v.FieldByIndex(idx).Set(reflect.ValueOf(d.Pos(r)))
	}
	if r.Kind != yaml.MappingNode {
		d.Errorf(r, "%s must be a mapping, got %s", d.Path(), KindName(r))
		return
	}
	have := make([]bool, len(si.fields))
	d.Mapping(r, "a mapping", func(key string, k, val *yaml.Node) {
		i, ok := si.byKey[key]
		if !ok {
			d.path = d.path[:len(d.path)-1]
			d.Errorf(k, "unknown key %q in %s (allowed: %s)", key, d.Path(), si.allowed)
			d.path = append(d.path, key)
			return
		}
		have[i] = true
		f := si.fields[i]
		if f.opts.custom {
			r, alias := d.enter(val)
			if r != nil {
				v.Addr().Interface().(KeyDecoder).DecodeKeyYAMLX(d, key, r)
			}
			d.leave(r, alias)
			return
		}
		fv := v.FieldByIndex(f.index)
		if fv.Kind() == reflect.Struct || fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map || fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Interface || !fv.CanAddr() ||
			fv.Addr().Type().Implements(unmarshalerType) || fv.Addr().Type().Implements(v3UnmarshalerType) {
			d.decode(val, fv)
			return
		}
		sr, alias := d.enter(val)
		defer d.leave(sr, alias)
		if sr == nil {
			return
		}
		if sr.Kind != yaml.ScalarNode || sr.Tag == "!!null" {
			d.Errorf(sr, "%s must be %s, got %s", d.Path(), scalarWant(fv.Type()), KindName(sr))
			return
		}
		d.scalar(sr, fv, f.opts)
	})
	if d.stopped {
		return
	}
	for i, f := range si.fields {
		if f.opts.required && !have[i] {
			d.Errorf(r, "missing required key %q", f.key)
		}
	}
	if val, ok := v.Addr().Interface().(Validator); ok {
		val.ValidateYAMLX(d, r)
	}
}

// JSON appends n as JSON to b, keeping the order of mappings, under the
// alias limits. Scalars keep their YAML types: numbers, booleans and null
// become JSON numbers, booleans and null; everything else a string.
func (d *Decoder) JSON(b []byte, n *yaml.Node) ([]byte, error) {
	r, alias := d.enter(n)
	defer d.leave(r, alias)
	if r == nil {
		return nil, fmt.Errorf("not decoded")
	}
	switch r.Kind {
	case yaml.MappingNode:
		b = append(b, '{')
		content := d.pairs(r)
		if d.stopped {
			return nil, fmt.Errorf("not decoded")
		}
		for i := 0; i+1 < len(content); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			k := d.Resolve(content[i])
			if k == nil {
				return nil, fmt.Errorf("not decoded")
			}
			q, _ := json.Marshal(k.Value)
			b = append(append(b, q...), ':')
			var err error
			if b, err = d.JSON(b, content[i+1]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case yaml.SequenceNode:
		b = append(b, '[')
		for i, c := range r.Content {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = d.JSON(b, c); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case yaml.ScalarNode:
		switch r.Tag {
		case "!!null":
			return append(b, "null"...), nil
		case "!!bool":
			v, _ := strconv.ParseBool(r.Value)
			return strconv.AppendBool(b, v), nil
		case "!!int", "!!float":
			v, err := strconv.ParseFloat(strings.ReplaceAll(r.Value, "_", ""), 64)
			if err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
				return strconv.AppendFloat(b, v, 'f', -1, 64), nil
			}
			if i, err := strconv.ParseInt(r.Value, 0, 64); err == nil {
				return strconv.AppendInt(b, i, 10), nil
			}
		}
		q, _ := json.Marshal(r.Value)
		return append(b, q...), nil
	}
	return b, nil
}

// ParseDuration parses a duration such as 90s, 10m, 1h30m, 2d or 1w: Go
// durations plus d (days) and w (weeks), which rules use for windows and
// dedup spans.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty duration")
	}
	bad := fmt.Errorf("invalid duration %q (use forms like 30s, 10m, 1h30m, 2d, 1w)", s)
	var extra time.Duration
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		if i := strings.Index(t, u.suffix); i > 0 {
			n, err := strconv.Atoi(t[:i])
			if err != nil || n < 0 || n > math.MaxInt64/int(u.unit) {
				return 0, bad
			}
			extra += time.Duration(n) * u.unit
			t = t[i+1:]
		}
	}
	if t == "" {
		return extra, nil
	}
	if extra > 0 && (t[0] == '-' || t[0] == '+') {
		return 0, bad
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, bad
	}
	return extra + v, nil
}
