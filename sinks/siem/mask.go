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
	// Field is a member name, matched at any depth in the alert's fields,
	// in its key (the last segment of the key expression, so "card" matches
	// "event.card") and in every evidence event.
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
	rules map[string]MaskRule
	key   []byte
}

func newMasker(rules []MaskRule, hashKey secret.Secret) *masker {
	if len(rules) == 0 {
		return nil
	}
	m := &masker{rules: make(map[string]MaskRule, len(rules)), key: []byte(hashKey)}
	for _, r := range rules {
		m.rules[r.Field] = r
	}
	return m
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
			name := p.Expr[strings.LastIndexByte(p.Expr, '.')+1:]
			if r, ok := m.rules[name]; ok {
				p.Value = m.maskText(r, fmt.Sprint(p.Value))
			}
			c.Key[i] = p
		}
	}
	if a.Fields != nil {
		c.Fields = m.maskMap(a.Fields)
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

func (m *masker) maskMap(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		if r, ok := m.rules[k]; ok {
			out[k] = m.maskAny(r, v)
			continue
		}
		out[k] = m.walk(v)
	}
	return out
}

func (m *masker) walk(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return m.maskMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = m.walk(e)
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
func (m *masker) maskEvent(ev *event.Event) (*event.Event, error) {
	fields, changed := m.maskFields(ev.Fields)
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

func (m *masker) maskFields(fs []event.Field) ([]event.Field, bool) {
	var out []event.Field
	for i, f := range fs {
		nv, changed := m.maskValue(f.Key, f.Value)
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

func (m *masker) maskValue(name string, v event.Value) (event.Value, bool) {
	if r, ok := m.rules[name]; ok && v.Kind() != event.Null {
		text := v.Text()
		if v.Kind() == event.Object || v.Kind() == event.Array {
			b, _ := jsonx.AppendValue(nil, v)
			text = string(b)
		}
		return event.StringValue(m.maskText(r, text)), true
	}
	switch v.Kind() {
	case event.Object:
		fs, changed := m.maskFields(v.Fields())
		if changed {
			return event.ObjectValue(fs), true
		}
	case event.Array:
		// Arrays are rebuilt only when an element changes.
		changed := false
		elems := make([]event.Value, v.Len())
		for i := range v.Len() {
			e, c := m.maskValue("", v.Index(i))
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
