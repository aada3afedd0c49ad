package siem

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/jsonx"
	"github.com/cep-project/cep/internal/secret"
)

// The mask actions.
const (
	MaskPartial = "mask"   // keep the last Keep characters, star the rest
	MaskHash    = "hash"   // HMAC-SHA256 under hash_key: still joinable, not reversible
	MaskRedact  = "redact" // replace with "[REDACTED]"
)

// MaskRule masks one field before a sink sees the alert.
type MaskRule struct {
	// Field is a member name, or a dotted path of names ("user.email"),
	// matched case-insensitively against the end of every member's path:
	// in the alert's fields, in every evidence event, and in the key — a
	// key whose expression reads a matching field ("event.card",
	// "string(event.Card)", `event["card"]`) is masked whole. So "card"
	// matches a card member at any depth, and "user.email" an email member
	// of a user object.
	Field string `yaml:"field"`
	// Action is mask (default), hash or redact.
	Action string `yaml:"action"`
	// Keep is how many trailing characters mask keeps; default 4, so a card
	// number stays recognisable to an analyst ("************4242").
	Keep *int `yaml:"keep"`
}

func (r MaskRule) validate(path string, hasHashKey bool) []error {
	var errs []error
	if r.Field == "" {
		errs = append(errs, fmt.Errorf("%s.field: required", path))
	}
	switch r.Action {
	case "", MaskPartial, MaskRedact:
	case MaskHash:
		if !hasHashKey {
			errs = append(errs, fmt.Errorf("%s.action: hash needs hash_key, so that short values such as card numbers cannot be found by hashing every candidate", path))
		}
	default:
		errs = append(errs, fmt.Errorf("%s.action: %q is not mask, hash or redact", path, r.Action))
	}
	if r.Keep != nil && *r.Keep < 0 {
		errs = append(errs, fmt.Errorf("%s.keep: must not be negative", path))
	}
	return errs
}

// masker applies a sink's mask rules. The alert is shared with other sinks,
// so masking copies what it changes and never writes through.
type masker struct {
	rules []maskRule
	key   []byte
}

// maskRule is a rule with its path split into names.
type maskRule struct {
	MaskRule
	path []string
}

func newMasker(rules []MaskRule, hashKey secret.Secret) *masker {
	if len(rules) == 0 {
		return nil
	}
	m := &masker{key: []byte(hashKey)}
	for _, r := range rules {
		m.rules = append(m.rules, maskRule{MaskRule: r, path: strings.Split(r.Field, ".")})
	}
	return m
}

// match returns the rule whose path ends path, the member's path from the
// root of the fields, the event or the key, innermost name last.
func (m *masker) match(path []string) (MaskRule, bool) {
	for _, r := range m.rules {
		if len(r.path) > len(path) {
			continue
		}
		tail := path[len(path)-len(r.path):]
		ok := true
		for i, name := range r.path {
			if !strings.EqualFold(name, tail[i]) {
				ok = false
				break
			}
		}
		if ok {
			return r.MaskRule, true
		}
	}
	return MaskRule{}, false
}

// apply returns a with every configured field masked, or a itself when the
// sink masks nothing.
func (m *masker) apply(a *alert.Alert) (*alert.Alert, error) {
	if m == nil {
		return a, nil
	}
	c := *a
	if len(a.Key) > 0 {
		c.Key = make(alert.Key, len(a.Key))
		for i, p := range a.Key {
			p.Value = m.maskKey(p)
			c.Key[i] = p
		}
	}
	if a.Fields != nil {
		c.Fields = m.maskMap(a.Fields, nil)
	}
	if len(a.Events) > 0 {
		c.Events = make([]alert.Evidence, len(a.Events))
		for i, e := range a.Events {
			if e.Event != nil {
				ev, err := m.maskEvent(e.Event)
				if err != nil {
					return nil, fmt.Errorf("evidence %d: %w", i, err)
				}
				e.Event = ev
			}
			c.Events[i] = e
		}
	}
	return &c, nil
}

// maskKey masks a key part whose expression reads a masked field, and the
// masked members of a composite value otherwise.
func (m *masker) maskKey(p alert.KeyPart) any {
	for _, path := range exprPaths(p.Expr) {
		if r, ok := m.match(path); ok {
			return m.maskAny(r, p.Value)
		}
	}
	return m.walk(p.Value, nil)
}

// exprPaths returns the member paths an expression reads: runs of names
// joined by '.' or indexed with a quoted string, as in event.user.card,
// event["card"] or string(event.card). It reads more than CEL would
// (function names are paths too), which can only mask more.
func exprPaths(expr string) [][]string {
	var paths [][]string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			paths = append(paths, cur)
			cur = nil
		}
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(expr) && (expr[j] == '_' || expr[j] >= 'a' && expr[j] <= 'z' || expr[j] >= 'A' && expr[j] <= 'Z' || expr[j] >= '0' && expr[j] <= '9') {
				j++
			}
			if len(cur) > 0 && i > 0 && expr[i-1] != '.' {
				flush()
			}
			cur = append(cur, expr[i:j])
			i = j
		case c == '.':
			i++
		case c == '[' && i+1 < len(expr) && (expr[i+1] == '"' || expr[i+1] == '\''):
			q := expr[i+1]
			end := strings.IndexByte(expr[i+2:], q)
			if end < 0 {
				flush()
				return paths
			}
			cur = append(cur, expr[i+2:i+2+end])
			i += 2 + end + 1
			if i < len(expr) && expr[i] == ']' {
				i++
			}
		case c == '"' || c == '\'':
			// A string literal reads nothing.
			flush()
			end := strings.IndexByte(expr[i+1:], c)
			if end < 0 {
				return paths
			}
			i += end + 2
		default:
			flush()
			i++
		}
	}
	flush()
	return paths
}

func (m *masker) maskMap(in map[string]any, path []string) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		p := append(path[:len(path):len(path)], k)
		if r, ok := m.match(p); ok {
			out[k] = m.maskAny(r, v)
			continue
		}
		out[k] = m.walk(v, p)
	}
	return out
}

func (m *masker) walk(v any, path []string) any {
	switch x := v.(type) {
	case map[string]any:
		return m.maskMap(x, path)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = m.walk(e, path)
		}
		return out
	}
	return v
}

func (m *masker) maskAny(r MaskRule, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return m.maskText(r, x)
	case float64:
		return m.maskText(r, strconv.FormatFloat(x, 'f', -1, 64))
	case map[string]any, []any:
		// A whole object under a secret name goes: its members could be
		// anything.
		return m.maskText(r, fmt.Sprint(x))
	}
	return m.maskText(r, fmt.Sprint(v))
}

// maskEvent returns a copy of ev with masked fields and a Raw re-encoded
// from them, so that formats that copy the original line carry the mask.
// It reads the whole event (Full): an event decoded with a projection
// holds in Fields only what rules read, while its Raw, which formats
// copy, holds every field, also one no rule reads.
func (m *masker) maskEvent(ev *event.Event) (*event.Event, error) {
	fields, changed := m.maskFields(ev.Full(), nil)
	if !changed {
		return ev, nil
	}
	c := *ev
	c.Fields = fields
	raw, err := jsonx.AppendFields(nil, fields)
	if err != nil {
		return nil, err
	}
	c.Raw = raw
	return &c, nil
}

func (m *masker) maskFields(fs []event.Field, path []string) ([]event.Field, bool) {
	var out []event.Field
	for i, f := range fs {
		nv, changed := m.maskValue(append(path[:len(path):len(path)], f.Key), f.Value)
		if !changed {
			if out != nil {
				out[i] = f
			}
			continue
		}
		if out == nil {
			out = make([]event.Field, len(fs))
			copy(out, fs[:i])
		}
		out[i] = event.Field{Key: f.Key, Value: nv}
	}
	if out == nil {
		return fs, false
	}
	return out, true
}

func (m *masker) maskValue(path []string, v event.Value) (event.Value, bool) {
	if r, ok := m.match(path); ok && v.Kind() != event.Null {
		text := v.Text()
		if v.Kind() == event.Object || v.Kind() == event.Array {
			b, _ := jsonx.AppendValue(nil, v)
			text = string(b)
		}
		return event.StringValue(m.maskText(r, text)), true
	}
	return m.maskInside(path, v)
}

// maskInside masks the members of an object, and of the objects in an
// array, at path; the elements of an array share its path.
func (m *masker) maskInside(path []string, v event.Value) (event.Value, bool) {
	switch v.Kind() {
	case event.Object:
		fs, changed := m.maskFields(v.Fields(), path)
		if changed {
			return event.ObjectValue(fs), true
		}
	case event.Array:
		// Arrays are rebuilt only when an element changes.
		changed := false
		elems := make([]event.Value, v.Len())
		for i := range v.Len() {
			e, c := m.maskInside(path, v.Index(i))
			elems[i] = e
			changed = changed || c
		}
		if changed {
			return arrayValue(elems), true
		}
	}
	return v, false
}

// arrayValue builds an Array value by decoding its JSON: the event package
// has no array constructor, and masking arrays is rare enough that the
// round trip costs nothing that matters.
func arrayValue(elems []event.Value) event.Value {
	b := []byte{'['}
	for i, e := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		b, _ = jsonx.AppendValue(b, e)
	}
	b = append(b, ']')
	d := event.Decoder{}
	ev, err := d.Decode(append(append([]byte(`{"ts":0,"a":`), b...), '}'))
	if err != nil {
		return event.Value{}
	}
	v, _ := ev.Get("a")
	return v
}

func (m *masker) maskText(r MaskRule, s string) string {
	switch r.Action {
	case MaskRedact:
		return "[REDACTED]"
	case MaskHash:
		h := hmac.New(sha256.New, m.key)
		h.Write([]byte(s))
		return "hmac-sha256:" + hex.EncodeToString(h.Sum(nil)[:16])
	}
	keep := 4
	if r.Keep != nil {
		keep = *r.Keep
	}
	n := utf8.RuneCountInString(s)
	if keep >= n {
		// Too short to keep anything and still hide something.
		keep = 0
	}
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for _, c := range s {
		if i < n-keep {
			b.WriteByte('*')
		} else {
			b.WriteRune(c)
		}
		i++
	}
	return b.String()
}
